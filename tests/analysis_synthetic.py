"""Synthetic run directories in the contract format (long CSV tables, npz voxel arrays, config)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

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


def write_run(run_dir: Path, *, model: str = "tiny", family: str = "tinylm", target: str = "sim",
              shape: str = "triple", checkpoints: int = 24, layers: int = 4, subjects: int = 3,
              voxels: int = 400, seed: int = 0, arrays: bool = True, accuracy_rises_early: bool = False) -> Path:
    """Write a run with brain, task and metric tables; return ``run_dir``."""
    rng = np.random.default_rng(seed)
    run_dir = Path(run_dir)
    (run_dir / "tables").mkdir(parents=True, exist_ok=True)
    steps = np.arange(checkpoints + 1)
    tokens = np.concatenate([[0], np.logspace(6, 11, checkpoints)]).astype(np.int64)
    x = np.log10(np.where(tokens > 0, tokens, tokens[1] / 2))
    truth = brain_shape(shape, x)
    gain = np.linspace(0.6, 1.0, layers) * np.where(np.arange(layers) == layers - 1, 0.85, 1.0)
    base = dict(model=model, family=family, revision="", commit="", seed=0, config_hash="cfg123",
                data_hash="data456", stderr=np.nan)
    brain_rows = []
    voxel_effect = {s: rng.normal(0, 0.05, voxels) for s in range(subjects)}
    for i, (step, tok) in enumerate(zip(steps, tokens)):
        for layer in range(layers):
            per_subject = []
            payload = {}
            for s in range(subjects):
                r = truth[i] * gain[layer] + 0.004 * (s - 1) + voxel_effect[s] + rng.normal(0, 0.01, voxels)
                payload[f"r/S{s + 1:02d}"] = r.astype(np.float32)
                payload[f"alpha/S{s + 1:02d}"] = np.full(voxels, 10.0, np.float32)
                per_subject.append(float(np.mean(r.astype(np.float32))))
                brain_rows.append({**base, "step": step, "tokens": tok, "kind": "brain", "target": target,
                                   "plugin": "simulated", "layer": layer, "scope": f"S{s + 1:02d}",
                                   "metric": "r_mean", "value": per_subject[-1], "plugin_version": "1.0"})
            brain_rows.append({**base, "step": step, "tokens": tok, "kind": "brain", "target": target,
                               "plugin": "simulated", "layer": layer, "scope": "mean", "metric": "r_mean",
                               "value": float(np.mean(per_subject)), "plugin_version": "1.0"})
            if arrays:
                (run_dir / "arrays").mkdir(exist_ok=True)
                np.savez(run_dir / "arrays" / f"{model}__{target}__{step}__{layer}.npz", **payload)
    follows = 0.05 + 0.85 * _sigmoid(x, 6.9)
    late = _sigmoid(x, 8.25 if accuracy_rises_early else 10.2, 0.3 if accuracy_rises_early else 0.4)
    task_values = {("instruction", "follows_format"): follows, ("instruction", "correct"): 0.05 + 0.5 * late,
                   ("cloze", "acc"): 0.25 + 0.5 * late, ("minimal_pairs", "acc"): 0.5 + 0.3 * late,
                   ("perplexity", "bits_per_byte"): 3.0 - 1.5 * _sigmoid(x, 8.0, 1.0)}
    task_rows = [{**base, "step": step, "tokens": tok, "kind": "task", "target": "offline", "plugin": "offline",
                  "layer": pd.NA, "scope": scope, "metric": metric, "value": float(v[i] + rng.normal(0, 0.01)),
                  "plugin_version": "1.0"}
                 for (scope, metric), v in task_values.items() for i, (step, tok) in enumerate(zip(steps, tokens))]
    metric_rows = [{**base, "step": step, "tokens": tok, "kind": "metric", "target": name, "plugin": name,
                    "layer": layer, "scope": "", "metric": name, "value": float(value + layer + rng.normal(0, 0.05)),
                    "plugin_version": "1.0"}
                   for name, curve in (("intrinsic_dim", 10 + 5 * np.sin(x)), ("anisotropy", 0.2 + 0.1 * x))
                   for i, (step, tok) in enumerate(zip(steps, tokens)) for layer in range(layers) for value in [curve[i]]]
    columns = ["model", "family", "step", "tokens", "revision", "commit", "kind", "target", "plugin", "layer",
               "scope", "metric", "value", "stderr", "seed", "config_hash", "data_hash", "plugin_version"]
    for name, rows in ((target, brain_rows), ("offline", task_rows), ("intrinsic_dim", [r for r in metric_rows if r["target"] == "intrinsic_dim"]),
                       ("anisotropy", [r for r in metric_rows if r["target"] == "anisotropy"])):
        pd.DataFrame(rows, columns=columns).to_csv(run_dir / "tables" / f"{model}__{name}.csv", index=False)
    (run_dir / "config.yaml").write_text(
        f"models:\n  - family: {family}\n    label: {model}\nbrain:\n  - dataset: simulated\n    label: {target}\n"
        "tasks:\n  - task: offline\nmetrics:\n  - metric: intrinsic_dim\n  - metric: anisotropy\n", encoding="utf-8")
    return run_dir


def true_boundaries() -> tuple[float, float]:
    """Tokens at the peak and the trough of the triple-phase shape."""
    return 10 ** PEAK_X, 10 ** TROUGH_X
