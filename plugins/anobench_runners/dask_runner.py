"""The Dask distributed runner: jobs as tasks on a cluster (an existing scheduler, or a LocalCluster)."""

from __future__ import annotations

import os
import uuid
from typing import Iterator, Sequence

from bench_core.errors import UsageError
from bench_core.runners import Runner, SweepEvents
from bench_core.sweep import Job, JobOutcome, run_job


def run_on_worker(job: Job) -> JobOutcome:
    """Runs on a dask worker, on the job's own torch thread count (part of its run id)."""
    # Unexpected errors are raised (after failed.json is written) so that dask's retries can move the job.
    return run_job(job, raise_unexpected=True)


def local_cluster(workers: int, processes: bool, **network):
    """A LocalCluster of one-thread workers. Dask's nanny starts worker processes with MALLOC_TRIM_THRESHOLD_=65536,
    which makes glibc hand memory back after every small free: torch training (many small tensors) ran 1.5x slower
    in such a worker (srnn, measured). Local workers start without it; the thread limits dask sets are kept."""
    import dask
    from dask.distributed import LocalCluster

    environ = {key: value for key, value in dask.config.get("distributed.nanny.pre-spawn-environ", {}).items()
               if key != "MALLOC_TRIM_THRESHOLD_"}
    with dask.config.set({"distributed.nanny.pre-spawn-environ": environ}):
        return LocalCluster(n_workers=workers, threads_per_worker=1, processes=processes, dashboard_address=None,
                            **network)


class DaskRunner(Runner):
    """Connects to ``--scheduler`` or starts a LocalCluster bound to 127.0.0.1 with one thread per worker."""

    #: LocalCluster workers as processes (real parallelism); tests use threads, which see inline plugins.
    processes = True

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
            try:
                client = Client(self.options.scheduler, timeout="30s")
            except OSError as exc:
                raise UsageError(f"--scheduler {self.options.scheduler}: cannot connect ({exc})",
                                 hint="start 'dask scheduler' there, or leave --scheduler out for a local cluster") \
                    from None
            workers = max(1, len(client.nthreads()))
        else:
            workers = min(len(jobs), self.options.workers or os.cpu_count() or 1)
            # Bound to loopback: nothing outside this machine can reach the scheduler or the workers. Thread
            # workers talk in-process (inproc://), with no socket at all.
            network = {"host": "127.0.0.1"} if self.processes else {}
            cluster = local_cluster(workers, self.processes, **network)
            client = Client(cluster)
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
