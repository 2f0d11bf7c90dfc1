"""Sweeps: a grid of runs (detectors × datasets × seeds × --grid settings) that survives interruption.

Each job is one ``anobench run``; its id is the run id that :func:`bench_core.run.plan_run` derives from the
detector, its version and resolved config, the dataset fingerprint, the seed, the protocol and the scorers, and
its folder is the run's folder. A job is therefore *complete* when its ``record.json`` exists, *failed* when the
folder holds only ``failed.json`` (the error, written by the job itself), and *missing* otherwise, so a sweep that
is run again (or after a kill) picks up exactly what is left:

- ``--overwrite never`` (default): run missing jobs only; complete and failed ones are kept as they are.
- ``--overwrite failed``: run missing and failed jobs.
- ``--overwrite always``: run every job again.

A job killed midway (Ctrl-C, a lost worker) leaves neither file, so it counts as missing and runs again; detectors
that checkpoint their epochs continue training from the last one (``RunRequest.resume``).
"""

from __future__ import annotations

import dataclasses
import datetime
import itertools
import json
import platform
import shlex
import time
import traceback
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterable, Sequence

from bench_core import records
from bench_core.calibration import DEFAULT_HOLDOUT
from bench_core.errors import AnobenchError, UsageError
from bench_core.plugins import Catalogue, get_catalogue
from bench_core.progress import Progress
from bench_core.run import RunPlan, RunRequest, execute, plan_run
from bench_core.runners import Runner, RunnerOptions, SweepEvents  # noqa: F401 (re-exported for runner authors)

FAILURE_FILE = "failed.json"
SWEEP_LOG = "sweeps.json"
OVERWRITE_POLICIES = ("never", "failed", "always")


@dataclass
class Job:
    """One run of a sweep. Picklable: workers re-plan it from the request (plans hold classes and datasets)."""

    request: RunRequest
    run_id: str
    path: Path
    label: str
    resumable: bool = False
    #: The plan made while sweeping, reused when the job runs in the same process; never sent to workers.
    plan: RunPlan | None = field(default=None, repr=False, compare=False)

    def __getstate__(self) -> dict:
        return {**self.__dict__, "plan": None}


@dataclass
class JobOutcome:
    job: Job
    status: str  # "done", "failed" or "skipped"
    seconds: float = 0.0
    metrics: dict = field(default_factory=dict)
    error: str | None = None
    #: Raised outside the job's own code (lost worker, broken pool): not written to disk, so a re-run retries it.
    infrastructure: bool = False


@dataclass
class SweepResult:
    outcomes: list[JobOutcome]
    seconds: float

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def exit_code(self) -> int:
        return 1 if self.count("failed") else 0

    def as_dict(self) -> dict:
        return {
            "done": self.count("done"), "skipped": self.count("skipped"), "failed": self.count("failed"),
            "seconds": round(self.seconds, 3),
            "jobs": [
                {"job": o.job.label, "run_id": o.job.run_id, "path": str(o.job.path), "status": o.status,
                 "seconds": round(o.seconds, 3), "frame_auroc_micro": o.metrics.get("frame_auroc_micro"),
                 "error": o.error}
                for o in self.outcomes
            ],
        }


# -- the grid ----------------------------------------------------------------------------------------------------

def split_list(text: str, option: str) -> list[str]:
    items = [item.strip() for item in text.split(",") if item.strip()]
    if not items:
        raise UsageError(f"{option} {text!r} names nothing", hint="give comma-separated values, e.g. a,b")
    return items


def parse_seeds(text: str) -> list[int]:
    seeds = []
    for item in split_list(text, "--seeds"):
        if "-" in item.lstrip("-") and not item.startswith("-"):  # a range "0-4"
            low, _, high = item.partition("-")
            if low.isdigit() and high.isdigit() and int(low) <= int(high):
                seeds.extend(range(int(low), int(high) + 1))
                continue
        try:
            seeds.append(int(item))
        except ValueError:
            raise UsageError(f"--seeds: {item!r} is not a seed", hint="give integers or ranges, e.g. 0,1,2 or 0-4") \
                from None
    return list(dict.fromkeys(seeds))


def parse_grid(items: Iterable[str]) -> list[tuple[str, list[str]]]:
    """``["view=frames,skeleton", "lr=0.01,0.001"]`` → ``[("view", [...]), ("lr", [...])]``, in the order given."""
    axes: dict[str, list[str]] = {}
    for item in items:
        key, sep, values = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageError(f"--grid {item!r} is not key=value1,value2", hint="e.g. --grid view=frames,skeleton")
        if key in axes:
            raise UsageError(f"--grid names '{key}' twice", hint="give all its values in one --grid key=a,b")
        axes[key] = split_list(values, f"--grid {key}=")
    return list(axes.items())


