"""Runners on this machine: serial (in-process) and a process pool."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import threading
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Iterator, Sequence

from bench_core.runners import Runner, SweepEvents, die_with_parent, sigterm_interrupts
from bench_core.sweep import Job, JobOutcome, run_job


class SerialRunner(Runner):
    """Jobs one after another in this process; the only runner that can show a job's own progress bars."""

    in_process = True

    def run(self, jobs: Sequence[Job], events: SweepEvents) -> Iterator[JobOutcome]:
        for job in jobs:
            events.job_started(job)
            yield run_job(job, progress=events.job_progress(job))


def _start_worker(devices, parent_pid: int, by_kernel: bool) -> None:
    """Pool initializer: the worker ends with the sweep's process; it takes one GPU for its lifetime (if any),
    before torch initialises CUDA."""
    die_with_parent(parent_pid, by_kernel)
    if devices is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = devices.get()


def _terminate_workers(pool: ProcessPoolExecutor) -> None:
    """Stop the jobs still running: their runs are left missing, and the same command continues them."""
    terminate = getattr(pool, "terminate_workers", None)  # Python >= 3.14
    if terminate is not None:
        terminate()
        return
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        with contextlib.suppress(OSError, ValueError):
            process.terminate()


def visible_gpus(jobs: Sequence[Job]) -> list[str]:
    """The GPU ids jobs may use: none when every job asked for the CPU, else every GPU this process sees."""
    if all(job.request.device == "cpu" for job in jobs):
        return []
    import torch

    count = torch.cuda.device_count()
    if not count:
        return []
    listed = [d.strip() for d in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if d.strip()]
    return (listed or [str(i) for i in range(count)])[:count]


class ProcessRunner(Runner):
    """A process pool on this machine. With GPUs: one worker per GPU, its device set by CUDA_VISIBLE_DEVICES."""

    def run(self, jobs: Sequence[Job], events: SweepEvents) -> Iterator[JobOutcome]:
        if not jobs:
            return
        gpus = visible_gpus(jobs)
        workers = min(len(jobs), len(gpus) or self.options.workers or os.cpu_count() or 1)
        # CUDA cannot be used in a forked child; without GPUs, fork is cheaper and keeps plugins registered in
        # this process (tests register inline plugin objects).
        methods = multiprocessing.get_all_start_methods()
        context = multiprocessing.get_context("spawn" if gpus or "fork" not in methods else "fork")
        devices = None
        if gpus:
            devices = context.Queue()
            for gpu in gpus[:workers]:
                devices.put(gpu)
        # Workers are started by this thread (at the first submit); the kernel may tie their lives to it only when
        # it lives as long as the process.
        main_thread = threading.current_thread() is threading.main_thread()
        pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker,
                                   initargs=(devices, os.getpid(), main_thread))
        completed = False
        try:
            with sigterm_interrupts():
                yield from self._gather(pool, list(jobs), workers, events)
            completed = True
        finally:
            if not completed:  # Ctrl-C, SIGTERM, or the sweep stopped listening: no job may go on running
                _terminate_workers(pool)
            pool.shutdown(wait=True, cancel_futures=True)

    @staticmethod
    def _gather(pool: ProcessPoolExecutor, jobs: Sequence[Job], workers: int,
                events: SweepEvents) -> Iterator[JobOutcome]:
        futures = {pool.submit(run_job, job): job for job in jobs}
        for job in jobs[:workers]:  # the pool starts jobs in submission order
            events.job_started(job)
        started = workers
        pending = set(futures)
        while pending:
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                job = futures[future]
                try:
                    outcome = future.result()
                except Exception as exc:  # a worker that died (killed, out of memory) breaks the pool
                    outcome = JobOutcome(job, "failed", error=f"worker lost: {type(exc).__name__}: {exc}",
                                         infrastructure=True)
                if started < len(jobs):
                    events.job_started(jobs[started])
                    started += 1
                yield outcome
