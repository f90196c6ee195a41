"""Breaking a dataset on disk as real downloads break, and checking that the CLI refuses it in one line.

Each damage function returns ``damage(folder)``, which changes one file (or folder) below
``folder``: written anew, removed, edited, or its lines rewritten. ``refused_in_one_line`` runs
``harness validate`` and ``harness sweep --quiet`` on a config and checks both exit 2 with a single
``error:`` line on stderr, yielding each line for the caller's own checks (the file it names,
nothing written) before the next command runs.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from harness.cli import main

Damage = Callable[[Path], None]


def write(relative: str, content: bytes | str) -> Damage:
    """``relative`` holds ``content`` (text as UTF-8), its folders made where missing."""
    def damage(folder: Path) -> None:
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return damage


def remove(*relatives: str) -> Damage:
    """Each of ``relatives`` (a file or a whole folder) is gone."""
    def damage(folder: Path) -> None:
        for relative in relatives:
            path = folder / relative
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    return damage


def edit(relative: str, old: str, new: str, count: int = -1) -> Damage:
    """``old`` (which must be there) replaced by ``new`` in ``relative``: ``count`` times, every time by default."""
    def damage(folder: Path) -> None:
        path = folder / relative
        text = path.read_text(encoding="utf-8")
        assert old in text, (relative, old)
        path.write_text(text.replace(old, new, count), encoding="utf-8")
    return damage


def lines(relative: str, change: Callable[[list[str]], list[str]]) -> Damage:
    """``relative``'s lines passed through ``change``."""
    def damage(folder: Path) -> None:
        path = folder / relative
        path.write_text("\n".join(change(path.read_text(encoding="utf-8").splitlines())) + "\n", encoding="utf-8")
    return damage


def refused_in_one_line(config: Path, capfd: Any) -> Iterator[tuple[str, str]]:
    """(command, its stderr line) for ``validate`` then ``sweep --quiet`` on ``config``, each checked to
    exit 2 with exactly one line starting ``error: ``."""
    capfd.readouterr()
    for command in (["validate", str(config)], ["sweep", str(config), "--quiet"]):
        code = main(command)
        out, err = capfd.readouterr()
        found = err.splitlines()
        assert code == 2, (command[0], out, err)
        assert len(found) == 1 and found[0].startswith("error: "), (command[0], err)
        yield command[0], found[0]


def edit_first(relative: str, old: str, new: str) -> Damage:
    """``edit`` of the first ``old`` only."""
    return edit(relative, old, new, 1)


def cut(relative: str, fraction: float) -> Damage:
    """``relative`` cut to its first ``fraction`` of bytes, as a partial download leaves it."""
    def damage(folder: Path) -> None:
        path = folder / relative
        path.write_bytes(path.read_bytes()[: int(path.stat().st_size * fraction)])
    return damage


def both(*damages: Damage) -> Damage:
    """Every one of ``damages``, in order."""
    def damage(folder: Path) -> None:
        for one in damages:
            one(folder)
    return damage


def left_out_is_kept(config: Path, run: Path, note: str, tail: str) -> None:
    """A sweep of ``config``'s last checkpoint records ``note`` (ending in ``tail``) in every cell's
    provenance, and the report of ``run`` shows it."""
    from harness.views.frames import load_run

    data = yaml.safe_load(config.read_text())
    data["models"][0]["checkpoints"] = "last"
    config.write_text(yaml.safe_dump(data))
    assert main(["sweep", str(config), "--quiet"]) == 0
    provenance = load_run(run).provenance
    assert len(provenance) and all(note in text and text.endswith(tail) for text in provenance["left_out"])
    assert main(["analyze", str(run)]) == 0
    report = (run / "report.html").read_text()
    assert "left out of the data on disk: " in report and note in report


def garbage(size: int) -> bytes:
    """``size`` bytes of no file format, the same every run."""
    return bytes((i * 7919 + 13) % 256 for i in range(size))


@dataclass(frozen=True)
class DamageCase:
    """One malformed input of a loader: how to make it, and what its one-line refusal must name."""

    name: str
    damage: Damage
    names: str  # path (relative to the case folder) or text the one line must contain
    match: str = ""
    options: dict | None = None
