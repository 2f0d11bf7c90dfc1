"""Planning memory (issue 13): a sweep's plans cost at most 50 KB a job.

Run with:
    .venv/bin/pytest benchmarks/bench_plan.py --benchmark-only -s

300 conv-ae jobs (seeds × a --grid axis) on synthetic-avenue are planned as ``anobench sweep`` plans them
(``sweep.expand`` + ``sweep.plan_jobs``), under tracemalloc; the memory the plans hold is divided by the number of
jobs. Every plan used to hold its own Dataset (synthetic-avenue's holds its videos' generated trajectories: about
5 MB, and a second of checks, a job); jobs on one dataset now share one. The marginal cost of a job is measured too,
as the difference between planning 300 and 100 jobs, so the dataset shared by all is not counted in it.
"""

from __future__ import annotations

import gc
import time
import tracemalloc

from bench_core import sweep
from bench_core.plugins import get_catalogue
from bench_core.run import RunRequest

BOUND_BYTES_PER_JOB = 50 * 1024


def planned_bytes(out, n_seeds: int) -> tuple[int, int, float]:
    """(jobs, bytes the plans hold, seconds) for n_seeds seeds × 3 learning rates."""
    catalogue = get_catalogue()
    base = RunRequest(detector="", dataset="", preset="cpu", out=out, device="cpu",
                      data_options=["n_train=2", "n_test=2", "frames_per_video=64"])
    gc.collect()
    tracemalloc.start()
    try:
        started = time.perf_counter()
        requests = sweep.expand(base, ["conv-ae"], ["synthetic-avenue"], list(range(n_seeds)),
                                [("lr", ["0.001", "0.0005", "0.0002"])])
        jobs = sweep.plan_jobs(requests, catalogue)
        seconds = time.perf_counter() - started
        del requests
        gc.collect()
        held = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert len(jobs) == 3 * n_seeds
    return len(jobs), held, seconds


def test_planning_memory_per_job(benchmark, tmp_path):
    planned_bytes(tmp_path, 1)  # imports and plugin loading are not the plans' cost
    small_jobs, small_bytes, _ = planned_bytes(tmp_path, 33)
    jobs, held, seconds = benchmark.pedantic(lambda: planned_bytes(tmp_path, 100), rounds=1, iterations=1)
    per_job = held / jobs
    marginal = (held - small_bytes) / (jobs - small_jobs)
    print(f"\nplanning {jobs} jobs holds {held / 1024:.0f} KB: {per_job / 1024:.1f} KB a job "
          f"({marginal / 1024:.1f} KB a job more than {small_jobs} jobs; the shared dataset is the rest), "
          f"{seconds:.2f} s; bound {BOUND_BYTES_PER_JOB / 1024:.0f} KB a job")
    assert per_job <= BOUND_BYTES_PER_JOB
    assert marginal <= per_job
