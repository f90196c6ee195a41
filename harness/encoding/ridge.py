"""Ridge regression with one penalty per voxel chosen by grouped cross-validation.

Each fold's training features are diagonalised once (eigendecomposition of XᵀX in the primal
form, of XXᵀ in the dual form, whichever is smaller); every penalty and every voxel batch reuses
that decomposition. The validation loss of all penalties is then computed one of two ways,
whichever is cheaper for the shapes:

- *spectral*: a partial-fraction identity gives every penalty's squared error from one
  rank × rank product per voxel batch (float64), without forming predictions;
- *explicit*: predictions for all penalties from one stacked product, reduced in place.

Memory stays at a few voxel batches beyond the inputs. The selection rule is himalaya's
``RidgeCV``: for each voxel, the penalty with the highest mean over folds of −(mean squared
validation error); ties go to the smaller penalty. The refit uses all training rows.

``fit`` computes the spectral loss in float64 throughout. ``fit_folded`` computes it in float32
(half the arithmetic and a third of the memory traffic) and then recomputes in float64 every voxel
whose best and second-best penalties' losses lie within ``TIE_TOL`` of each other, so that it
chooses the penalty float64 would choose: float32's error on the loss stayed below 6e-6 of it on
smooth, anisotropic, lagged features (tests/encoding/test_scale.py) and below 4e-7 on the
benchmark's, well inside ``TIE_TOL``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch

from harness.encoding.folded import FoldedResponses
from harness.encoding.products import matmul
from harness.util.errors import DataError
from harness.util.threads import torch_threads

_BYTES = 4  # float32
# voxels whose two best penalties' mean validation losses differ by less than this share of the best are scored
# again in float64 by ``fit_folded`` (its float32 spectral loss was within 6e-6 of float64's where measured)
TIE_TOL = 1e-4


@dataclass
class RidgeCVResult:
    """Per-voxel penalty, cross-validated score and (optionally) test predictions and weights."""

    alphas: np.ndarray  # (voxels,) chosen penalty
    cv_scores: np.ndarray  # (voxels,) mean over folds of −MSE on validation rows, chosen penalty
    predictions: np.ndarray | None = None  # (test scans, voxels)
    weights: np.ndarray | None = None  # (features, voxels)


@dataclass
class _Decomposition:
    """Training rows diagonalised: predictions(α) = left · diag(1 / (eig + α)) · right(Y)."""

    eig: torch.Tensor  # (rank,)
    basis: torch.Tensor  # primal: V (features × rank); dual: U (train rows × rank)
    left: torch.Tensor | None  # validation or test rows in the eigenbasis (rows × rank)
    train: torch.Tensor | None  # indices of the training rows (dual form and folds)
    val: torch.Tensor | None  # indices of the validation rows (folds only)
    spectral: _Spectral | None = None  # the spectral loss's parts, computed on the first fit


@dataclass
class _Spectral:
    """What the spectral loss needs of one fold, beyond its (rotated) left and basis: computed once, reused by every
    fit."""

    eig: torch.Tensor  # (rank,) float64, nearly equal eigenvalues merged
    g_diag: torch.Tensor  # (rank,) float64, diag(leftᵀ·left)
    H: torch.Tensor  # (rank × rank) float64, (leftᵀ·left)_jk / (s_k − s_j), 0 within a merged group
    single: _SingleSpectral | None = None  # float32 parts for ``fit_folded``, made on first use

    def in_float32(self, alphas: torch.Tensor) -> _SingleSpectral:
        """The float32 parts of the spectral loss at ``alphas`` (kept: a fold is always fitted at the same
        penalties)."""
        if self.single is None:
            d = 1.0 / (self.eig[None, :] + alphas.double()[:, None])
            self.single = _SingleSpectral(self.H.float(), d.float(), (d * d * self.g_diag[None, :]).float())
        return self.single


@dataclass
class _SingleSpectral:
    """A fold's spectral parts in float32: H, and per penalty d = 1 / (eig + α) and d²·diag(G)."""

    H: torch.Tensor  # (rank × rank)
    d: torch.Tensor  # (alphas × rank)
    d2g: torch.Tensor  # (alphas × rank)


