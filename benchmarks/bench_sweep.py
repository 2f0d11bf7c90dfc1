"""Sweep costs (issue 6): serial overhead against a plain loop, dask against serial, and a resumed sweep.

Run with:
    .venv/bin/pytest benchmarks/bench_sweep.py --benchmark-only -s

Targets:
- 8 tiny jobs through ``anobench sweep`` (planning + serial runner + records) cost at most 1.1x the same 8 runs
  called one by one in a loop in the same process (``bench_core.run.run``).
- The same kind of grid through dask on a 2-worker LocalCluster (processes, 1 torch thread each, cluster start-up
  included) finishes faster than serial (torch's default threads).
- A resumed sweep with every job complete takes under 5% of the first sweep's time.

The jobs are conv-ae on a small synthetic-avenue (2 train + 2 test videos), so each spends real CPU time in torch.
The preprocessing cache is filled before any timing; on a shared machine the minimum over rounds is compared.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from bench_core import sweep
from bench_core.run import RunRequest, run
from bench_core.runners import RunnerOptions

N_JOBS = 8
TINY = dict(detector="conv-ae", settings=["epochs=1", "input_size=32"],
            data_options=["n_train=2", "n_test=2", "frames_per_video=64"])
# Long enough (about 2-3 s a job on 2 cores) that running two at once can pay for starting a cluster.
# Jobs of a few seconds that use one core each (srnn codes on one thread), the case where spreading jobs over
# workers pays: conv-ae jobs already keep both cores busy through torch's threads (dask 0.67x of serial on a quiet
# 2-core machine). docs/performance.md has the figures, and why the dask runner drops MALLOC_TRIM_THRESHOLD_.
LONGER = dict(detector="srnn", settings=["epochs=15"], data_options=["n_train=3", "n_test=2", "frames_per_video=120"])
timings: dict[str, float] = {}


def requests(out: Path, shape: dict) -> list[RunRequest]:
    base = RunRequest(detector="", dataset="", preset="cpu", out=out, device="cpu", overwrite=True,
                      settings=list(shape["settings"]), data_options=list(shape["data_options"]))
    return sweep.expand(base, [shape["detector"]], ["synthetic-avenue"], list(range(N_JOBS)))


def timed_sweep(out: Path, shape: dict, runner: str, overwrite: str, **options) -> tuple[float, sweep.SweepResult]:
    started = time.perf_counter()
    jobs = sweep.plan_jobs(requests(out, shape))
    result = sweep.run_sweep(jobs, sweep.load_runner(runner, RunnerOptions(**options)), overwrite)
    return time.perf_counter() - started, result


@pytest.fixture(scope="module", autouse=True)
def shared_cache(tmp_path_factory):
    """One preprocessing cache for the module, filled before timing (every job prepares the same videos)."""
    previous = os.environ.get("ANOBENCH_CACHE_DIR")
    os.environ["ANOBENCH_CACHE_DIR"] = str(tmp_path_factory.mktemp("cache"))
    warm = tmp_path_factory.mktemp("warm")
    for shape in (TINY, LONGER):
        run(requests(warm, shape)[0])
    yield
    if previous is None:
        os.environ.pop("ANOBENCH_CACHE_DIR", None)
    else:
        os.environ["ANOBENCH_CACHE_DIR"] = previous


def test_serial_sweep_overhead_against_a_plain_loop(benchmark, tmp_path):
    loops, sweeps = [], []

    def loop():
        started = time.perf_counter()
        for request in requests(tmp_path / "loop", TINY):
            run(request)
        return time.perf_counter() - started

    for _ in range(3):  # alternate, so a busy spell on the machine hits both sides
        loops.append(loop())
        seconds, result = timed_sweep(tmp_path / "sweep", TINY, "serial", "always")
        assert result.count("done") == N_JOBS
        sweeps.append(seconds)
    benchmark.pedantic(lambda: timed_sweep(tmp_path / "sweep", TINY, "serial", "always"), rounds=1, iterations=1)
    ratio = min(sweeps) / min(loops)
    timings.update(loop_8_jobs=min(loops), serial_sweep_8_jobs=min(sweeps), serial_over_loop=ratio)
    print(f"\nplain loop {min(loops):.2f} s (rounds {', '.join(f'{s:.2f}' for s in loops)}); serial sweep "
          f"{min(sweeps):.2f} s (rounds {', '.join(f'{s:.2f}' for s in sweeps)}); ratio {ratio:.3f}")
    assert ratio <= 1.10


def test_dask_on_two_workers_beats_serial_and_resume_is_cheap(benchmark, tmp_path):
    pytest.importorskip("distributed")
    serial_seconds, serial = timed_sweep(tmp_path / "serial", LONGER, "serial", "always")
    assert serial.count("done") == N_JOBS
    dask_seconds, dasked = benchmark.pedantic(
        lambda: timed_sweep(tmp_path / "dask", LONGER, "dask", "always", workers=2, threads_per_job=1),
        rounds=1, iterations=1)
    assert dasked.count("done") == N_JOBS
    resumed_seconds, resumed = timed_sweep(tmp_path / "serial", LONGER, "serial", "never")
    assert resumed.count("skipped") == N_JOBS
    timings.update(serial_sweep=serial_seconds, dask_sweep=dask_seconds, resumed_sweep=resumed_seconds)
    print(f"\nserial {serial_seconds:.2f} s, dask 2 workers {dask_seconds:.2f} s "
          f"({serial_seconds / dask_seconds:.2f}x); resumed {resumed_seconds:.3f} s "
          f"({resumed_seconds / serial_seconds:.2%} of the first sweep)")
    assert dask_seconds < serial_seconds
    assert resumed_seconds < 0.05 * serial_seconds
