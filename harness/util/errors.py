"""Errors a user can cause: each prints as one line and makes the CLI exit with code 2."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class HarnessError(Exception):
    """A mistake the user can fix; the message is one line naming what and where."""

    exit_code = 2


class ConfigError(HarnessError):
    """The sweep config is unreadable or invalid."""


class PluginError(HarnessError):
    """A plugin could not be found, loaded or registered."""


class DataError(HarnessError):
    """Input data (checkpoints, stimuli, responses) is missing or inconsistent."""


def one_line(error: BaseException, *, named: bool = True) -> str:
    """An exception as one line: its type (unless ``named`` is False and it has a message) and the first line of its
    message."""
    lines = str(error).strip().splitlines()
    if not lines:
        return type(error).__name__
    return f"{type(error).__name__}: {lines[0]}" if named else lines[0]


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """A ' (did you mean X?)' hint for a misspelt name, or '' when nothing is close."""
    close = difflib.get_close_matches(name, sorted(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def unknown_name(kind: str, name: str, choices: Iterable[str]) -> str:
    """The one-line message for a name that is not registered."""
    choices = sorted(choices)
    return f"unknown {kind} {name!r}{did_you_mean(name, choices)}; available: {', '.join(choices) or 'none'}"
