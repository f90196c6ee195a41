"""``harness validate --estimate``: the plan's projected wall time, device-hours, disk and peak memory.

Sizes come from the plan (checkpoints × layers × targets), the model families' sizes and the
brain datasets' subjects, inspected without reading response values; rates come from
``harness.plan.unitcosts``, measured here in a few seconds. What is assumed is said beside each figure.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.encoding.footprint import layer_widths
from harness.encoding.residency import choose_residency, device_free, host_available
from harness.encoding.responses import RESPONSE_COPIES, inspect_subject
from harness.encoding.voxels import select_voxels
from harness.plan.config import BrainEntry
from harness.plan.planner import Plan
from harness.plan.unitcosts import UnitCosts, measure_units
from harness.plugin.contract import BrainDataset, Kind, Modality, ModelSize, ResponseArray
from harness.util.devices import resolve_device

TOKENS_PER_WORD = 1.3  # assumed: subword tokens per word of the stimulus stories
ASSUMED_SIZE = ModelSize(124_000_000, 768)  # a family that does not say its size: GPT-2 small
FLOAT_BYTES = 4


@dataclass(frozen=True)
class SubjectSize:
    """One subject's scans and voxels, as the encoder will see them."""

    train_scans: int
    test_scans: int
    voxels: int  # voxels in the responses
    scored: int  # voxels encoding.voxels selects
    features_per_dim: int  # design columns per feature dimension (FIR delays, or TRF lags)
    group: str  # subjects with the same key share one decomposition


@dataclass(frozen=True)
class BrainSize:
    """One brain target: its stimulus words and its subjects."""

    label: str
    entry: BrainEntry
    words: int
    subjects: list[SubjectSize]

    @property
    def response_bytes(self) -> int:
        return sum(FLOAT_BYTES * (s.train_scans + s.test_scans) * s.voxels for s in self.subjects)


@dataclass
class Projection:
    """The projected costs, in seconds and bytes, with what each part is."""

    units: UnitCosts
    cells: int
    load_s: float = 0.0
    forward_s: float = 0.0
    encode_s: float = 0.0
    read_s: float = 0.0
    activation_bytes: float = 0.0
    array_bytes: float = 0.0
    weight_bytes: float = 0.0
    peak_bytes: float = 0.0
    assumed: list[str] = field(default_factory=list)

    @property
    def wall_s(self) -> float:
        return self.load_s + self.forward_s + self.encode_s + self.read_s


def brain_size(label: str, dataset: BrainDataset, entry: BrainEntry) -> BrainSize:
    """A brain target's sizes: each subject loaded (lazily where the dataset reads lazily) and inspected, one at a
    time."""
    stories = dataset.stories()
    train, test = (sorted(part) for part in dataset.split())
    subjects = []
    for subject in dataset.subjects():
        data = dataset.load_subject(subject)
        info = inspect_subject(f"subject {subject}", subject, data, train, test, stories)
        selection = select_voxels(entry.encoding.voxels, info, data.masks, f"subject {subject}")
        interval = float(info.times[train[0]][1] - info.times[train[0]][0])
        if Modality(dataset.modality).recording:
            low, high = entry.encoding.lags_s
            per_dim = int(round((high - low) / interval)) + 1
        else:
            per_dim = len(entry.encoding.delay_seconds(interval))
        subjects.append(SubjectSize(
            sum(len(info.times[s]) for s in train), sum(len(info.times[s]) for s in test), info.n_total,
            selection.index.size if selection is not None else info.n_total, per_dim, info.design_key(train + test)))
        del data
    return BrainSize(label, entry, sum(len(stories[s].words) for s in train + test), subjects)


def encode_flops(size: BrainSize, hidden: int) -> tuple[float, float]:
    """(product flops, eigendecomposition flops) of scoring one layer of ``hidden`` dims against every subject of
    ``size``.

    Per group of subjects sharing a design: the full XᵀX and the folds' held-out grams (each fold's
    training gram is their difference), and the eigendecomposition of each fold and of the full
    training set; per subject: XᵀY once (the folds' held-out products, whose sum it is; each fold's
    training product is the difference, ``RidgeCV.fit_folded``), its rotation into each eigenbasis
    and the test predictions. With ``encoding.nuisance``, all of it again for each band ratio's
    decomposition (``harness.encoding.footprint.layer_widths``).
    """
    settings = size.entry.encoding
    folds = settings.folds + 1
    product = eigh = 0.0
    seen: set[str] = set()
    for s in size.subjects:
        n = s.train_scans
        for p in layer_widths(settings, (settings.pca or hidden) * s.features_per_dim, s.features_per_dim):
            if s.group not in seen:
                product += 2 * 2.0 * n * p * min(n, p)
                eigh += folds * 9.0 * min(n, p) ** 3
            product += 2.0 * n * p * s.scored + folds * 2.0 * p * p * s.scored + 2.0 * s.test_scans * p * s.scored
        seen.add(s.group)
    return product, eigh


