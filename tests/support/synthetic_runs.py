"""Synthetic runs written as a sweep writes them: cells committed to the run store, tables exported."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from harness.plugin.contract import CellOutput, Channels, Score
from harness.store.database import CellRecord, RunStore
from harness.store.tables import export_tables

CHANNELS = {"simulated_meg": Channels.SENSORS, "megmasc": Channels.SENSORS}  # the rest record voxels

PEAK_X, TROUGH_X = 7.5, 9.0  # log10 tokens where the triple-phase curve turns


def brain_shape(shape: str, x: np.ndarray) -> np.ndarray:
    """Mean brain alignment (r) over log10 tokens for a named shape."""
    if shape == "triple":
        return np.where(x < PEAK_X, 0.02 + 0.04 * (x - 6),
                        np.where(x < TROUGH_X, 0.08 - 0.03 * (x - PEAK_X), 0.035 + 0.03 * (x - TROUGH_X)))
    if shape == "flat":
        return np.full_like(x, 0.05)
    if shape == "rising":
        return 0.06 + 0.05 * np.tanh(x - 8.0)
    raise ValueError(shape)


def _sigmoid(x: np.ndarray, centre: float, scale: float = 0.25) -> np.ndarray:
    return 1 / (1 + np.exp(-(x - centre) / scale))


@dataclass
class _Cell:
    """One cell of the synthetic sweep: what the store records and what it scored."""

    step: int
    tokens: int
    kind: str
    target: str
    plugin: str
    layer: int | None
    scores: list[Score] = field(default_factory=list)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)


def _commit(run_dir: Path, model: str, family: str, cells: list[_Cell]) -> None:
    """Commit ``cells`` to the run's store and regenerate its tables, as the sweep does."""
    with RunStore(run_dir, create=True) as store:
        store._db.execute("PRAGMA synchronous=OFF")  # a test fixture needs no durability, only the store's format
        for cell in cells:
            record = CellRecord(
                cell_id=f"{model}|{cell.step}|{cell.kind}|{cell.target}|{cell.layer}", settings_hash="s", model=model,
                family=family, step=cell.step, tokens=cell.tokens, revision=None, commit=None, kind=cell.kind,
                target=cell.target, plugin=cell.plugin, layer=cell.layer, seed=0, config_hash="cfg123",
                data_hash="data456", plugin_version="1.0", provenance={})
            store.commit_cell(record, CellOutput(cell.scores, cell.arrays), elapsed=0.0)
        export_tables(store)


