"""A story's responses left in their HDF5 file and read a block of voxel columns at a time."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from harness import DataError, one_line

CEILING_BLOCK_VALUES = 1 << 24  # values of ``repeats`` read at once when a noise ceiling is computed
UNREADABLE = (OSError, KeyError, RuntimeError, ValueError)  # what h5py raises on a damaged or foreign file


class HDF5Responses:
    """The (scans × voxels) dataset ``name`` of an HDF5 file, read only when sliced.

    ``responses[:, start:stop]`` opens the file, reads those voxel columns (an HDF5 hyperslab)
    and returns them as float32; ``np.asarray(responses)`` reads everything. Nothing is held
    between reads, so a subject's responses cost no memory until the encoder asks for a block.
    """

    def __init__(self, path: Path, shape: tuple[int, int], name: str = "data") -> None:
        self.path = Path(path)
        self.name = name
        self._shape = (int(shape[0]), int(shape[1]))

    @property
    def shape(self) -> tuple[int, int]:
        return self._shape

    @property
    def ndim(self) -> int:
        return 2

    def __len__(self) -> int:
        return self._shape[0]

    def __getitem__(self, key: Any) -> np.ndarray:
        import h5py

        try:
            with h5py.File(self.path, "r") as handle:
                return np.asarray(handle[self.name][key], dtype=np.float32)
        except (OSError, KeyError, RuntimeError) as error:
            raise DataError(f"{self.path}: could not read {self.name!r} ({one_line(error)})") from None

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        data = self[...]
        return data if dtype is None else data.astype(dtype)

    def __repr__(self) -> str:
        return f"HDF5Responses({str(self.path)!r}, shape={self._shape})"


def column_blocks(voxels: int, rows: int, values: int = CEILING_BLOCK_VALUES) -> list[slice]:
    """Slices of voxel columns holding about ``values`` values each over ``rows`` rows."""
    step = max(1, values // max(rows, 1))
    return [slice(start, min(voxels, start + step)) for start in range(0, voxels, step)]


@contextmanager
def open_hdf5(path: Path) -> Iterator[Any]:
    """``h5py.File(path, "r")``; what h5py raises while it is open becomes a one-line ``DataError`` naming the file."""
    import h5py

    try:
        with h5py.File(path, "r") as handle:
            yield handle
    except UNREADABLE as error:
        raise DataError(f"{path}: not a readable HDF5 file ({one_line(error)})") from None
