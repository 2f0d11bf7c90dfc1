"""Progress reporting that detectors call without knowing whether a terminal is watching."""

from __future__ import annotations

import contextlib
from typing import Iterator


class Task:
    def advance(self, n: int = 1) -> None:
        pass

    def note(self, text: str) -> None:
        """A short status shown beside the bar, e.g. the last epoch's loss."""


class Progress:
    """Silent progress: the default for library use and tests."""

    @contextlib.contextmanager
    def task(self, description: str, total: int | None) -> Iterator[Task]:
        yield Task()


class RichTask(Task):
    """One task of a rich Progress bar (shared by the run's bars and the sweep display's job rows)."""

    def __init__(self, bar, task_id):
        self._bar, self._id = bar, task_id

    def advance(self, n: int = 1) -> None:
        self._bar.advance(self._id, n)

    def note(self, text: str) -> None:
        self._bar.update(self._id, note=text)


class RichProgress(Progress):
    """Rich bars on stderr, so stdout stays clean for ``--json``."""

    def __init__(self, console):
        from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        self._columns = (
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            TextColumn("eta"), TimeRemainingColumn(), TextColumn("{task.fields[note]}"),
        )
        self._console = console

    @contextlib.contextmanager
    def task(self, description: str, total: int | None) -> Iterator[Task]:
        from rich.progress import Progress as Bar

        with Bar(*self._columns, console=self._console, transient=False) as bar:
            task_id = bar.add_task(description, total=total, note="")
            yield RichTask(bar, task_id)


class SharedTask(Progress):
    """Hands every ``task()`` request the same task, so many videos advance one bar instead of drawing one each."""

    def __init__(self, task: Task):
        self._task = task

    @contextlib.contextmanager
    def task(self, description: str, total: int | None) -> Iterator[Task]:
        yield self._task
