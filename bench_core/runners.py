"""The Runner interface: how a sweep's jobs get executed (in this process, a process pool, a Dask cluster...).

A runner receives picklable :class:`bench_core.sweep.Job` objects and a function to apply to each,
``bench_core.sweep.run_job`` (a module-level function, so it pickles by reference). It yields one
:class:`bench_core.sweep.JobOutcome` per job, in the order jobs finish. Runners are registered by plugins through
``register_runners(register)``; the built-in ones (serial, process, dask) live in ``plugins/anobench_runners``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator, Sequence

from bench_core.progress import Progress

if TYPE_CHECKING:
    from bench_core.sweep import Job, JobOutcome


@dataclass
class RunnerOptions:
    """What the user chose on the command line; a runner uses what applies to it and ignores the rest."""

    #: Parallel jobs (process pool size, LocalCluster workers); None lets the runner decide.
    workers: int | None = None
    #: torch threads each job uses (``--threads``, the same in every job's request), for runners that reserve
    #: cores per job; the job itself sets them (see ``bench_core.sweep.run_job``).
    threads_per_job: int | None = None
    #: Address of an existing cluster's scheduler (dask: tcp://host:8786); None starts a local one.
    scheduler: str | None = None
    #: Extra attempts for a job that raised something unexpected (a lost worker, an out-of-memory error).
    retries: int = 1
    #: Serve the engine's dashboard (dask: the LocalCluster's, on 127.0.0.1:8787); off by default.
    dashboard: bool = False


class SweepEvents:
    """What a runner tells the sweep while it works. The default does nothing (library use, tests)."""

    def job_started(self, job: "Job") -> None:
        """The job has begun executing (runners that cannot know exactly call it on submission)."""

    def job_finished(self, outcome: "JobOutcome") -> None:
        """The sweep received the job's outcome (called by the sweep, not by runners)."""

    def job_progress(self, job: "Job") -> Progress:
        """A progress sink for a job executed in this process (only in-process runners can show it)."""
        return Progress()


class Runner:
    """Executes sweep jobs. Subclasses implement :meth:`run`; ``name`` is filled in from the registration."""

    #: True when jobs run in the calling process (so per-job progress bars can be shown).
    in_process = False

    def __init__(self, options: RunnerOptions | None = None):
        self.options = options or RunnerOptions()

    def run(self, jobs: Sequence["Job"], events: SweepEvents) -> Iterator["JobOutcome"]:
        """Execute every job and yield its outcome as soon as it finishes (any order)."""
        raise NotImplementedError


# -- worker processes that never outlive the sweep ----------------------------------------------------------------

class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the sweep's main thread like Ctrl-C's KeyboardInterrupt, so the same clean-up runs."""


@contextlib.contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """While inside, SIGTERM raises :class:`Terminated` instead of ending the process at once, so a runner can stop
    its workers. Only the main thread can set a signal handler; elsewhere nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise Terminated(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def die_with_parent(parent_pid: int, by_kernel: bool = True, poll_seconds: float = 0.5) -> None:
    """Called first in a worker process (a pool initializer): the worker ends when ``parent_pid`` ends, however it
    ends (a SIGKILL included), instead of running the queue on and idling forever.

    On Linux the kernel sends the worker SIGKILL when its parent dies (``prctl(PR_SET_PDEATHSIG)``). The kernel
    means the parent *thread* that started the worker, so ``by_kernel`` must be False when that thread may end
    before the process (a pool started from a worker thread). Everywhere, a watchdog thread also checks every
    ``poll_seconds`` that the parent is still there. Ctrl-C and SIGTERM are the parent's to handle: Ctrl-C reaches
    the whole process group, and the parent stops the pool (a worker that took its own KeyboardInterrupt would
    report it as the job's result and take the next job).
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a forked worker inherits the parent's handler
    if by_kernel and sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
    if os.getppid() != parent_pid:  # the parent died before the kernel was told
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(poll_seconds)
        os._exit(1)

    threading.Thread(target=watch, name="anobench-parent-watch", daemon=True).start()
