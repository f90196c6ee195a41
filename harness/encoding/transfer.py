"""Blocks of responses copied to the GPU one ahead, on a second CUDA stream, while the current block is fitted."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import replace

import torch

from harness.encoding.folded import FoldedBlock, FoldedResponses


def ahead_on_device(blocks: Iterable[FoldedBlock], device: str) -> Iterator[FoldedBlock]:
    """``blocks`` with their ``folded`` responses on ``device``; on CUDA the next block's copy (from pinned
    memory, on a side stream) overlaps with the work done on the current one. Elsewhere the blocks as they are."""
    if not device.startswith("cuda"):
        yield from blocks
        return
    target = torch.device(device)
    side = torch.cuda.Stream(target)
    main = torch.cuda.current_stream(target)
    pending: tuple[FoldedBlock, FoldedResponses, torch.cuda.Event] | None = None
    for block in blocks:
        if block.folded.val[0].device.type == "cuda":  # already resident on the GPU
            yield block
            continue
        with torch.cuda.stream(side):
            moved = block.folded.to(target, non_blocking=True)
            copied = torch.cuda.Event()
            copied.record(side)
        if pending is not None:
            yield _ready(*pending, main)
        pending = (block, moved, copied)
    if pending is not None:
        yield _ready(*pending, main)


def _ready(
    block: FoldedBlock, moved: FoldedResponses, copied: torch.cuda.Event, main: torch.cuda.Stream
) -> FoldedBlock:
    """``block`` with its device copy, once the copy is done (the main stream waits for it, the host does not)."""
    main.wait_event(copied)
    for tensor in [*moved.val, *moved.sq]:
        tensor.record_stream(main)  # allocated on the side stream, used on the main one
    return replace(block, folded=moved)
