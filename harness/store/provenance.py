"""What the store keeps about each cell besides its scores: versions, hashes, software, device."""

from __future__ import annotations

import platform
from typing import Any

from harness.plan.planner import Cell, ModelPlan, Plan, TargetPlan
from harness.plugin.contract import BrainDataset
from harness.store.database import CellRecord
from harness.util.errors import one_line


def software_versions() -> dict[str, str]:
    """Versions of the software that computes results."""
    import torch
    import transformers

    from harness import __version__

    return {
        "harness": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
    }


class Provenance:
    """Builds each cell's record from the plan (which already holds versions, hashes and digests)."""

    def __init__(self, plan: Plan, device: str) -> None:
        self.plan, self.device = plan, device
        self.software = software_versions()
        self._dropped: dict[str, str] = {}

    def _left_out(self, target: TargetPlan) -> dict[str, str]:
        """A brain dataset's data left out (subjects not downloaded, ...), as one provenance entry; {} when none."""
        if not isinstance(target.plugin, BrainDataset):
            return {}
        if target.label not in self._dropped:
            try:
                self._dropped[target.label] = "; ".join(target.plugin.left_out())
            except Exception as error:  # noqa: BLE001 - data changed since preflight: said, never fatal to the cell
                self._dropped[target.label] = f"not known: {one_line(error)}"
        return {"left_out": self._dropped[target.label]} if self._dropped[target.label] else {}

    def record(self, cell: Cell, model: ModelPlan, commit: str | None, extra: dict[str, Any]) -> CellRecord:
        """The stored record of ``cell``; ``extra`` adds what computing it revealed (e.g. the activation key)."""
        target = self.plan.target(cell.target)
        truncated = self.plan.truncated.get(cell.target)
        extra = {**extra, "scored_fraction": truncated} if truncated else extra
        return CellRecord(
            cell_id=cell.cell_id,
            settings_hash=self.plan.settings[cell.cell_id],
            model=cell.model,
            family=model.family.name,
            step=cell.checkpoint.step,
            tokens=cell.checkpoint.tokens,
            revision=cell.checkpoint.revision,
            commit=commit,
            kind=cell.kind,
            target=cell.target,
            plugin=target.plugin.name,
            layer=cell.layer,
            seed=self.plan.config.seed,
            config_hash=self.plan.config_digest,
            data_hash=self.plan.data_hash(target) or None,
            plugin_version=target.version,
            provenance={
                **self.software,
                "model_plugin": f"{model.family.name} {model.version}",
                "target_plugin": f"{target.plugin.name} {target.version}",
                "device": self.device,
                **self._left_out(target),
                **extra,
            },
        )
