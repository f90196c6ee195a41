"""Brain maps from a real sweep to the report: ``harness sweep`` of a tiny GPT-2 on data in its real on-disk
format, then ``harness analyze``, and what the report page shows.

MEG: the simulated MEG dataset (a BIDS tree written with mne-bids, read back through the megmasc loader)
gives sensor topographies and TRF lag profiles. LeBel 2023: a ds003020 derivative folder with a pycortex
subject (built from fsaverage5's meshes) at ``derivative/pycortex-db/<subject>`` gives a flatmap; once the
database is gone, the report says in one line why there is no map and keeps no figure of it. The flatmap's
background is the cortex's curvature, computed from the fiducial surface (sulci dark grey, gyri light).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from harness.cli import main
from harness.views.surfacemap import GYRUS, SULCUS
from tests.support.lebel_fixture import write_fixture
from tests.support.plugin_packages import tinygpt_beside, tinygpt_config
from tests.support.pycortex_fixture import write_pycortex_subject
from tests.support.report_page import coloured_fraction, grey_fraction, report_figures, report_notes

FAST = {"folds": 2, "alphas": [1, 100]}


def _sweep_and_report(folder: Path, brain: dict[str, Any]) -> Path:
    """``harness sweep`` then ``harness analyze`` of tinygpt's three checkpoints against ``brain``; the report."""
    config = tinygpt_config(folder, brain)
    assert main(["sweep", "--quiet", str(config)]) == 0
    assert main(["analyze", str(folder / "run")]) == 0
    return folder / "run" / "report.html"


def _figure(figures: dict[str, bytes], start: str) -> tuple[str, bytes]:
    found = [(caption, png) for caption, png in figures.items() if caption.startswith(start)]
    assert len(found) == 1, (start, list(figures))
    return found[0]


def test_a_meg_sweep_reports_sensor_topographies_and_lag_profiles(tmp_path):
    pytest.importorskip("mne_bids")
    options = {"cache": str(tmp_path / "meg"), "subjects": 1, "sessions": 1, "stories": 3, "words_per_story": 100,
               "sensors": 8}
    with tinygpt_beside(tmp_path, "simulated_meg"):
        report = _sweep_and_report(tmp_path, {"dataset": "simulated_meg", "label": "meg", "options": options,
                                              "encoding": {**FAST, "lags_s": [0.0, 0.2]}})
    figures = report_figures(report)
    caption, topography = _figure(figures, "sensor topography: tinygpt on meg")
    assert "r per sensor at the best layer" in caption
    assert topography == (tmp_path / "run" / "figures" / "brainmap__tinygpt__meg.png").read_bytes()
    assert coloured_fraction(topography) > 0.05  # the head is coloured by r, not left blank
    caption, profile = _figure(figures, "lag profile: tinygpt on meg")
    assert "TRF weight by lag, averaged over sensors, per checkpoint" in caption
    assert profile == (tmp_path / "run" / "figures" / "lags__tinygpt__meg.png").read_bytes()


def test_a_lebel_sweep_reports_a_flatmap_from_the_pycortex_database_and_says_why_not_without_it(tmp_path):
    root = write_fixture(tmp_path / "ds003020", subjects=("UTS01",), voxels=300)
    database = root / "derivative" / "pycortex-db"
    write_pycortex_subject(database, "UTS01", 300)
    with tinygpt_beside(tmp_path, "lebel2023"):
        report = _sweep_and_report(tmp_path, {"dataset": "lebel2023", "label": "lebel",
                                              "options": {"root": str(root)}, "encoding": FAST})
        figures = report_figures(report)
        caption, flatmap = _figure(figures, "brain map: tinygpt on lebel")
        assert "per-voxel r on each subject's flattened cortex" in caption
        assert flatmap == (tmp_path / "run" / "figures" / "brainmap__tinygpt__lebel.png").read_bytes()
        assert coloured_fraction(flatmap) > 0.005  # the voxels' r on the cortex (1.2 % of the figure), not grey alone
        assert "sulci dark grey, gyri light" in caption  # over the curvature computed from the fiducial surface
        assert grey_fraction(flatmap, SULCUS) > 0.02 and grey_fraction(flatmap, GYRUS) > 0.05  # 5 % and 14 %
        svg = (tmp_path / "run" / "figures" / "brainmap__tinygpt__lebel.svg").read_text(encoding="utf-8")
        assert "<image" in svg and svg.count("<path") < 1000  # the mesh's 2 x 2 x 20k triangles as images, not paths
        assert not [note for note in report_notes(report) if "no brain map" in note]

        shutil.rmtree(database)  # the same run, reported where the subject's database is missing
        assert main(["analyze", str(tmp_path / "run")]) == 0
    assert not [caption for caption in report_figures(report) if caption.startswith("brain map")]
    (note,) = [note for note in report_notes(report) if "no brain map" in note]
    assert note.startswith("lebel: no brain map: ") and "lebel2023 subject UTS01: no geometry is available" in note
    assert "DataError" not in note  # the dataset's own words, not the exception's class
    assert f"pycortex database (surfaces, transform and cortical mask) at {database / 'UTS01'}" in note
    assert "\n" not in note
    assert not list((tmp_path / "run" / "figures").glob("brainmap__*"))  # no map of an earlier analysis is left
