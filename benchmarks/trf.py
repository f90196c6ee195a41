"""Cross-validated TRF: the harness's TRF path against looping MNE's ReceptiveField over the same alphas and folds.

A simulated recording (default: 200 channels, 10 minutes at 100 Hz in ten 1-minute stories,
20 word-feature dimensions, lags 0–0.6 s = 61 lags). Eight stories train, in 5 story-grouped
folds over 10 log-spaced alphas; two stories test. Both sides choose one alpha per channel by
the mean validation mean squared error over the folds, refit on every training story and score
Pearson r per channel on the test stories (skipping the rows whose lag window precedes a story,
as ReceptiveField does).

- harness: ``trf_design`` + ``RidgeCV`` (one decomposition per fold shared by every alpha and channel);
- MNE: ``ReceptiveField(estimator=alpha)`` (a float penalty: MNE's ``TimeDelayingRidge``, whose
  conventions the harness follows: the input centred by its training mean, zeros before each
  story's first sample) fitted for every alpha on every fold, then refitted at each chosen alpha.
  (With ``estimator=Ridge(alpha)`` MNE instead fills the samples before a story with the mean and
  re-centres every delayed copy of every story on its own, another model near each story's start.)

Both run in this process, one after the other, on the same data. Last line, exactly:
``trf: speedup=S max_r_diff=D`` (S = MNE seconds / harness seconds; D = max over channels of |r diff|).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.encoding import RidgeCV, pearson_r, story_folds, zscore_columns  # noqa: E402
from harness.encoding.trf import lag_samples, lagged, onset_series, trf_design, word_basis  # noqa: E402


def simulate(
    channels: int, minutes: float, sfreq: float, dims: int, stories: int, window: tuple[float, float], seed: int = 0
):
    """Word onsets, features, sample times and responses (through planted kernels plus noise) per story."""
    rng = np.random.default_rng(seed)
    lags = lag_samples(window, sfreq)
    t = lags / sfreq
    peaks = rng.uniform(0.1, 0.4, (dims, 1, channels))
    kernels = np.exp(-((t[None, :, None] - peaks) ** 2) / (2 * 0.05**2)) * rng.normal(0, 1, (dims, 1, channels))
    seconds = 60.0 * minutes / stories
    data = {}
    for i in range(stories):
        onsets = np.cumsum(rng.uniform(0.25, 0.5, int(seconds / 0.3)))
        onsets = onsets[onsets < seconds - 0.5]
        features = rng.normal(0, 1, (len(onsets), dims))
        times = np.arange(int(round(seconds * sfreq))) / sfreq
        signal = lagged(onset_series(onsets, features, times), lags).astype(np.float64) @ kernels.reshape(-1, channels)
        responses = signal + 2.0 * signal.std(0) * rng.normal(0, 1, signal.shape)
        data[f"story{i:02d}"] = (onsets, features, times, zscore_columns(responses))
    return data


def harness_side(data, train, test, window, alphas, n_folds):
    design = trf_design({s: v[1] for s, v in data.items()}, {s: v[0] for s, v in data.items()},
                        {s: v[2] for s, v in data.items()}, train, test, window)
    folds = story_folds([len(data[s][2]) for s in train], n_folds)
    fit = RidgeCV(design.x_train, folds, alphas, X_test=design.x_test).fit(np.concatenate([data[s][3] for s in train]))
    y_test = np.concatenate([data[s][3] for s in test])
    return pearson_r(y_test[design.test_rows], fit.predictions[design.test_rows]), fit.alphas


def mne_side(data, train, test, window, sfreq, alphas, n_folds):
    import mne
    from mne.decoding import ReceptiveField

    mne.set_log_level("ERROR")  # no progress bars

    mean, projection = word_basis([data[s][1] for s in train], None)
    series = {s: onset_series(v[0], (v[1] - mean) @ projection, v[2]) for s, v in data.items()}

    def fit(stories, alpha):
        rf = ReceptiveField(window[0], window[1], sfreq, estimator=float(alpha), fit_intercept=True, scoring="corrcoef")
        return rf.fit(np.stack([series[s] for s in stories], 1), np.stack([data[s][3] for s in stories], 1))

    fold_stories = [train[k::n_folds] for k in range(min(n_folds, len(train)))]
    channels = data[train[0]][3].shape[1]
    loss = np.zeros((len(alphas), channels))
    for held in fold_stories:
        rest = [s for s in train if s not in held]
        for a, alpha in enumerate(alphas):
            rf = fit(rest, alpha)
            for story in held:
                pred = rf.predict(series[story][:, None, :])[:, 0, :]
                loss[a] += (
                    ((data[story][3] - pred) ** 2).sum(0) / sum(len(data[s][3]) for s in held) / len(fold_stories)
                )
    chosen = np.argmin(loss, axis=0)
    r = np.zeros(channels)
    x_test, y_test = np.stack([series[s] for s in test], 1), np.stack([data[s][3] for s in test], 1)
    for a in np.unique(chosen):
        rf = fit(train, alphas[a])
        r[chosen == a] = rf.score(x_test, y_test)[chosen == a]
    return r, np.asarray(alphas)[chosen]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--channels", type=int, default=200)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--sfreq", type=float, default=100.0)
    parser.add_argument("--dims", type=int, default=20)
    parser.add_argument("--stories", type=int, default=10)
    parser.add_argument("--tmax", type=float, default=0.6)
    parser.add_argument("--alphas", type=int, default=10)
    parser.add_argument("--folds", type=int, default=5)
    args = parser.parse_args()
    window = (0.0, args.tmax)
    alphas = [float(a) for a in np.logspace(0, 5, args.alphas)]
    data = simulate(args.channels, args.minutes, args.sfreq, args.dims, args.stories, window)
    names = sorted(data)
    train, test = names[:-2], names[-2:]
    start = time.perf_counter()
    r_ours, alpha_ours = harness_side(data, train, test, window, alphas, args.folds)
    ours = time.perf_counter() - start
    start = time.perf_counter()
    r_mne, alpha_mne = mne_side(data, train, test, window, args.sfreq, alphas, args.folds)
    theirs = time.perf_counter() - start
    n_lags = len(lag_samples(window, args.sfreq))
    print(
        f"{args.channels} channels, {args.minutes:g} min at {args.sfreq:g} Hz in {args.stories} stories (train "
        f"{len(train)}, test {len(test)}), "
        f"{args.dims} dims x {n_lags} lags, {args.alphas} alphas, {args.folds} story-grouped folds"
    )
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    print(f"harness TRF          : {ours:8.2f} s")
    print(f"MNE ReceptiveField x {args.alphas * args.folds} fits + refits: {theirs:8.2f} s")
    print(
        f"same alpha: {100 * np.mean(np.isclose(alpha_ours, alpha_mne, rtol=1e-4)):.1f}% of channels; mean r "
        f"{r_ours.mean():.4f} (MNE {r_mne.mean():.4f})"
    )
    print(f"trf: speedup={theirs / ours:.2f} max_r_diff={np.abs(r_ours - r_mne).max():.2e}")


if __name__ == "__main__":
    main()