def write_run(run_dir: Path, *, model: str = "tiny", family: str = "tinylm", target: str = "sim",
              shape: str = "triple", checkpoints: int = 24, layers: int = 4, subjects: int = 3,
              voxels: int = 400, seed: int = 0, arrays: bool = True, accuracy_rises_early: bool = False,
              brain: bool = True, nan_brain_steps: tuple[int, ...] = (), dataset: str = "simulated") -> Path:
    """Write a run with brain (unless ``brain`` is off), task and metric cells; return ``run_dir``.

    ``arrays``: brain cells keep per-voxel ``r/<subject>`` and ``alpha/<subject>`` arrays;
    ``nan_brain_steps``: brain scores at these steps are NaN (their arrays are kept); ``dataset``:
    the brain plugin the run's config names (its cells count what it records: voxels, or sensors for
    ``simulated_meg``).
    """
    rng = np.random.default_rng(seed)
    run_dir = Path(run_dir)
    count = CHANNELS.get(dataset, Channels.VOXELS).count_metric  # n_voxels, n_sensors: as the scorer names it
    steps = np.arange(checkpoints + 1)
    tokens = np.concatenate([[0], np.logspace(6, 11, checkpoints)]).astype(np.int64)
    x = np.log10(np.where(tokens > 0, tokens, tokens[1] / 2))
    truth = brain_shape(shape, x)
    gain = np.linspace(0.6, 1.0, layers) * np.where(np.arange(layers) == layers - 1, 0.85, 1.0)
    cells: list[_Cell] = []
    voxel_effect = {s: rng.normal(0, 0.05, voxels) for s in range(subjects)}
    for i, (step, tok) in enumerate(zip(steps, tokens)):
        for layer in range(layers):
            cell = _Cell(int(step), int(tok), "brain", target, "simulated", layer)
            per_subject = []
            for s in range(subjects):
                r = truth[i] * gain[layer] + 0.004 * (s - 1) + voxel_effect[s] + rng.normal(0, 0.01, voxels)
                if arrays:
                    cell.arrays[f"r/S{s + 1:02d}"] = r.astype(np.float32)
                    cell.arrays[f"alpha/S{s + 1:02d}"] = np.full(voxels, 10.0, np.float32)
                per_subject.append(float(np.mean(r.astype(np.float32))))
                cell.scores.append(Score("r_mean", per_subject[-1], scope=f"S{s + 1:02d}"))
                cell.scores.append(Score(count, float(voxels), scope=f"S{s + 1:02d}"))
            cell.scores.append(Score("r_mean", float(np.mean(per_subject)), scope="mean"))
            cell.scores.append(Score(count, float(voxels), scope="mean"))
            if step in nan_brain_steps:
                cell.scores = [Score(score.metric, float("nan"), scope=score.scope) for score in cell.scores]
            if brain:
                cells.append(cell)
    follows = 0.05 + 0.85 * _sigmoid(x, 6.6)  # half-way where the brain ramp (from checkpoint 0) is
    late = _sigmoid(x, 8.25 if accuracy_rises_early else 10.2, 0.3 if accuracy_rises_early else 0.4)
    task_values = {("instruction", "follows_format"): follows, ("instruction", "correct"): 0.05 + 0.5 * late,
                   ("cloze", "acc"): 0.25 + 0.5 * late, ("minimal_pairs", "acc"): 0.5 + 0.3 * late,
                   ("perplexity", "bits_per_byte"): 3.0 - 1.5 * _sigmoid(x, 8.0, 1.0)}
    tasks = {int(step): _Cell(int(step), int(tok), "task", "offline", "offline", None) for step, tok in zip(steps, tokens)}
    chance = {("instruction", "correct"): 0.0, ("cloze", "acc"): 0.25, ("minimal_pairs", "acc"): 0.5}
    for (scope, metric), values in task_values.items():
        for i, step in enumerate(steps):
            value = float(values[i] + rng.normal(0, 0.01))
            items = round(value * (1 - value) / 0.01**2) + 1 if metric != "bits_per_byte" else None  # 0/1 items: binomial stderr 0.01
            tasks[int(step)].scores.append(Score(metric, value, stderr=0.01, scope=scope, chance=chance.get((scope, metric)),
                                                 items=items))
    cells += tasks.values()
    for name, curve in (("intrinsic_dim", 10 + 5 * np.sin(x)), ("anisotropy", 0.2 + 0.1 * x)):
        for i, (step, tok) in enumerate(zip(steps, tokens)):
            for layer in range(layers):
                value = float(curve[i] + layer + rng.normal(0, 0.05))
                cells.append(_Cell(int(step), int(tok), "metric", name, name, layer, [Score(name, value)]))
    _commit(run_dir, model, family, cells)
    (run_dir / "config.yaml").write_text(
        f"models:\n  - family: {family}\n    label: {model}\nbrain:\n  - dataset: {dataset}\n    label: {target}\n"
        "tasks:\n  - task: offline\nmetrics:\n  - metric: intrinsic_dim\n  - metric: anisotropy\n", encoding="utf-8")
    return run_dir


def true_boundaries() -> tuple[float, float]:
    """Tokens at the peak and the trough of the triple-phase shape."""
    return 10 ** PEAK_X, 10 ** TROUGH_X
