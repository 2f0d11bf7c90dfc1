"""Process safety (issue 13): bounded sweep plans, an authenticated local Dask cluster, no orphaned workers, and a
per-run lock so that two sweeps never run the same job at once."""

from __future__ import annotations

import contextlib
import json
import os
import time
import tracemalloc

import pytest

from bench_core import records, sweep
from bench_core.errors import UsageError
from bench_core.run import plan_run
from test_sweep import invoke, toy_jobs

pytestmark = pytest.mark.usefixtures("toy_plugin")

TOY_SWEEP = ("sweep", "--detectors", "toy-detector", "--datasets", "toy-dataset", "--device", "cpu")


# -- bounded plans -----------------------------------------------------------------------------------------------

def test_a_huge_seed_range_is_refused_before_anything_is_listed(tmp_path):
    tracemalloc.start()
    try:
        with pytest.raises(UsageError, match=r"--seeds 0-99999999: 100,000,000 jobs, more than --max-jobs 10,000"):
            sweep.parse_seeds("0-99999999")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000, f"refusing the range allocated {peak:,} bytes"
    result = invoke(*TOY_SWEEP, "--seeds", "0-99999999", "--out", str(tmp_path))
    assert result.exit_code == 2 and "more than --max-jobs 10,000" in result.output
    assert "--max-jobs N" in result.output and not any(tmp_path.iterdir())


def test_seeds_are_counted_once_where_ranges_overlap():
    assert sweep.parse_seeds("0-9,5-14,3", max_jobs=15) == list(range(15))
    with pytest.raises(UsageError, match="16 jobs"):
        sweep.parse_seeds("0-9,5-14,3,20", max_jobs=15)


def test_the_whole_grid_is_counted_before_it_is_planned(tmp_path, monkeypatch):
    planned = []
    monkeypatch.setattr(sweep, "plan_run", lambda *args: planned.append(args) or pytest.fail("planned"))
    refused = invoke(*TOY_SWEEP, "--seeds", "0-1", "--grid", "scale=1,2", "--grid", "window=2,3", "--max-jobs", "7",
                     "--out", str(tmp_path))
    assert refused.exit_code == 2, refused.output
    assert "1 detectors × 1 datasets × 2 seeds × 4 --grid points: 8 jobs, more than --max-jobs 7" in refused.output
    assert not planned
    # a grid whose product is astronomically large is refused without building it
    with pytest.raises(UsageError, match="more than --max-jobs"):
        sweep.expand(sweep.RunRequest("", "", out=tmp_path), ["a"], ["b"], [0],
                     [(f"k{i}", [str(v) for v in range(10)]) for i in range(12)])


