"""Where the encoder keeps a dataset's responses: resident on the GPU, resident in host memory, or streamed in blocks.

``encoding.memory_gb: auto`` (the default) decides from the memory there is: on CUDA, on the GPU
when the responses fit beside the model and the decompositions, else in (pinned) host memory when
they fit in a share of the available RAM, else streamed in blocks; on the CPU, in host memory when
they fit in that share, else streamed. A number is a fixed budget: responses are resident when they
fit in it (on the GPU when it also has room), else streamed in blocks sized to it. The choice
never changes a score, only where the bytes wait.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

GIB = 1 << 30
HOST_SHARE = 0.5  # of the available RAM, responses may hold this much when resident
DEVICE_RESERVE = 0.25  # of the GPU's free memory, kept for decompositions and temporaries beyond the given reserve
STREAM_BUDGET = 2 * GIB  # bytes of responses in flight when streaming with memory_gb: auto


@dataclass(frozen=True)
class Residency:
    """What was chosen for one dataset's responses, and the budget that sizes its blocks."""

    where: str  # "device": kept on the GPU; "host": kept in host memory; "stream": read in blocks per pass
    budget: int  # bytes: blocks are sized so that a block in flight fits
    line: str  # one line saying what was chosen and why (logged once per sweep)

    @property
    def resident(self) -> bool:
        return self.where != "stream"


def choose_residency(responses: int, device: str, memory_gb: float | str, host_available: int,
                     device_free: int | None = None, reserve: int = 0) -> Residency:
    """Where ``responses`` bytes of prepared responses live for a sweep on ``device``.

    ``host_available`` and ``device_free`` are the free memory figures (bytes; ``device_free`` None
    off CUDA), ``reserve`` what the GPU must keep for the model and the decompositions.
    """
    cuda = device.startswith("cuda") and device_free is not None
    room = max(0, int((device_free or 0) * (1 - DEVICE_RESERVE)) - reserve)
    size = f"{responses / GIB:.2f} GiB of responses"
    if memory_gb != "auto":
        budget = int(float(memory_gb) * GIB)
        if responses > budget:
            return Residency("stream", budget, f"{size} streamed in blocks (memory_gb {float(memory_gb):g})")
        if cuda and responses <= room:
            return Residency("device", budget, f"{size} resident on the GPU (memory_gb {float(memory_gb):g})")
        return Residency("host", budget, f"{size} resident in host memory (memory_gb {float(memory_gb):g})")
    host_room = int(HOST_SHARE * host_available)
    if cuda and responses <= room:
        return Residency(
            "device",
            responses,
            f"{size} resident on the GPU ({room / GIB:.1f} GiB free beside model and decompositions)",
        )
    if responses <= host_room:
        pinned = " (pinned), copied to the GPU block by block beside compute" if cuda else ""
        return Residency(
            "host", responses, f"{size} resident in host memory{pinned} ({host_room / GIB:.1f} GiB allowed)"
        )
    budget = min(STREAM_BUDGET, max(host_room, 64 << 20))
    return Residency("stream", budget, f"{size} streamed in blocks of {budget / GIB:.2f} GiB "
                                       f"(more than {host_room / GIB:.1f} GiB of host memory allowed)")


def host_available() -> int:
    """Bytes of host memory available now (Linux's MemAvailable, else free pages)."""
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))


def device_free(device: str) -> int | None:
    """Free bytes on a CUDA ``device``; None elsewhere."""
    if not device.startswith("cuda"):
        return None
    import torch

    free, _total = torch.cuda.mem_get_info(torch.device(device))
    return int(free)
