"""Counting the fits of the nuisance band (``partition.fit_block``): which solvers a scorer or sweep fitted."""

from __future__ import annotations

import pytest

from harness.encoding import partition


def counted_fits(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The type of every solver ``partition.fit_block`` fits from now on (``RidgeCV``: a nuisance-only fit,
    ``BandedRidgeCV``: a layer's joint fit)."""
    fitted: list[str] = []
    original = partition.fit_block

    def counting(solver, *args, **options):  # type: ignore[no-untyped-def]
        fitted.append(type(solver).__name__)
        return original(solver, *args, **options)

    monkeypatch.setattr(partition, "fit_block", counting)
    return fitted