def test_max_jobs_allows_a_larger_sweep(tmp_path):
    result = invoke(*TOY_SWEEP, "--seeds", "0-1", "--grid", "scale=1,2", "--max-jobs", "4", "--out", str(tmp_path),
                    "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout[result.stdout.index("{"):])["done"] == 4


def test_jobs_on_one_dataset_share_one_checked_dataset(tmp_path):
    jobs = toy_jobs(tmp_path, seeds=range(5))
    assert len({id(job.plan.dataset) for job in jobs}) == 1
    # the same run ids as plans made one by one, each with its own dataset
    assert [plan_run(job.request).run_id for job in jobs] == [job.run_id for job in jobs]


# -- an authenticated local Dask cluster ----------------------------------------------------------------------------

def _listening(pids) -> set[tuple[int, int]]:
    """(pid, port) of every listening TCP socket of these processes."""
    import psutil

    found = set()
    for pid in pids:
        try:
            connections = psutil.Process(pid).net_connections(kind="inet")
        except psutil.Error:
            continue
        found |= {(pid, c.laddr.port) for c in connections if c.status == psutil.CONN_LISTEN}
    return found


def _finalize_failed_clients() -> None:
    """A Client whose connection failed is left in a reference cycle; when a later collection finalizes it while
    another Client starts, its __del__ waits for dask's loop lock that the starting one holds, and the test hangs
    (seen here). Collect such clients at once."""
    import gc

    gc.collect()


def _answers_http(port: int) -> bool:
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", "/health")
        connection.getresponse()
        return True
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()


def test_the_local_cluster_refuses_clients_without_its_credentials_and_serves_no_http():
    pytest.importorskip("cryptography")
    import operator
    import os

    import psutil
    from distributed import Client
    from distributed.security import Security

    from anobench_runners.dask_runner import local_cluster

    before = _listening([os.getpid()])
    with local_cluster(1, processes=True) as cluster:
        address = cluster.scheduler_address
        assert address.startswith("tls://127.0.0.1:")
        with Client(cluster, timeout="60s") as client:  # the sweep's own client has the credentials
            assert client.submit(operator.add, 1, 1).result(timeout=60) == 2
        pids = [os.getpid()] + [p.pid for p in psutil.Process().children(recursive=True)]
        ports = _listening(pids) - before
        # the scheduler, the nanny and the worker; each on loopback, and none speaks HTTP (no dashboard, no
        # /health or /metrics): dask's own HTTP servers are closed
        assert len(ports) == 3, ports
        assert not [port for _, port in ports if _answers_http(port)]
        # a client with no TLS settings, one without TLS, and one with its own certificate (trusting the
        # cluster's, which anyone can read off a handshake) are all refused
        stranger = Security.temporary()
        intruder = Security(tls_ca_file=cluster.security.tls_ca_file, tls_client_cert=stranger.tls_client_cert,
                            tls_client_key=stranger.tls_client_key, require_encryption=True)
        for attempt in ({"address": address}, {"address": address.replace("tls://", "tcp://")},
                        {"address": address, "security": intruder}):
            with pytest.raises(Exception):  # noqa: B017 - dask raises TypeError, OSError or CommClosedError
                Client(timeout="5s", **attempt).close()
            _finalize_failed_clients()


def test_the_dashboard_is_served_on_loopback_only_when_asked():
    pytest.importorskip("distributed")
    import os

    from anobench_runners.dask_runner import local_cluster

    before = _listening([os.getpid()])
    with local_cluster(1, processes=False) as cluster:  # threads: the scheduler and worker in this process
        assert not (_listening([os.getpid()]) - before)
    with local_cluster(1, processes=False, dashboard=True) as cluster:
        (port,) = {port for _, port in _listening([os.getpid()]) - before}
        assert cluster.scheduler.http_server.address == "127.0.0.1" and _answers_http(port)


def test_sweep_dashboard_serves_the_local_clusters_dashboard(tmp_path, monkeypatch):
    pytest.importorskip("distributed")
    from anobench_runners.dask_runner import DaskRunner

    monkeypatch.setattr(DaskRunner, "processes", False)  # threads see the inline toy plugin
    args = (*TOY_SWEEP, "--runner", "dask", "--workers", "1", "--out", str(tmp_path))
    quiet = invoke(*args)
    assert quiet.exit_code == 0, quiet.output
    assert "dask dashboard" not in quiet.output
    shown = invoke(*args, "--seeds", "1", "--dashboard")
    assert shown.exit_code == 0, shown.output
    assert "dask dashboard: http://127.0.0.1:" in shown.output


@pytest.mark.parametrize("address, complaint", [
    ("foo://x", "unknown scheme 'foo://'"),
    ("tcp://", "needs a host and a port"),
    ("tcp://host:notaport", "is not an address"),
    ("tcp://host:99999", "needs a host and a port"),
    ("tcp://:::", "is not an address"),
])
def test_a_bad_scheduler_address_is_a_usage_error_before_anything_is_planned(tmp_path, monkeypatch, address,
                                                                             complaint):
    pytest.importorskip("distributed")
    monkeypatch.setattr(sweep, "plan_run", lambda *args: pytest.fail("planned"))
    result = invoke(*TOY_SWEEP, "--runner", "dask", "--scheduler", address, "--out", str(tmp_path))
    assert result.exit_code == 2, result.output
    (line,) = [line for line in result.output.splitlines() if line.strip()]
    assert line.startswith(f"error: --scheduler {address!r}") and complaint in line, line
    assert "tcp://HOST:8786" in line


def test_a_secured_scheduler_is_used_with_dasks_own_tls_settings(tmp_path):
    """The route docs/scaling.md documents: DASK_DISTRIBUTED__COMM__TLS__* variables (or a dask config file)."""
    pytest.importorskip("cryptography")
    import dask
    from distributed import LocalCluster
    from distributed.security import Security

    credentials = Security.temporary()  # stands in for the files an administrator makes with openssl
    (tmp_path / "ca.pem").write_text(credentials.tls_ca_file)
    (tmp_path / "key.pem").write_text(credentials.tls_client_key)
    # the scheduler as 'dask scheduler --tls-ca-file ca.pem --tls-cert ca.pem --tls-key key.pem' starts it
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, protocol="tls://", host="127.0.0.1",
                      security=credentials, dashboard_address=None) as cluster:
        args = (*TOY_SWEEP, "--runner", "dask", "--scheduler", cluster.scheduler_address, "--threads-per-job", "1",
                "--out", str(tmp_path / "out"))
        refused = invoke(*args)
        _finalize_failed_clients()
        assert refused.exit_code == 2, refused.output
        assert f"error: --scheduler {cluster.scheduler_address}: cannot connect" in refused.output
        assert "distributed.comm.tls" in refused.output
        with pytest.MonkeyPatch.context() as environment:
            for name, value in {"REQUIRE_ENCRYPTION": "True", "TLS__CA_FILE": tmp_path / "ca.pem",
                                "TLS__CLIENT__CERT": tmp_path / "ca.pem",
                                "TLS__CLIENT__KEY": tmp_path / "key.pem"}.items():
                environment.setenv(f"DASK_DISTRIBUTED__COMM__{name}", str(value))
            dask.config.refresh()
            try:
                accepted = invoke(*args)
            finally:
                environment.undo()
                dask.config.refresh()
    assert accepted.exit_code == 0, accepted.output
    assert len(list((tmp_path / "out").rglob("record.json"))) == 1


# -- no orphaned workers --------------------------------------------------------------------------------------------

SLOW_SWEEP = '''
import os, sys, time
import torch  # noqa: F401 - once here, not in each forked worker
sys.path.insert(0, {tests!r})
from bench_core import hookimpl
from bench_core.cli import main
from bench_core.plugins import pm
from toy_plugin import ToyDetector, ToyPlugin


class SlowDetector(ToyDetector):
    def fit(self, train, progress):
        open(os.path.join({markers!r}, str(os.getpid())), "w").close()  # a worker is running a job
        time.sleep(120)


class SlowPlugin:
    __name__ = "slow"

    @hookimpl
    def register_detectors(self, register):
        register("slow-detector", SlowDetector, summary="a job that takes two minutes")


pm.register(ToyPlugin(), name="toy")
pm.register(SlowPlugin(), name="slow")
sys.argv = ["anobench", "sweep", "--detectors", "slow-detector", "--datasets", "toy-dataset", "--seeds", "0-5",
            "--runner", "process", "--workers", "2", "--threads-per-job", "1", "--device", "cpu", "--out", {out!r}]
main()
'''


@pytest.mark.skipif(not hasattr(os, "fork"), reason="the process runner's workers are forked on POSIX")
def test_a_killed_sweep_leaves_no_worker_running(tmp_path):
    import signal
    import subprocess
    import sys
    from pathlib import Path

    import psutil

    tests = str(Path(__file__).resolve().parent)
    sweeps = {}
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
        folder = tmp_path / signum.name
        (folder / "markers").mkdir(parents=True)
        script = folder / "sweep.py"
        script.write_text(SLOW_SWEEP.format(tests=tests, markers=str(folder / "markers"), out=str(folder / "out")))
        sweeps[signum] = (subprocess.Popen([sys.executable, str(script)], stdout=subprocess.DEVNULL,
                                           stderr=subprocess.PIPE, env={**os.environ, "OMP_NUM_THREADS": "1"}),
                          folder / "markers")
    workers = {}
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and any(len(list(m.iterdir())) < 2 for _, m in sweeps.values()):
            assert all(p.poll() is None for p, _ in sweeps.values()), "a sweep ended before its jobs started"
            time.sleep(0.2)
        for signum, (parent, markers) in sweeps.items():
            workers[signum] = [psutil.Process(int(m.name)) for m in markers.iterdir()]
            assert len(workers[signum]) == 2 and all(w.ppid() == parent.pid for w in workers[signum])
            parent.send_signal(signum)
        codes = {signum: parent.wait(timeout=60) for signum, (parent, _) in sweeps.items()}
        for signum, running in workers.items():
            _, alive = psutil.wait_procs(running, timeout=10)
            assert not alive, f"after {signum.name} of the sweep, workers {[w.pid for w in alive]} still run"
        assert codes == {signal.SIGINT: 130, signal.SIGTERM: 143, signal.SIGKILL: -signal.SIGKILL}, codes
        assert b"interrupted" in sweeps[signal.SIGTERM][0].stderr.read()
    finally:
        for parent, _ in sweeps.values():
            if parent.poll() is None:
                parent.kill()
            parent.stderr.close()
        for running in workers.values():
            for worker in running:
                with contextlib.suppress(psutil.Error):
                    worker.kill()


# -- one job, one run, however many sweeps -------------------------------------------------------------------------

def _sweep_in_child(out: str, report: str) -> None:
    result = sweep.run_sweep(toy_jobs(out, seeds=(0, 1)), sweep.load_runner("serial", sweep.RunnerOptions()))
    with open(report, "w") as handle:
        json.dump([o.status for o in result.outcomes], handle)


def _waiting_for_a_lock(pid: int) -> bool:
    """Whether process ``pid`` is blocked on a file lock (Linux's /proc/locks marks waiters with '->')."""
    with open("/proc/locks") as locks:
        return any("->" in line and str(pid) in line.split() for line in locks)


@pytest.mark.skipif(not os.path.exists("/proc/locks") or not hasattr(os, "fork"),
                    reason="watches Linux's /proc/locks; the lock is fcntl's")
def test_a_second_sweep_waits_for_a_job_the_first_is_running_and_does_not_run_it_again(tmp_path, monkeypatch):
    import multiprocessing

    executions = tmp_path / "executions"
    release = tmp_path / "release"
    real_execute = sweep.execute

    def held_execute(plan, progress=None):
        with open(executions, "a") as log:  # O_APPEND: one whole line per execution, from either sweep
            log.write(f"{os.getpid()} {plan.run_id}\n")
        while not release.exists():  # the first sweep holds its first job until the test lets it go
            time.sleep(0.05)
        return real_execute(plan, progress)

    monkeypatch.setattr(sweep, "execute", held_execute)
    context = multiprocessing.get_context("fork")
    first = context.Process(target=_sweep_in_child, args=(str(tmp_path / "out"), str(tmp_path / "first.json")))
    first.start()
    second = None
    try:
        deadline = time.monotonic() + 30
        while not executions.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert executions.exists(), "the first sweep did not start its job"
        second = context.Process(target=_sweep_in_child, args=(str(tmp_path / "out"), str(tmp_path / "second.json")))
        second.start()
        while not _waiting_for_a_lock(second.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _waiting_for_a_lock(second.pid), "the second sweep did not wait for the job's lock"
        release.touch()
        for process in (first, second):
            process.join(timeout=60)
            assert process.exitcode == 0
    finally:
        release.touch()
        for process in (first, second):
            if process is not None and process.is_alive():
                process.kill()
    ran = executions.read_text().splitlines()
    assert len(ran) == 2 and len({line.split()[1] for line in ran}) == 2, ran  # each job exactly once
    statuses = sorted(json.loads((tmp_path / name).read_text()) for name in ("first.json", "second.json"))
    # whichever took each job ran it; the other waited and found its record
    assert sorted(statuses[0] + statuses[1]) == ["done", "done", "skipped", "skipped"]
    assert all(records.is_complete(job.path) for job in toy_jobs(tmp_path / "out", seeds=(0, 1)))


def test_a_job_another_sweep_finished_since_it_was_chosen_is_not_run_again(tmp_path, monkeypatch):
    (job,) = toy_jobs(tmp_path, seeds=(0,))
    chosen = sweep.replace(job, state_seen=sweep.job_state(job))  # what run_sweep hands the runner: "missing"
    assert sweep.run_job(chosen).status == "done"  # ...and meanwhile another sweep ran it
    monkeypatch.setattr(sweep, "execute", lambda *args: pytest.fail("ran the job a second time"))
    again = sweep.run_job(chosen)
    assert again.status == "skipped" and again.metrics["frame_auroc_micro"] > 0.9
    # run_job called on its own (no state seen) runs what it is given, as before
    monkeypatch.undo()
    assert sweep.run_job(job).status == "done"
