"""Matrix products of the encoder's hot loop, on whichever BLAS does them faster.

On CUDA a product is torch's. On the CPU it goes through numpy's BLAS (OpenBLAS in numpy's
wheels): torch's CPU BLAS (MKL) ran the encoder's shapes at 40–75 % of OpenBLAS's speed on this
project's AMD EPYC machines (2 threads: the training product XᵥᵀYᵥ at 256 features 87 against 158
GFLOP/s, at 3,072 features 117 against 183; the rotation into an eigenbasis at 256 features 33
against 91). The operands are shared, not copied (a transposed or sliced tensor is a strided
array to numpy), and the result is a tensor on the same memory. Both libraries' thread counts
follow ``harness.util.threads.torch_threads``.
"""

from __future__ import annotations

import numpy as np
import torch


def matmul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``a @ b``: numpy's BLAS for CPU float tensors, torch's elsewhere."""
    if a.device.type != "cpu" or b.device.type != "cpu" or a.dtype != b.dtype or a.requires_grad or b.requires_grad:
        return a @ b
    return torch.from_numpy(np.matmul(a.numpy(), b.numpy()))
