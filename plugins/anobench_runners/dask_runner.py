"""The Dask distributed runner: jobs as tasks on a cluster (an existing scheduler, or a LocalCluster)."""

from __future__ import annotations

import os
import sys
import uuid
from typing import Iterator, Sequence

from bench_core.errors import UsageError
from bench_core.runners import Runner, SweepEvents
from bench_core.sweep import Job, JobOutcome, run_job


def run_on_worker(job: Job) -> JobOutcome:
    """Runs on a dask worker, on the job's own torch thread count (part of its run id)."""
    # Unexpected errors are raised (after failed.json is written) so that dask's retries can move the job.
    return run_job(job, raise_unexpected=True)


def local_cluster(workers: int, processes: bool, dashboard: bool = False):
    """A LocalCluster of one-thread workers that only this process can use.

    - Worker processes and their nannies listen on 127.0.0.1 only and speak TLS with a certificate made for this
      cluster (``Security.temporary()``, kept in memory): a client without it is refused, so another user of the
      machine cannot connect and run code as the sweep's user. Thread workers talk in-process (inproc://), with
      no socket at all.
    - No HTTP server: dask starts one on the scheduler (port 8787) and on every worker even without a dashboard.
      Their routes are emptied and each server is closed as soon as it has started (:func:`dask_setup`, run by
      dask as a preload). With ``dashboard`` the scheduler keeps its dashboard, on 127.0.0.1 only.
    - Dask's nanny starts worker processes with MALLOC_TRIM_THRESHOLD_=65536, which makes glibc hand memory back
      after every small free: torch training (many small tensors) ran 1.5x slower in such a worker (srnn,
      measured). Local workers start without it; the thread limits dask sets are kept.
    """
    import dask
    from dask.distributed import LocalCluster

    environ = {key: value for key, value in dask.config.get("distributed.nanny.pre-spawn-environ", {}).items()
               if key != "MALLOC_TRIM_THRESHOLD_"}
    config = {"distributed.nanny.pre-spawn-environ": environ,
              "distributed.worker.http.routes": [], "distributed.worker.preload": [__name__]}
    if not dashboard:
        config.update({"distributed.scheduler.http.routes": [], "distributed.scheduler.preload": [__name__]})
    network = {}
    if processes:
        from distributed.security import Security

        network = {"host": "127.0.0.1", "protocol": "tls://", "security": Security.temporary()}
    with dask.config.set(config):
        return LocalCluster(n_workers=workers, threads_per_worker=1, processes=processes,
                            dashboard_address="127.0.0.1:8787" if dashboard else None, **network)


def dask_setup(server) -> None:
    """Dask preload (see :func:`local_cluster`): close the HTTP server a scheduler or worker has just started."""
    http_server = getattr(server, "http_server", None)
    if http_server is not None:
        http_server.stop()
        server.services.pop("dashboard", None)


def check_scheduler_address(address: str) -> None:
    """A usage error for an address Dask cannot use (an unknown scheme, no host, a bad port), before any work."""
    try:
        from distributed.comm import registry
        from distributed.comm.addressing import parse_address, parse_host_port
    except ImportError:
        return  # DaskRunner.run says how to install dask
    known = ", ".join(sorted(registry.backends))
    example = "e.g. tcp://HOST:8786, or tls://HOST:8786 for a secured cluster"
    try:
        scheme, location = parse_address(address)
    except ValueError as exc:
        raise UsageError(f"--scheduler {address!r} is not an address: {exc}", hint=example) from None
    if scheme not in registry.backends:
        raise UsageError(f"--scheduler {address!r}: unknown scheme '{scheme}://'", hint=f"{example}; dask knows "
                                                                                         f"{known}")
    if scheme == "inproc":  # a scheduler in this very process (tests, notebooks)
        return
    try:
        host, port = parse_host_port(location, 8786)
    except ValueError as exc:
        raise UsageError(f"--scheduler {address!r} is not an address: {exc}", hint=example) from None
    if not host or not 0 < int(port) < 65536:
        raise UsageError(f"--scheduler {address!r} is not an address: it needs a host and a port from 1 to 65535",
                         hint=example)


class DaskRunner(Runner):
    """Connects to ``--scheduler`` or starts a LocalCluster (TLS, 127.0.0.1 only) with one thread per worker."""

    #: LocalCluster workers as processes (real parallelism); tests use threads, which see inline plugins.
    processes = True

    def __init__(self, options=None):
        super().__init__(options)
        if self.options.scheduler:  # checked when the runner is chosen: before any job is planned or trained
            check_scheduler_address(self.options.scheduler)

    def run(self, jobs: Sequence[Job], events: SweepEvents) -> Iterator[JobOutcome]:
        if not jobs:
            return
        try:
            from dask.distributed import Client, as_completed
        except ImportError:
            raise UsageError("--runner dask needs Dask distributed, which is not installed",
                             hint='pip install "anobench[dask]"') from None
        cluster = None
        if self.options.scheduler:
            # The security settings are dask's own (distributed.comm.tls.*, from a dask config file or
            # DASK_DISTRIBUTED__COMM__TLS__* variables): see docs/scaling.md.
            try:
                client = Client(self.options.scheduler, timeout="30s")
            except (OSError, TypeError) as exc:  # TypeError: a tls:// address without TLS settings
                raise UsageError(f"--scheduler {self.options.scheduler}: cannot connect "
                                 f"({' '.join(str(exc).split())})",
                                 hint="start 'dask scheduler' there, or leave --scheduler out for a local cluster; "
                                      "for tls:// set distributed.comm.tls.* (docs/scaling.md)") from None
            workers = max(1, len(client.nthreads()))
        else:
            workers = min(len(jobs), self.options.workers or os.cpu_count() or 1)
            cluster = local_cluster(workers, self.processes, dashboard=self.options.dashboard)
            client = Client(cluster)  # with the cluster's own credentials
            if self.options.dashboard:
                # not cluster.dashboard_link, which names the machine's address where threads talk inproc://
                print(f"dask dashboard: http://127.0.0.1:{cluster.scheduler.http_server.port}/status",
                      file=sys.stderr)
        futures = {}
        try:
            for job in jobs:
                future = client.submit(run_on_worker, job, key=f"anobench-{job.run_id}-{uuid.uuid4().hex[:8]}",
                                       retries=self.options.retries, pure=False)
                futures[future] = job
            queue = list(jobs)
            for job in queue[:workers]:
                events.job_started(job)
            started = workers
            for future in as_completed(list(futures)):
                job = futures[future]
                try:
                    outcome = future.result()
                except Exception as exc:  # retries spent, or a worker lost too often (KilledWorker)
                    outcome = JobOutcome(job, "failed", error=f"{type(exc).__name__}: {' '.join(str(exc).split())}",
                                         infrastructure=not (job.path / "failed.json").is_file())
                if started < len(queue):
                    events.job_started(queue[started])
                    started += 1
                yield outcome
        finally:
            client.cancel(list(futures))
            client.close()
            if cluster is not None:
                cluster.close()