def _eigh(gram: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Eigendecomposition in float64 for accuracy, returned in the input dtype; eig ≥ 0.

    On CPU it runs on one thread: LAPACK's many short parallel regions slow down by orders of
    magnitude when the cores are shared with other processes, and one thread is nearly as fast.
    """
    with torch_threads(1 if gram.device.type == "cpu" else None):
        eig, vec = torch.linalg.eigh(gram.double())
    return eig.clamp_min(0).to(gram.dtype), vec.to(gram.dtype)


SPECTRAL_TOL = 1e-7  # eigenvalues closer than this (relative to s + smallest alpha) are merged


def _spectral_parts(fold: _Decomposition, alpha_min: float, keep_left: bool = True) -> _Spectral:
    """The fold's spectral parts; its left and basis are rotated within merged groups (still an eigenbasis).

    Computed once per fold and kept on it, so every later fit (other subjects, other voxel
    blocks) on the same decomposition reuses them. Without ``keep_left`` the fold's validation
    rows in the eigenbasis are let go (the primal form gets AᵀY as basisᵀ·XᵀY instead).
    """
    if fold.spectral is not None:
        return fold.spectral
    assert fold.left is not None
    eig = fold.eig.double().clone()
    left = fold.left.double()
    gram = left.T @ left
    split = (eig[1:] - eig[:-1]) > SPECTRAL_TOL * (eig[1:].abs() + alpha_min)
    labels = torch.cat([torch.zeros(1, dtype=torch.long, device=eig.device), torch.cumsum(split.long(), 0)])
    counts = torch.bincount(labels)
    merged = torch.nonzero(counts > 1).flatten().tolist()
    if merged:
        basis = fold.basis.double()
        for group in merged:
            index = torch.nonzero(labels == group).flatten()
            _, rotation = torch.linalg.eigh(gram[index][:, index])
            left[:, index] = left[:, index] @ rotation
            basis[:, index] = basis[:, index] @ rotation
            eig[index] = eig[index].mean()
        gram = left.T @ left
        fold.left, fold.basis = left.to(fold.left.dtype), basis.to(fold.basis.dtype)
        del basis
    del left
    same = labels[:, None] == labels[None, :]
    g_diag = gram.diagonal().clone()
    gaps = (eig[None, :] - eig[:, None]).masked_fill_(same, 1.0)  # [j, k] = s_k - s_j
    H = gram.div_(gaps).masked_fill_(same, 0.0)
    del gaps, same
    if not keep_left:
        fold.left = None
    fold.spectral = _Spectral(eig, g_diag, H)
    return fold.spectral


def _spectral_mse(
    parts: _Spectral, d: torch.Tensor, B: torch.Tensor, Z: torch.Tensor, sq: torch.Tensor, n_val: int
) -> torch.Tensor:
    """(alphas × voxels) validation MSE from the spectral parts (``RidgeCV._spectral_scores`` gives the identity).

    ``d`` is 1 / (eig + α) per penalty (float64), ``B`` = basisᵀ·right and ``Z`` = AᵀY (float64, both
    consumed), ``sq`` the validation rows' Σy² per voxel.
    """
    M1 = (parts.H @ B).sub_(Z).mul_(B).mul_(2.0)
    M2 = B.square_().mul_(parts.g_diag[:, None])
    sse = sq[None, :] + d @ M1 + (d * d) @ M2
    return (sse / n_val).float()


def _spectral_mse32(parts: _SingleSpectral, B: torch.Tensor, Z: torch.Tensor, sq: torch.Tensor, n_val: int
                    ) -> torch.Tensor:
    """``_spectral_mse`` in float32 (``B`` and ``Z`` float32, consumed; ``sq`` float64): the same identity,
    its terms summed in float32 and added to Σy² in float64. TF32 stays off: the loss needs float32's precision."""
    with matmul_precision("float32", B.device):
        cross = matmul(parts.d, matmul(parts.H, B).sub_(Z).mul_(B))
        quad = matmul(parts.d2g, B.square_())
    return ((sq[None, :] + cross.mul_(2.0).add_(quad).double()) / n_val).float()


def _near_ties(mean_scores: torch.Tensor) -> torch.Tensor:
    """Indices of the voxels whose best and second-best penalties' scores (alphas × voxels) are within ``TIE_TOL``
    of the best."""
    if mean_scores.shape[0] < 2:
        return torch.zeros(0, dtype=torch.long, device=mean_scores.device)
    top = mean_scores.topk(2, dim=0).values
    return torch.nonzero((top[0] - top[1]) <= TIE_TOL * top[0].abs()).flatten()


def _explicit_mse(op: torch.Tensor, fold: _Decomposition, right: torch.Tensor, y_val: torch.Tensor, n_alphas: int,
                  rotate: bool) -> torch.Tensor:
    """(alphas × voxels) validation MSE from explicit predictions ``op``·right (``RidgeCV._operator``)."""
    if not rotate:
        right = fold.basis.T @ right
    pred = (op @ right).view(n_alphas, y_val.shape[0], -1)
    pred.sub_(y_val[None])
    pred.square_()
    return pred.sum(1).mul_(1.0 / y_val.shape[0])


@contextmanager
def matmul_precision(precision: str, device: torch.device) -> Iterator[None]:
    """Products within in float32 (``precision`` 'float32'), or as TF32 tensor-core products on CUDA ('tf32'); on the
    CPU TF32 does not exist: float32."""
    if device.type != "cuda":
        yield
        return
    before = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = precision == "tf32"
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32 = before


def choose_form(n_samples: int, n_features: int) -> str:
    """'primal' when features ≤ samples (decompose XᵀX), else 'dual' (decompose XXᵀ)."""
    return "primal" if n_features <= n_samples else "dual"


class RidgeCV:
    """Grouped-CV ridge on fixed features; ``fit`` can be called for many response matrices.

    ``folds`` lists the validation row indices of each fold (the rest of the rows train).
    """

    def __init__(
        self,
        X: np.ndarray,
        folds: Sequence[np.ndarray],
        alphas: Sequence[float],
        *,
        X_test: np.ndarray | None = None,
        device: str = "cpu",
        form: str = "auto",
        method: str = "auto",
        memory_budget: int | None = None,
        precision: str = "float32",
        shared_grams: bool = False,
    ) -> None:
        self.device = torch.device(device)
        if precision not in ("float32", "tf32"):
            raise ValueError(f"precision must be 'float32' or 'tf32', not {precision!r}")
        self.precision = precision
        self.X = torch.as_tensor(np.ascontiguousarray(X, dtype=np.float32), device=self.device)
        n, p = self.X.shape
        if len(folds) < 2:
            raise DataError(f"ridge: cross-validation needs at least 2 folds, got {len(folds)}")
        self.alphas = torch.as_tensor(np.asarray(alphas, dtype=np.float32), device=self.device)
        if self.alphas.ndim != 1 or len(self.alphas) == 0 or bool((self.alphas <= 0).any()):
            raise DataError("ridge: alphas must be a non-empty list of positive numbers")
        self.form = choose_form(min(n - len(f) for f in folds), p) if form == "auto" else form
        if self.form not in ("primal", "dual"):
            raise ValueError(f"form must be 'auto', 'primal' or 'dual', not {form!r}")
        if method not in ("auto", "spectral", "explicit"):
            raise ValueError(f"method must be 'auto', 'spectral' or 'explicit', not {method!r}")
        self.method = method
        self.memory_budget = memory_budget
        self._val_rows = [np.asarray(f, dtype=np.int64) for f in folds]
        # each fold's validation rows of X
        self._x_val = [self.X[torch.as_tensor(f, device=self.device)] for f in self._val_rows]
        # decompositions are float32 always: TF32 grams are too coarse
        grams = self._shared_grams() if shared_grams else None
        if grams is None:
            self.folds = [self._decompose(f) for f in self._val_rows]
            self.full = self._decompose(None)
        else:
            full, own = grams
            self.folds = [self._decompose(f, full - mine) for f, mine in zip(self._val_rows, own)]
            self.full = self._decompose(None, full)
            del full, own, grams
        self.test_left: torch.Tensor | None = None
        if X_test is not None:
            Xt = torch.as_tensor(np.ascontiguousarray(X_test, dtype=np.float32), device=self.device)
            self.test_left = Xt @ self.full.basis if self.form == "primal" else (Xt @ self.X.T) @ self.full.basis

    # ------------------------------------------------------------------ decomposition

    def _shared_grams(self) -> tuple[torch.Tensor, list[torch.Tensor]] | None:
        """(XᵀX, each fold's XᵥᵀXᵥ) when the primal form's folds partition the rows: a fold's training gram is then
        XᵀX minus its own, and XᵀX the sum of the folds' (the rows multiplied once, not once per fold); else None."""
        rows = np.concatenate(self._val_rows)
        if self.form != "primal" or rows.size != self.X.shape[0] or np.unique(rows).size != rows.size:
            return None
        own = [matmul(x_val.T, x_val) for x_val in self._x_val]
        full = own[0].clone()
        for gram in own[1:]:
            full += gram
        return full, own

    def _decompose(self, val: np.ndarray | None, gram: torch.Tensor | None = None) -> _Decomposition:
        """The training rows' eigendecomposition (of ``gram`` when given: the primal XₜᵀXₜ computed elsewhere)."""
        n = self.X.shape[0]
        if val is None:
            train_idx, val_idx, Xtr, Xva = None, None, self.X, None
        else:
            if val.size == 0 or val.size >= n:
                raise DataError("ridge: every fold needs validation rows and training rows")
            mask = np.ones(n, dtype=bool)
            mask[val] = False
            train_idx = torch.as_tensor(np.nonzero(mask)[0], device=self.device)
            val_idx = torch.as_tensor(val, device=self.device)
            # the primal form given its gram needs no copy of the training rows
            Xtr = self.X[train_idx] if gram is None or self.form != "primal" else self.X
            Xva = self.X[val_idx]
        if self.form == "primal":
            eig, basis = _eigh(Xtr.T @ Xtr if gram is None else gram)
            left = Xva @ basis if Xva is not None else None
        else:
            eig, basis = _eigh(Xtr @ Xtr.T)
            left = (Xva @ Xtr.T) @ basis if Xva is not None else None
        return _Decomposition(eig, basis, left, train_idx, val_idx)

    def prepare(self) -> None:
        """Compute now what every fit shares and would otherwise compute on the first fit (the folds' spectral
        parts)."""
        for fold in self.folds:
            if self.use_spectral(fold):
                _spectral_parts(fold, float(self.alphas.min()), keep_left=self.form != "primal")

    # ------------------------------------------------------------------ fitting

    def _budget(self) -> int:
        return self.memory_budget or (192 << 20 if self.device.type == "cpu" else 2 << 30)

    def voxel_batch(self, n_voxels: int, extra_per_voxel: int = 0) -> int:
        """Voxels per batch so that the temporaries (plus ``extra_per_voxel`` float32 values) stay within the memory
        budget.

        The budget is the configured one, but never more than half the size of the responses,
        so that the peak stays under twice size(Y) for small problems too.
        """
        n, p = self.X.shape
        n_val = max(len(d.val) for d in self.folds if d.val is not None)
        rank = max(len(d.eig) for d in self.folds)
        per_fold = max(self._alpha_chunk() * n_val, 2 * 4 * rank)  # explicit stack or float64 spectral
        per_voxel = _BYTES * (per_fold + 2 * n + 2 * p + extra_per_voxel)
        budget = min(self._budget(), max(8 << 20, _BYTES * n * n_voxels // 2))
        return int(max(128, min(n_voxels, budget // per_voxel)))

    def _alpha_chunk(self) -> int:
        """Penalties whose stacked prediction operator fits in a quarter of the budget."""
        n_val = max(len(d.val) for d in self.folds if d.val is not None)
        width = self.X.shape[1] if self.form == "primal" else self.X.shape[0]
        return int(max(1, min(len(self.alphas), self._budget() // (4 * _BYTES * n_val * width))))

    def _operator(self, fold: _Decomposition, alphas: torch.Tensor, rotate: bool) -> torch.Tensor:
        """(alphas·validation rows × width) mapping XᵀY (primal) or Y_train (dual) to predictions.

        With ``rotate`` the eigenbasis is folded into the operator (worth it when there are more
        voxels than alphas × validation rows); otherwise the operator acts on basisᵀ·right.
        """
        assert fold.left is not None
        shrink = 1.0 / (fold.eig[None, :] + alphas[:, None])
        stacked = (fold.left[None, :, :] * shrink[:, None, :]).reshape(-1, fold.left.shape[1])
        return stacked @ fold.basis.T if rotate else stacked

    def use_spectral(self, fold: _Decomposition) -> bool:
        """Whether the spectral loss (cost ~3·rank², float64) beats explicit predictions
        (cost alphas × validation rows × rank) for this fold."""
        if self.method != "auto":
            return self.method == "spectral"
        assert fold.val is not None
        return 3 * len(fold.eig) < (len(self.alphas) - 1) * len(fold.val)

    def cv_scores(self, Y: np.ndarray, XtY: torch.Tensor | None, batch: int) -> torch.Tensor:
        """(alphas × voxels) mean over folds of −MSE on each fold's validation rows."""
        n, v = Y.shape
        scores = torch.zeros(len(self.alphas), v, dtype=torch.float32, device=self.device)
        chunk = self._alpha_chunk()
        for fold in self.folds:
            assert fold.val is not None and fold.train is not None
            val_rows = fold.val.cpu().numpy()
            train_rows = fold.train.cpu().numpy()
            Xva = self.X[fold.val]
            if self.use_spectral(fold):
                self._spectral_scores(fold, Y, XtY, batch, scores)
                continue
            for a0 in range(0, len(self.alphas), chunk):
                alphas = self.alphas[a0 : a0 + chunk]
                rotate = v >= len(alphas) * len(val_rows)
                op = self._operator(fold, alphas, rotate)
                for start in range(0, v, batch):
                    stop = min(v, start + batch)
                    Yva = self._rows(Y, val_rows, start, stop)
                    if XtY is not None:
                        right = XtY[:, start:stop] - Xva.T @ Yva
                    else:
                        right = self._rows(Y, train_rows, start, stop)
                    scores[a0 : a0 + chunk, start:stop].sub_(_explicit_mse(op, fold, right, Yva, len(alphas), rotate))
                    del right
                del op
        return scores / len(self.folds)

    def _spectral_scores(
        self, fold: _Decomposition, Y: np.ndarray, XtY: torch.Tensor | None, batch: int, scores: torch.Tensor
    ) -> None:
        """Subtract this fold's validation MSE for every penalty without forming predictions.

        With A the validation rows in the eigenbasis, B = basisᵀ·right and d_j = 1/(s_j + α),
        ‖y − A·diag(d)·B‖² = ‖y‖² − 2 Σ d_j (AᵀY)_j B_j + Σ d_j² G_jj B_j² + 2 Σ d_j B_j (H·B)_j, where
        G = AᵀA and H_jk = G_jk / (s_k − s_j) (partial fractions: d_j d_k = (d_j − d_k)/(s_k − s_j)).
        H·B is computed once; each penalty then costs two (rank × voxels) reductions. Eigenvalues
        closer than SPECTRAL_TOL are merged and G is diagonalised inside each merged group.
        """
        assert fold.val is not None and fold.train is not None
        parts = _spectral_parts(fold, float(self.alphas.min()), keep_left=XtY is None)
        left, basis = fold.left, fold.basis
        d = 1.0 / (parts.eig[None, :] + self.alphas.double()[:, None])
        val_rows, train_rows = fold.val.cpu().numpy(), fold.train.cpu().numpy()
        Xva = self.X[fold.val]
        n_val = len(val_rows)
        for start in range(0, Y.shape[1], batch):
            stop = min(Y.shape[1], start + batch)
            Yva = self._rows(Y, val_rows, start, stop)
            if XtY is not None:  # primal: AᵀY = basisᵀ·(X_valᵀ·Y_val), from the product the training side needs anyway
                product = Xva.T @ Yva
                right = XtY[:, start:stop] - product
                Z = (basis.T @ product).double()
                del product
            else:
                assert left is not None
                right = self._rows(Y, train_rows, start, stop)
                Z = (left.T @ Yva).double()
            B = (basis.T @ right).double()
            scores[:, start:stop].sub_(_spectral_mse(parts, d, B, Z, Yva.double().square().sum(0), n_val))
            del B, Z

    def _rows(self, Y: np.ndarray, rows: np.ndarray, start: int, stop: int) -> torch.Tensor:
        block = np.ascontiguousarray(Y[rows, start:stop], dtype=np.float32)
        return torch.as_tensor(block, device=self.device)

    def _columns(self, Y: np.ndarray, start: int, stop: int) -> torch.Tensor:
        block = np.ascontiguousarray(Y[:, start:stop], dtype=np.float32)
        return torch.as_tensor(block, device=self.device)

    def fit(
        self,
        Y: np.ndarray,
        *,
        return_weights: bool = False,
        voxel_batch: int | None = None,
    ) -> RidgeCVResult:
        """Choose a penalty per voxel of ``Y`` (rows × voxels) and refit on all rows."""
        n, v = Y.shape
        if n != self.X.shape[0]:
            raise DataError(f"ridge: responses have {n} rows but the features have {self.X.shape[0]}")
        batch = voxel_batch or self.voxel_batch(v)
        XtY = None
        if self.form == "primal":
            XtY = torch.empty(self.X.shape[1], v, dtype=torch.float32, device=self.device)
            for start in range(0, v, batch):
                XtY[:, start : start + batch] = self.X.T @ self._columns(Y, start, start + batch)
        scores = self.cv_scores(Y, XtY, batch)
        best_score, index = scores.max(0)  # ties: the first, i.e. smallest, penalty
        del scores
        chosen = self.alphas[index]
        predictions = np.empty((self.test_left.shape[0], v), dtype=np.float32) if self.test_left is not None else None
        weights = np.empty((self.X.shape[1], v), dtype=np.float32) if return_weights else None
        for start in range(0, v, batch):
            stop = min(v, start + batch)
            self._refit(XtY[:, start:stop] if XtY is not None else self._columns(Y, start, stop), chosen[start:stop],
                        predictions, weights, start, stop)
        return RidgeCVResult(chosen.cpu().numpy(), best_score.cpu().numpy(), predictions, weights)

    def _refit(
        self,
        right: torch.Tensor,
        chosen: torch.Tensor,
        predictions: np.ndarray | None,
        weights: np.ndarray | None,
        start: int,
        stop: int,
        mm: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = torch.matmul,
    ) -> None:
        """Refit voxels ``start:stop`` on all training rows at their chosen penalties, from XᵀY (primal) or Y (dual);
        ``mm`` multiplies (``fit_folded``: ``products.matmul``)."""
        full = self.full
        coef = mm(full.basis.T, right) / (full.eig[:, None] + chosen[None, :])
        if predictions is not None:
            assert self.test_left is not None
            predictions[:, start:stop] = mm(self.test_left, coef).cpu().numpy()
        if weights is not None:
            w = full.basis @ coef if self.form == "primal" else self.X.T @ (full.basis @ coef)
            weights[:, start:stop] = w.cpu().numpy()

    # ------------------------------------------------------------------ fitting responses gathered by fold

    def fit_folded(
        self, Y: FoldedResponses, *, return_weights: bool = False, voxel_batch: int | None = None
    ) -> RidgeCVResult:
        """``fit`` on responses gathered by fold (``FoldedResponses``, shared by every layer fitted on them).

        Primal form: per batch of voxels, each fold's validation product XᵥᵀYᵥ is computed once;
        their sum is the full XᵀY (the folds partition the rows) and XᵀY minus a fold's own is that
        fold's training product, so the rows are multiplied once instead of twice. The dual form
        needs the rows themselves and fits them as ``fit`` does.
        """
        same = len(Y.folds) == len(self._val_rows) and all(
            np.array_equal(a, b) for a, b in zip(Y.folds, self._val_rows)
        )
        if not same or not Y.partition:
            raise ValueError("ridge: the responses were gathered by other folds than the solver's")
        if self.form != "primal":
            return self.fit(Y.rows(), return_weights=return_weights, voxel_batch=voxel_batch)
        v = Y.n_voxels
        batch = voxel_batch or self._folded_batch(v)
        best = torch.empty(v, dtype=torch.float32, device=self.device)
        chosen = torch.empty(v, dtype=torch.float32, device=self.device)
        predictions = np.empty((self.test_left.shape[0], v), dtype=np.float32) if self.test_left is not None else None
        weights = np.empty((self.X.shape[1], v), dtype=np.float32) if return_weights else None
        # on the CPU torch's own kernels take one thread: the products run on numpy's BLAS threads, and torch's OpenMP
        # threads waiting beside them slowed a pass twofold (measured on 2 cores)
        with matmul_precision(self.precision, self.device), torch_threads(1 if self.device.type == "cpu" else None,
                                                                          blas=False):
            for start in range(0, v, batch):
                stop = min(v, start + batch)
                products = [matmul(x_val.T, y_val[start:stop].T) for x_val, y_val in zip(self._x_val, Y.val)]
                XtY = products[0].clone()
                for product in products[1:]:
                    XtY += product
                y_vals, sqs = [y[start:stop] for y in Y.val], [sq[start:stop] for sq in Y.sq]
                scores = self._mean_scores(XtY, products, y_vals, sqs, single=True)
                close = _near_ties(scores)
                if close.numel():  # float32 might choose otherwise than float64 here: score these voxels in float64
                    scores[:, close] = self._mean_scores(XtY[:, close], [p[:, close] for p in products],
                                                         [y[close] for y in y_vals], [sq[close] for sq in sqs])
                del products, y_vals, sqs
                best[start:stop], index = scores.max(0)  # ties: the first, i.e. smallest, penalty
                chosen[start:stop] = self.alphas[index]
                self._refit(XtY, chosen[start:stop], predictions, weights, start, stop, mm=matmul)
                del scores, XtY
        return RidgeCVResult(chosen.cpu().numpy(), best.cpu().numpy(), predictions, weights)

    def _mean_scores(self, XtY: torch.Tensor, products: Sequence[torch.Tensor], y_vals: Sequence[torch.Tensor],
                     sqs: Sequence[torch.Tensor], single: bool = False) -> torch.Tensor:
        """(alphas × voxels) mean over folds of −MSE on each fold's validation rows, from XᵀY and the folds' products
        XᵥᵀYᵥ, validation responses (voxels × rows) and Σy² of the same voxels; ``single``: the float32 loss."""
        scores = torch.zeros(len(self.alphas), XtY.shape[1], dtype=torch.float32, device=self.device)
        for fold, product, y_val, sq in zip(self.folds, products, y_vals, sqs):
            scores.sub_(self._fold_mse(fold, XtY - product, product, y_val.T, sq, single=single))
        return scores.div_(len(self.folds))

    def _folded_batch(self, n_voxels: int) -> int:
        """Voxels per batch of ``fit_folded``: its temporaries per voxel are the folds' products, XᵀY, the float64
        spectral parts (or an explicit prediction stack) and the scores, within the memory budget."""
        p, k = self.X.shape[1], len(self.folds)
        n_val = max(len(d.val) for d in self.folds if d.val is not None)
        explicit = 0 if all(self.use_spectral(f) for f in self.folds) else self._alpha_chunk() * n_val
        per_voxel = _BYTES * ((k + 2) * p + explicit + 2 * len(self.alphas)) + 8 * 4 * p
        return int(max(128, min(n_voxels, self._budget() // per_voxel)))

    def _fold_mse(self, fold: _Decomposition, right: torch.Tensor, product: torch.Tensor, y_val: torch.Tensor,
                  sq: torch.Tensor, single: bool = False) -> torch.Tensor:
        """(alphas × voxels) validation MSE of one fold from its training product ``right`` = XₜᵀYₜ and ``product`` =
        XᵥᵀYᵥ; ``single``: the spectral loss in float32 (``fit_folded`` checks near ties in float64)."""
        if self.use_spectral(fold):
            parts = _spectral_parts(fold, float(self.alphas.min()), keep_left=False)
            if single:
                return _spectral_mse32(parts.in_float32(self.alphas), matmul(fold.basis.T, right),
                                       matmul(fold.basis.T, product), sq, y_val.shape[0])
            d = 1.0 / (parts.eig[None, :] + self.alphas.double()[:, None])
            B = (fold.basis.T @ right).double()
            Z = (fold.basis.T @ product).double()
            return _spectral_mse(parts, d, B, Z, sq, y_val.shape[0])
        chunk = self._alpha_chunk()
        out = torch.empty(len(self.alphas), y_val.shape[1], dtype=torch.float32, device=self.device)
        for a0 in range(0, len(self.alphas), chunk):
            alphas = self.alphas[a0 : a0 + chunk]
            rotate = y_val.shape[1] >= len(alphas) * y_val.shape[0]
            out[a0 : a0 + chunk] = _explicit_mse(
                self._operator(fold, alphas, rotate), fold, right, y_val, len(alphas), rotate
            )
        return out


def ridge_cv(
    X: np.ndarray,
    Y: np.ndarray,
    folds: Sequence[np.ndarray],
    alphas: Sequence[float],
    *,
    X_test: np.ndarray | None = None,
    return_weights: bool = False,
    device: str = "cpu",
    voxel_batch: int | None = None,
) -> RidgeCVResult:
    """One-shot ``RidgeCV(X, folds, alphas, X_test=...).fit(Y)``."""
    solver = RidgeCV(X, folds, alphas, X_test=X_test, device=device)
    return solver.fit(Y, return_weights=return_weights, voxel_batch=voxel_batch)


def story_folds(story_rows: Sequence[int], n_folds: int) -> list[np.ndarray]:
    """Validation rows per fold, grouping whole stories (given in row order by their lengths).

    Stories are dealt to folds in turn; with fewer stories than folds, each story is a fold.
    """
    if len(story_rows) < 2:
        raise DataError(
            f"ridge: cross-validation grouped by story needs at least 2 training stories, got {len(story_rows)}"
        )
    k = min(n_folds, len(story_rows))
    bounds = np.concatenate([[0], np.cumsum(story_rows)])
    folds: list[list[np.ndarray]] = [[] for _ in range(k)]
    for i in range(len(story_rows)):
        folds[i % k].append(np.arange(bounds[i], bounds[i + 1]))
    return [np.concatenate(f) for f in folds]
