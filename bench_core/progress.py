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


class LogTask(Task):
    """One task as plain log lines, for output no terminal watches (CI, Slurm logs): a line when it starts, one per
    epoch (a note whose leading ``epoch N/M`` changed), one at least every ``interval`` seconds of work, one at the
    end. Rich bars would print nothing there until the task ends."""

    def __init__(self, write, description: str, total: int | None, interval: float):
        import time

        self._clock = time.monotonic
        self._write, self._description, self._total, self._interval = write, description, total, interval
        self._done, self._note, self._epoch = 0, "", None
        self._started = self._last_line = self._clock()
        write(f"{description}: started" + (f", {total} steps" if total else ""))

    def _position(self) -> str:
        if self._total:
            return f"{self._done}/{self._total} ({100 * self._done / self._total:.0f}%)"
        return str(self._done)

    def _line(self, text: str) -> None:
        self._last_line = self._clock()
        self._write(f"{self._description}: {text} [{self._last_line - self._started:.0f} s]")

    def advance(self, n: int = 1) -> None:
        self._done += n
        if self._clock() - self._last_line >= self._interval:
            self._line(self._position() + (f" {self._note}" if self._note else ""))

    def note(self, text: str) -> None:
        self._note = text
        words = text.split()
        epoch = " ".join(words[:2]) if words[:1] == ["epoch"] else None
        if epoch != self._epoch or self._clock() - self._last_line >= self._interval:
            self._epoch = epoch
            self._line(f"{self._position()} {text}")

    def finish(self) -> None:
        self._line(f"done, {self._position()}" + (f" {self._note}" if self._note else ""))


class RichProgress(Progress):
    """Rich bars on stderr, so stdout stays clean for ``--json``; plain log lines where no terminal watches."""

    #: Seconds of work between two log lines of a task when stderr is not a terminal.
    log_interval: float = 30.0

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

        if not self._console.is_terminal:
            task = LogTask(lambda line: self._console.print(line, highlight=False, markup=False), description, total,
                           self.log_interval)
            yield task
            task.finish()
            return
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