def project(plan: Plan, done: dict[str, str], units: UnitCosts | None = None) -> Projection:
    """The cost of the plan's pending cells (measuring the unit costs unless given)."""
    brains = [brain_size(t.label, t.plugin, t.entry) for t in plan.targets
              if isinstance(t.plugin, BrainDataset) and isinstance(t.entry, BrainEntry)]
    device = resolve_device(plan.config.device)
    if units is None:
        units = measure_units(device, *_something_to_read(plan))
    pending = plan.pending(done)
    out = Projection(units, len(pending))
    out.assumed.append(f"{TOKENS_PER_WORD:g} tokens per word")
    read_rate = units.read_bytes or float("inf")
    words = sum(b.words for b in brains)
    by_label = {b.label: b for b in brains}
    free_host, free_device = host_available(), device_free(device)
    residency = {b.label: choose_residency(b.response_bytes, device, b.entry.encoding.memory_gb, free_host, free_device)
                 for b in brains}
    resident = {label for label, where in residency.items() if where.resident}
    scored: set[str] = set()  # brain targets with a pending cell
    for model in plan.models:
        cells = [c for c in pending if c.model == model.label]
        if not cells:
            continue
        size = model.family.size()
        if size is None:
            size = ASSUMED_SIZE
            out.assumed.append(
                f"{model.label}: the size of GPT-2 small ({ASSUMED_SIZE.parameters / 1e6:.0f}M parameters, "
                f"{ASSUMED_SIZE.hidden} dims): its family does not say"
            )
        checkpoints = len({c.checkpoint.step for c in cells})
        weights = FLOAT_BYTES * size.parameters
        context, stride = plan.config.features.context_tokens, plan.config.features.stride
        tokens = words * TOKENS_PER_WORD * context / stride  # every token sits in context / stride windows
        out.load_s += checkpoints * weights / read_rate
        out.forward_s += checkpoints * 2.0 * size.parameters * tokens / units.product_flops
        out.weight_bytes += checkpoints * weights
        layers = len(model.layers)
        dtype_bytes = 4 if plan.config.features.dtype == "float32" else 2
        out.activation_bytes += checkpoints * words * size.hidden * layers * dtype_bytes
        passes: set[tuple[int, str]] = set()  # a checkpoint's layers of one dataset share one pass over its responses
        for cell in cells:
            brain = by_label.get(cell.target) if cell.kind == Kind.BRAIN else None
            if brain is None:
                continue
            product, eigh = encode_flops(brain, size.hidden)
            out.encode_s += product / units.product_flops + eigh / units.eigh_flops
            if brain.label not in resident and (cell.checkpoint.step, brain.label) not in passes:
                out.read_s += brain.response_bytes / read_rate
            passes.add((cell.checkpoint.step, brain.label))
            scored.add(brain.label)
            out.array_bytes += sum(2 * FLOAT_BYTES * s.voxels for s in brain.subjects)
        for brain in brains:
            where = residency[brain.label]
            held = brain.response_bytes if where.resident else where.budget * RESPONSE_COPIES
            per_dim = max((s.features_per_dim for s in brain.subjects), default=1)
            rows = max((s.train_scans for s in brain.subjects), default=0)
            folds = brain.entry.encoding.folds
            # the layer's decomposition, and with encoding.nuisance one more per band ratio
            encoder = held + sum(2 * FLOAT_BYTES * rows * p + FLOAT_BYTES * (folds + 1) * p * p
                                 for p in layer_widths(brain.entry.encoding, size.hidden * per_dim, per_dim))
            out.peak_bytes = max(
                out.peak_bytes, weights + FLOAT_BYTES * words * size.hidden * layers, weights + encoder
            )
    out.read_s += sum(b.response_bytes for b in brains if b.label in resident & scored) / read_rate  # read once, kept
    if any(t.kind != Kind.BRAIN for t in plan.targets):
        out.assumed.append("tasks and metrics cost nothing (not estimated)")
    return out


def _something_to_read(plan: Plan) -> tuple[ResponseArray, str] | tuple[()]:
    """The first brain target's first subject's first training story, to time its reader; () without a brain target."""
    for target in plan.targets:
        if isinstance(target.plugin, BrainDataset):
            dataset = target.plugin
            subject = dataset.subjects()[0]
            story = sorted(dataset.split()[0])[0]
            return dataset.load_subject(subject).responses[story], f"{target.label}, subject {subject}, story {story}"
    return ()


def figures(projection: Projection) -> list[tuple[str, str, str]]:
    """(figure, value, how it was obtained) rows for the table ``--estimate`` prints."""
    units = projection.units
    hours = projection.wall_s / 3600
    gpu = units.device.startswith("cuda")
    device_hours = ("GPU-hours", f"{hours:.2f}", "one GPU, the local executor") if gpu else (
        "CPU-hours", f"{hours * units.threads:.2f}", f"wall time × {units.threads} threads")
    disk = projection.activation_bytes + projection.array_bytes + projection.weight_bytes
    return [
        ("wall time", _duration(projection.wall_s), "the four rows below"),
        ("  model loads", _duration(projection.load_s), "weights (float32) at the read rate"),
        ("  forward passes", _duration(projection.forward_s), "2 × parameters × tokens at the XᵀY rate"),
        ("  encoding", _duration(projection.encode_s), "flops of the plan at the measured rates"),
        ("  reading responses", _duration(projection.read_s), "responses at the read rate"),
        device_hours,
        ("disk", _bytes(disk), f"activations {_bytes(projection.activation_bytes)}, weights "
                               f"{_bytes(projection.weight_bytes)}, arrays {_bytes(projection.array_bytes)}"),
        ("peak memory", _bytes(projection.peak_bytes), "model + activations, or model + encoder"),
    ]


def measured(units: UnitCosts) -> str:
    """The measured rates, in one sentence."""
    read = (
        f"responses read {_bytes(units.read_bytes)}/s ({units.read_from})"
        if units.read_bytes
        else "no responses to read"
    )
    return (f"measured here ({units.device}, {units.threads} threads): XᵀY {units.product_flops / 1e9:.1f} GFLOP/s, "
            f"eigh {units.eigh_flops / 1e9:.1f} GFLOP/s, {read}")


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _bytes(count: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if count < 1024 or unit == "TiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} TiB"  # unreachable: the loop returns at TiB
