"""Benchmark: harness grouped-CV ridge against himalaya's RidgeCV (torch backend), same data.

    python benchmarks/ridge.py            # X 3000×1024, Y 3000×20000, 10 alphas, 5 folds
    python benchmarks/ridge.py --quick    # X 1200×256, Y 1200×4000 (under a minute)

Each solver runs in its own subprocess so that peak memory (max RSS above the process's
baseline once X and Y are loaded) is measured separately. Prints times, the speed ratio,
the agreement of chosen alphas and of test-set r, and peak extra memory relative to size(Y).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np


def make_data(n: int, p: int, v: int, n_test: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Correlated features, voxels with varied signal-to-noise, story-sized folds."""
    rng = np.random.default_rng(seed)
    mix = rng.standard_normal((p, p)).astype(np.float32) / np.sqrt(p)
    latent = rng.standard_normal((n + n_test, p)).astype(np.float32)
    X = latent + 0.5 * latent @ mix
    X = (X - X.mean(0)) / X.std(0)
    weights = rng.standard_normal((p, v)).astype(np.float32) / np.sqrt(p)
    snr = rng.uniform(0.0, 1.0, v).astype(np.float32)
    Y = X @ weights * snr + rng.standard_normal((n + n_test, v)).astype(np.float32)
    Y = (Y - Y.mean(0)) / Y.std(0)
    return {"X": X[:n], "Y": Y[:n], "Xt": X[n:], "Yt": Y[n:]}


def folds_for(n: int, n_folds: int) -> list[np.ndarray]:
    from harness.encoding.ridge import story_folds

    stories = 2 * n_folds
    return story_folds([n // stories] * (stories - 1) + [n - (n // stories) * (stories - 1)], n_folds)


class _PeakRSS:
    """Samples this process's resident memory every few ms; ``stop`` gives the peak above the start."""

    def __init__(self, interval: float = 0.005) -> None:
        self.page = os.sysconf("SC_PAGE_SIZE")
        self.base = self.peak = self._rss()
        self.running = True
        self.thread = threading.Thread(target=self._loop, args=(interval,), daemon=True)
        self.thread.start()

    def _rss(self) -> int:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * self.page

    def _loop(self, interval: float) -> None:
        while self.running:
            self.peak = max(self.peak, self._rss())
            time.sleep(interval)

    def stop(self) -> int:
        self.running = False
        self.thread.join()
        return max(self.peak, self._rss()) - self.base


def run_one(solver: str, data_path: str, out_path: str, alphas: list[float], n_folds: int) -> None:
    """Fit one solver in this process; write time, peak extra memory, alphas and test predictions."""
    data = dict(np.load(data_path))
    X, Y, Xt = data["X"], data["Y"], data["Xt"]
    folds = folds_for(len(X), n_folds)
    sampler = _PeakRSS()
    start = time.perf_counter()
    if solver == "harness":
        from harness.encoding.ridge import RidgeCV

        result = RidgeCV(X, folds, alphas, X_test=Xt).fit(Y, return_weights=True)
        chosen, pred = result.alphas, result.predictions
    else:
        from himalaya.backend import set_backend
        from himalaya.ridge import RidgeCV as HimalayaRidgeCV

        backend = set_backend("torch")
        cv = [(np.setdiff1d(np.arange(len(X)), f), f) for f in folds]
        model = HimalayaRidgeCV(alphas=np.asarray(alphas), cv=cv, solver_params={"warn": False}).fit(X, Y)
        chosen = backend.to_numpy(model.best_alphas_)
        pred = Xt @ backend.to_numpy(model.coef_)
    seconds = time.perf_counter() - start
    peak = sampler.stop()
    np.savez(out_path, alphas=np.asarray(chosen), pred=np.asarray(pred))
    Path(out_path + ".json").write_text(json.dumps({"seconds": seconds, "peak_bytes": peak}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, under a minute")
    parser.add_argument("--n", type=int)
    parser.add_argument("--p", type=int)
    parser.add_argument("--v", type=int)
    parser.add_argument("--alphas", type=int, default=10)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--repeats", type=int, help="runs per solver, alternating (default 2 quick, 1 full)")
    parser.add_argument("--_child", nargs=3, metavar=("SOLVER", "DATA", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    alphas = [float(a) for a in np.logspace(0, 4, args.alphas)]
    if args._child:
        run_one(*args._child, alphas=alphas, n_folds=args.folds)
        return
    n, p, v = (1200, 256, 4000) if args.quick else (3000, 1024, 20000)
    args.repeats = args.repeats or (2 if args.quick else 1)
    n, p, v = args.n or n, args.p or p, args.v or v
    from harness.encoding.stats import pearson_r

    with tempfile.TemporaryDirectory() as tmp:
        data = make_data(n, p, v, n_test=n // 5)
        data_path = str(Path(tmp) / "data.npz")
        np.savez(data_path, **data)
        y_bytes = data["Y"].nbytes
        results: dict[str, dict] = {}
        for _ in range(args.repeats):  # alternate, keep each solver's fastest run
            for solver in ("harness", "himalaya"):
                out = str(Path(tmp) / f"{solver}.npz")
                extra = ["--alphas", str(args.alphas), "--folds", str(args.folds)]
                subprocess.run([sys.executable, __file__, *extra, "--_child", solver, data_path, out], check=True)
                run = {**json.loads(Path(out + ".json").read_text()), **dict(np.load(out))}
                if solver not in results or run["seconds"] < results[solver]["seconds"]:
                    results[solver] = run
        ours, ref = results["harness"], results["himalaya"]
        r_ours, r_ref = pearson_r(data["Yt"], ours["pred"]), pearson_r(data["Yt"], ref["pred"])
        same_alpha = float(np.mean(np.isclose(ours["alphas"], ref["alphas"], rtol=1e-3)))
        print(f"X {n}x{p}, Y {n}x{v}, {args.alphas} alphas, {args.folds} story-grouped folds, best of {args.repeats}")
        print(
            f"machine: {os.cpu_count()} CPUs, torch threads {__import__('torch').get_num_threads()}, load average "
            f"{os.getloadavg()[0]:.1f}"
        )
        print(
            f"harness ridge : {ours['seconds']:7.2f} s, peak extra memory {ours['peak_bytes'] / y_bytes:.2f} x size(Y)"
        )
        print(f"himalaya torch: {ref['seconds']:7.2f} s, peak extra memory {ref['peak_bytes'] / y_bytes:.2f} x size(Y)")
        print(f"speed-up      : {ref['seconds'] / ours['seconds']:.2f}x")
        print(f"same alpha    : {100 * same_alpha:.2f}% of voxels; max |r diff| {np.abs(r_ours - r_ref).max():.2e}")


if __name__ == "__main__":
    main()