def expand(base: RunRequest, detectors: Sequence[str], datasets: Sequence[str], seeds: Sequence[int],
           grid: Sequence[tuple[str, list[str]]] = ()) -> list[RunRequest]:
    """The cartesian product, ordered dataset → detector → grid point → seed (the leaderboard's row order)."""
    keys = [key for key, _ in grid]
    points = list(itertools.product(*[values for _, values in grid])) if grid else [()]
    requests = []
    for dataset in datasets:
        for detector in detectors:
            for point in points:
                settings = list(base.settings) + [f"{k}={v}" for k, v in zip(keys, point)]
                for seed in seeds:
                    requests.append(replace(base, detector=detector, dataset=dataset, seed=seed,
                                            settings=settings, data_options=list(base.data_options)))
    return requests


def plan_jobs(requests: Sequence[RunRequest], catalogue: Catalogue | None = None) -> list[Job]:
    """Resolve every request before anything runs, so a misspelled name or setting is a usage error up front.

    Requests that resolve to the same run (e.g. a --grid value equal to the preset's) become one job.
    """
    catalogue = catalogue or get_catalogue()
    jobs: dict[str, Job] = {}
    for request in requests:
        plan = plan_run(request, catalogue)
        if plan.run_id in jobs:
            continue
        label = f"{request.detector} / {request.dataset} / seed {request.seed}" + "".join(
            f" {item}" for item in request.settings)
        jobs[plan.run_id] = Job(request, plan.run_id, plan.path, label, bool(plan.detector_cls.supports_resume),
                                plan)
    return list(jobs.values())


# -- state on disk -----------------------------------------------------------------------------------------------

def job_state(job: Job) -> str:
    """``complete``, ``failed`` or ``missing``, read from the job's folder."""
    if records.is_complete(job.path):
        return "complete"
    if (job.path / FAILURE_FILE).is_file():
        return "failed"
    return "missing"


def to_run(jobs: Sequence[Job], overwrite: str) -> tuple[list[Job], list[Job]]:
    """Split jobs into (to run, to skip) by the overwrite policy (see the module docstring)."""
    if overwrite not in OVERWRITE_POLICIES:
        raise UsageError(f"--overwrite {overwrite!r} is not a policy", hint="use never, failed or always")
    run, skip = [], []
    for job in jobs:
        state = job_state(job)
        rerun = overwrite == "always" or state == "missing" or (overwrite == "failed" and state == "failed")
        (run if rerun else skip).append(job)
    return run, skip


def write_failure(job: Job, exc: BaseException) -> None:
    hint = getattr(exc, "hint", None)
    records.atomic_write_json(job.path / FAILURE_FILE, {
        "run_id": job.run_id,
        "job": job.label,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "host": platform.node(),
        "error": {
            "type": type(exc).__name__,
            "message": " ".join(str(getattr(exc, "message", exc)).split()),
            "hint": hint,
            "traceback": "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)),
        },
        "request": json.loads(json.dumps(dataclasses.asdict(job.request), default=str)),
    })


def load_failure(path: Path) -> dict:
    return json.loads((Path(path) / FAILURE_FILE).read_text())


# -- executing one job (in whichever process the runner chose) ---------------------------------------------------

def run_job(job: Job, threads: int | None = None, progress: Progress | None = None,
            raise_unexpected: bool = False) -> JobOutcome:
    """Execute one job; a failure is written to its folder (``failed.json``) and returned, not raised.

    ``threads`` sets torch's intra-op threads for this worker (parallel runners share the cores among jobs).
    With ``raise_unexpected`` an error that is not an anobench error (a lost device, out of memory...) is raised
    after being written, so an engine with retries (dask) can try the job again elsewhere.
    """
    started = time.perf_counter()
    if threads:
        import torch

        torch.set_num_threads(threads)
    try:
        # In the sweep's own process the plan is already made; a worker makes its own from the request.
        plan = replace(job.plan, request=job.request) if job.plan is not None else plan_run(job.request)
        if plan.run_id != job.run_id:
            # The worker resolved a different run (another plugin version or dataset there): refuse to write it
            # under the id the sweep expects.
            raise UsageError(f"job {job.label}: this worker resolves run id {plan.run_id}, the sweep planned "
                             f"{job.run_id}", hint="install the same anobench, plugins and data on every worker")
        record = execute(plan, progress)
    except KeyboardInterrupt:
        raise
    except Exception as exc:
        try:
            write_failure(job, exc)
        except Exception:  # noqa: BLE001 - an unwritable folder must not hide the job's own error
            pass  # the outcome still carries the error to the sweep
        if raise_unexpected and not isinstance(exc, AnobenchError):
            raise
        message = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
        return JobOutcome(job, "failed", time.perf_counter() - started, error=" ".join(str(message).split()))
    return JobOutcome(job, "done", time.perf_counter() - started, metrics=dict(record.get("metrics", {})))


