"""Process safety (issue 13): bounded sweep plans, an authenticated local Dask cluster, no orphaned workers, and a
per-run lock so that two sweeps never run the same job at once."""

from __future__ import annotations

import json
import tracemalloc

import pytest

from bench_core import sweep
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
        with Client(cluster) as client:  # the sweep's own client has the credentials
            assert client.submit(operator.add, 1, 1).result() == 2
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
