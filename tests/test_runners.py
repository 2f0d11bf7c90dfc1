"""Runners: the built-in process pool and Dask LocalCluster on the toy plugin, and a runner from a plugin."""

from __future__ import annotations

import pytest

from bench_core import hookimpl, records, sweep
from bench_core.plugins import get_catalogue, pm
from bench_core.runners import Runner, RunnerOptions
from test_sweep import invoke, toy_jobs

pytestmark = pytest.mark.usefixtures("toy_plugin")


def test_the_built_in_runners_are_registered_lazily():
    catalogue = get_catalogue()
    assert {"serial", "process", "dask"} <= set(catalogue.names("runner"))
    assert catalogue.get("runner", "dask").target == "anobench_runners.dask_runner:DaskRunner"


def test_the_process_runner_gives_the_same_records_as_serial(tmp_path):
    serial_jobs = toy_jobs(tmp_path / "serial", seeds=(0, 1, 2), grid=[("scale", ["1", "nan"])])
    pool_jobs = toy_jobs(tmp_path / "pool", seeds=(0, 1, 2), grid=[("scale", ["1", "nan"])])
    expected = sweep.run_sweep(serial_jobs, sweep.load_runner("serial", RunnerOptions()))
    result = sweep.run_sweep(pool_jobs, sweep.load_runner("process", RunnerOptions(workers=2, threads_per_job=1)))
    assert [o.status for o in result.outcomes] == [o.status for o in expected.outcomes]
    assert result.count("failed") == 3 and all((j.path / sweep.FAILURE_FILE).is_file() for j in pool_jobs[3:])
    for mine, theirs in zip(result.outcomes, expected.outcomes):
        assert mine.metrics == theirs.metrics
    assert records.load_record(pool_jobs[0].path)["timing"]["torch_threads"] == 1


def test_the_dask_runner_on_a_local_cluster(tmp_path):
    pytest.importorskip("distributed")
    jobs = toy_jobs(tmp_path, seeds=(0, 1, 2), grid=[("scale", ["1", "nan"])])
    runner = sweep.load_runner("dask", RunnerOptions(workers=2, threads_per_job=1))
    runner.processes = False  # threads in this process see the inline toy plugin; processes would not
    result = sweep.run_sweep(jobs, runner)
    assert [o.status for o in result.outcomes] == ["done"] * 3 + ["failed"] * 3
    assert all(records.is_complete(j.path) for j in jobs[:3])
    assert "non-finite" in result.outcomes[3].error and not result.outcomes[3].infrastructure
    again = sweep.run_sweep(jobs, runner, overwrite="failed")
    assert [o.status for o in again.outcomes] == ["skipped"] * 3 + ["failed"] * 3


class OneByOneRunner(Runner):
    """What a third party writes for another engine: here, jobs in reverse order in this process."""

    in_process = True
    seen: list[str] = []

    def run(self, jobs, events):
        for job in reversed(jobs):
            events.job_started(job)
            OneByOneRunner.seen.append(job.run_id)
            yield sweep.run_job(job, progress=events.job_progress(job))


class RunnerPlugin:
    __name__ = "reverse-runner"

    @hookimpl
    def register_runners(self, register):
        register("reverse", OneByOneRunner, summary="jobs in reverse order")


def test_a_plugin_can_add_a_runner(tmp_path):
    pm.register(RunnerPlugin(), name="reverse-runner")
    try:
        result = invoke("sweep", "--detectors", "toy-detector", "--datasets", "toy-dataset", "--seeds", "0,1",
                        "--runner", "reverse", "--device", "cpu", "--out", str(tmp_path))
        assert result.exit_code == 0, result.output
        jobs = toy_jobs(tmp_path, seeds=(0, 1))
        assert OneByOneRunner.seen == [jobs[1].run_id, jobs[0].run_id]
        assert all(records.is_complete(j.path) for j in jobs)
    finally:
        pm.unregister(name="reverse-runner")
    assert "reverse" not in get_catalogue().names("runner")


def test_the_dask_runner_says_how_to_install_dask(monkeypatch, tmp_path):
    import builtins

    real_import = builtins.__import__

    def no_dask(name, *args, **kwargs):
        if name.startswith(("dask", "distributed")):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_dask)
    runner = sweep.load_runner("dask", RunnerOptions())
    with pytest.raises(sweep.UsageError, match=r"anobench\[dask\]"):
        list(runner.run(toy_jobs(tmp_path, seeds=(0,)), sweep.SweepEvents()))


def test_the_dask_runner_connects_to_a_given_scheduler(tmp_path):
    distributed = pytest.importorskip("distributed")
    # An in-process cluster stands in for 'dask scheduler' + 'dask worker' on other machines.
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  dashboard_address=None) as cluster:
        result = invoke("sweep", "--detectors", "toy-detector", "--datasets", "toy-dataset", "--seeds", "0-2",
                        "--runner", "dask", "--scheduler", cluster.scheduler_address, "--threads-per-job", "1",
                        "--device", "cpu", "--out", str(tmp_path), "--json")
    assert result.exit_code == 0, result.output
    assert [job["status"] for job in __import__("json").loads(result.stdout[result.stdout.index("{"):])["jobs"]] \
        == ["done"] * 3
    assert len(list(records.iter_records(tmp_path))) == 3


def test_local_dask_workers_start_without_dasks_malloc_trim_setting():
    # MALLOC_TRIM_THRESHOLD_=65536 (dask's default for worker processes) made torch training 1.5x slower.
    pytest.importorskip("distributed")
    import os

    from dask.distributed import Client

    from anobench_runners.dask_runner import local_cluster

    with local_cluster(1, processes=True) as cluster, Client(cluster) as client:
        environ = client.run(lambda: {k: os.environ.get(k) for k in ("MALLOC_TRIM_THRESHOLD_", "OMP_NUM_THREADS")})
    (worker_environ,) = environ.values()
    assert worker_environ == {"MALLOC_TRIM_THRESHOLD_": None, "OMP_NUM_THREADS": "1"}