def skipped_outcome(job: Job) -> JobOutcome:
    state = job_state(job)
    if state == "complete":
        metrics = records.load_record(job.path).get("metrics", {})
        return JobOutcome(job, "skipped", metrics=metrics)
    failure = load_failure(job.path)["error"]
    # A failed job kept by --overwrite never still counts as failed: the grid is not complete.
    return JobOutcome(job, "failed", error=f"{failure['message']} (kept from an earlier sweep; "
                                           "--overwrite failed runs it again)")


# -- the sweep ---------------------------------------------------------------------------------------------------

def load_runner(name: str, options: RunnerOptions, catalogue: Catalogue | None = None) -> Runner:
    catalogue = catalogue or get_catalogue()
    runner_cls = catalogue.get("runner", name, "--runner").load()
    runner = runner_cls(options)
    runner.name = name
    return runner


def run_sweep(jobs: Sequence[Job], runner: Runner, overwrite: str = "never", events: SweepEvents | None = None,
              command: str | None = None, out: Path | None = None) -> SweepResult:
    """Run what the overwrite policy says, yielding nothing until the end; outcomes keep the jobs' order."""
    events = events or SweepEvents()
    started = time.perf_counter()
    pending, skipped = to_run(jobs, overwrite)
    # A job that was killed midway continues its training from the last epoch checkpoint; "always" starts afresh.
    pending = [replace(job, request=replace(job.request, resume=job.resumable and overwrite != "always"))
               for job in pending]
    if command and out is not None:
        log_sweep(out, command, jobs)
    by_id: dict[str, JobOutcome] = {job.run_id: skipped_outcome(job) for job in skipped}
    for outcome in runner.run(pending, events):
        events.job_finished(outcome)
        by_id[outcome.job.run_id] = outcome
    for job in pending:  # a runner that lost a job without saying so must not make it vanish from the summary
        by_id.setdefault(job.run_id, JobOutcome(job, "failed", error="the runner returned no result",
                                                infrastructure=True))
    return SweepResult([by_id[job.run_id] for job in jobs], time.perf_counter() - started)


def log_sweep(out: Path, command: str, jobs: Sequence[Job]) -> None:
    """Remember the sweep command beside its runs, so a leaderboard can print the one command that rebuilds it."""
    path = Path(out) / SWEEP_LOG
    with records.exclusive(path):
        try:
            entries = json.loads(path.read_text()) if path.is_file() else []
        except (OSError, ValueError):
            entries = []
        entries = [e for e in entries if e.get("command") != command]
        entries.append({"command": command, "run_ids": sorted(job.run_id for job in jobs)})
        records.atomic_write_json(path, entries)


def read_sweep_log(out: Path) -> list[dict]:
    path = Path(out) / SWEEP_LOG
    try:
        return json.loads(path.read_text()) if path.is_file() else []
    except (OSError, ValueError):
        return []


def reproduce_command(base: RunRequest, detectors: str, datasets: str, seeds: str, grid: Sequence[str]) -> str:
    """The sweep command with every option that changes results (runner options do not) spelled out."""
    parts = ["anobench", "sweep", "--detectors", detectors, "--datasets", datasets, "--seeds", seeds,
             "--preset", base.preset]
    for item in base.settings:
        parts += ["--set", item]
    for item in grid:
        parts += ["--grid", item]
    for item in base.data_options:
        parts += ["--data-option", item]
    if base.normalization != "minmax-per-video":
        parts += ["--normalization", base.normalization]
    if base.smoothing_sigma:
        parts += ["--smoothing-sigma", f"{base.smoothing_sigma:g}"]
    if base.calibration_holdout != DEFAULT_HOLDOUT:
        parts += ["--calibration-holdout", f"{base.calibration_holdout:g}"]
    if tuple(base.scorers) != ("frame-auroc",):
        for scorer in base.scorers:
            parts += ["--scorer", scorer]
    if base.device != "auto":
        parts += ["--device", base.device]
    parts += ["--out", str(base.out)]
    return " ".join(shlex.quote(p) for p in parts)
