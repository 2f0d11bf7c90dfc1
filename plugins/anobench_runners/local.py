"""Runners on this machine: serial (in-process) and a process pool."""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Iterator, Sequence

from bench_core.runners import Runner, SweepEvents
from bench_core.sweep import Job, JobOutcome, run_job


class SerialRunner(Runner):
    """Jobs one after another in this process; the only runner that can show a job's own progress bars."""

    in_process = True

    def run(self, jobs: Sequence[Job], events: SweepEvents) -> Iterator[JobOutcome]:
        for job in jobs:
            events.job_started(job)
            yield run_job(job, progress=events.job_progress(job))


def _claim_device(devices) -> None:
    """Pool initializer: each worker takes one GPU for its lifetime, before torch initialises CUDA."""
    if devices is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = devices.get()


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
        queue = list(jobs)
        pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_claim_device, initargs=(devices,))
        try:
            futures = {pool.submit(run_job, job): job for job in jobs}
            for job in queue[:workers]:  # the pool starts jobs in submission order
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
                    if started < len(queue):
                        events.job_started(queue[started])
                        started += 1
                    yield outcome
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
