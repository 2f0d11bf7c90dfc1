"""Errors a user can act on: each carries one line naming what is at fault, and a hint."""

from __future__ import annotations

import difflib
from typing import Iterable


class AnobenchError(Exception):
    """A problem the user can fix. The CLI prints ``message`` (and ``hint``) on one line and exits ``exit_code``."""

    exit_code = 2

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class UsageError(AnobenchError):
    """A bad option, name or value on the command line."""


class DataError(AnobenchError):
    """A dataset folder or file that is missing or not what it should be."""


class DamagedFile(DataError):
    """A file anobench wrote earlier (a run record, scores, training state, a sweep log) that cannot be read back
    safely: truncated, garbled, not in its format, or pointing outside its folder. ``path`` names it; commands that
    read many such files (leaderboard, report, sweep) name each one and skip it (``records.skip_damaged``)."""

    def __init__(self, path, reason: str, hint: str | None = None):
        super().__init__(f"{path}: {reason}", hint=hint)
        self.path = path
        self.reason = reason


class PluginError(AnobenchError):
    """A plugin that cannot be used as installed."""


class RunFailed(AnobenchError):
    """A run that started but could not finish (diverged training, out of memory...)."""

    exit_code = 1


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """A hint naming the closest choice, or listing them all when none is close."""
    choices = sorted(choices)
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    if close:
        return f"did you mean '{close[0]}'?"
    if choices:
        return "choose one of: " + ", ".join(choices)
    return None
