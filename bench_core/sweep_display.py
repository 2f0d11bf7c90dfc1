"""The live display of a sweep: jobs done / running / failed / skipped, and the current job's own bars."""

from __future__ import annotations

import contextlib
from typing import Iterator

from bench_core.progress import Progress, RichTask, Task
from bench_core.runners import SweepEvents


class _JobProgress(Progress):
    """A job's prepare/train/score bars, drawn as transient rows under the sweep's own bar."""

    def __init__(self, bar):
        self._bar = bar

    @contextlib.contextmanager
    def task(self, description: str, total: int | None) -> Iterator[Task]:
        task_id = self._bar.add_task(f"  {description}", total=total, note="")
        try:
            yield RichTask(self._bar, task_id)
        finally:
            self._bar.remove_task(task_id)


class RichSweepDisplay(SweepEvents):
    """One rich Progress on stderr: a 'jobs' bar with counts, a line per running job, the job's own bars."""

    def __init__(self, console, total: int, skipped: int, in_process: bool):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress as Bar, TextColumn, TimeElapsedColumn

        self._bar = Bar(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                        TextColumn("{task.fields[note]}"), console=console, transient=False)
        self._in_process = in_process
        self._counts = {"done": 0, "failed": 0, "skipped": skipped}
        self._running: dict[str, int] = {}
        self._jobs_task = self._bar.add_task("jobs", total=total, note="")
        self._bar.advance(self._jobs_task, skipped)
        self._refresh()

    def __enter__(self):
        self._bar.__enter__()
        return self

    def __exit__(self, *exc):
        for task_id in self._running.values():
            self._bar.remove_task(task_id)
        self._running.clear()
        self._refresh()
        return self._bar.__exit__(*exc)

    def _refresh(self) -> None:
        c = self._counts
        self._bar.update(self._jobs_task, note=f"done {c['done']} · running {len(self._running)} · "
                                               f"failed {c['failed']} · skipped {c['skipped']}")

    def job_started(self, job) -> None:
        from rich.markup import escape

        self._running[job.run_id] = self._bar.add_task(f"[cyan]▶ {escape(job.label)}", total=None, note="")
        self._refresh()

    def job_progress(self, job) -> Progress:
        return _JobProgress(self._bar) if self._in_process else Progress()

    def job_finished(self, outcome) -> None:
        task_id = self._running.pop(outcome.job.run_id, None)
        if task_id is not None:
            self._bar.remove_task(task_id)
        self._counts[outcome.status] = self._counts.get(outcome.status, 0) + 1
        self._bar.advance(self._jobs_task, 1)
        if outcome.status == "failed":
            from rich.markup import escape

            self._bar.console.print(f"[red]failed:[/] {escape(outcome.job.label)}: {escape(str(outcome.error))}",
                                    highlight=False, markup=True)
        self._refresh()
