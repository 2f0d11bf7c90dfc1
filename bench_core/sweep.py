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

import contextlib
import itertools
import math
import shlex
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterable, Sequence

from bench_core import records, results, schemas
from bench_core.config import build_config, check_seed, parse_assignments
from bench_core.errors import AnobenchError, DamagedFile, UsageError
from bench_core.plugins import Catalogue, get_catalogue
from bench_core.presets import FAST_PRESET, STANDARD_PRESET
from bench_core.progress import Progress
from bench_core.results import FAILURE_FILE, SWEEP_LOG  # noqa: F401 (the names sweeps have always offered)
from bench_core.run import DEFAULT_THREADS, RunPlan, RunRequest, execute, plan_run
from bench_core.runners import Runner, RunnerOptions, SweepEvents  # noqa: F401 (re-exported for runner authors)
from bench_core.variants import Variant, check_variants_differ

OVERWRITE_POLICIES = ("never", "failed", "always")
#: Jobs a sweep may hold without --max-jobs: a slip such as --seeds 0-99999999 is refused before anything is planned
#: (a plan costs memory and a dataset check), instead of filling the machine's memory.
MAX_JOBS = 10_000


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
    #: The job's state (job_state) when the sweep chose to run it; if it differs when the job starts, another
    #: sweep ran the job meanwhile. None: not known (run_job called directly).
    state_seen: str | None = field(default=None, compare=False)

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
    #: The job stopped on a damaged file (e.g. its training state): (path, reason, hint), named by the sweep.
    damaged: tuple[str, str, str | None] | None = None


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
        from bench_core.metrics import metric_catalogue

        metrics = metric_catalogue()
        return {
            "schema": schemas.SWEEP_SUMMARY, "done": self.count("done"), "skipped": self.count("skipped"), "failed": self.count("failed"),
            "seconds": round(self.seconds, 3),
            "jobs": [
                {"job": o.job.label, "run_id": o.job.run_id, "path": str(o.job.path), "status": o.status,
                 "seconds": round(o.seconds, 3),
                 # Each scorer's headline metric (frame-auroc's: frame_auroc_micro).
                 **{spec.name: o.metrics.get(spec.name) for spec in metrics.headlines(o.job.request.scorers)},
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


def parse_seeds(text: str, max_jobs: int = MAX_JOBS) -> list[int]:
    """``"0,2-4"`` → ``[0, 2, 3, 4]``; counted before being listed, so a huge range is refused without memory."""
    spans = []  # each item as a range, which costs nothing whatever its length
    for item in split_list(text, "--seeds"):
        if "-" in item.lstrip("-") and not item.startswith("-"):  # a range "0-4"
            low, _, high = item.partition("-")
            if low.isdigit() and high.isdigit() and int(low) <= int(high):
                check_seed(int(high), "--seeds")
                spans.append(range(int(low), int(high) + 1))
                continue
        try:
            seed = check_seed(int(item), "--seeds")
        except ValueError:
            raise UsageError(f"--seeds: {item!r} is not a seed", hint="give integers or ranges, e.g. 0,1,2 or 0-4") \
                from None
        spans.append(range(seed, seed + 1))
    check_job_count(_distinct(spans), max_jobs, f"--seeds {text}")
    return list(dict.fromkeys(itertools.chain.from_iterable(spans)))


def _distinct(spans: Sequence[range]) -> int:
    """How many distinct integers the ranges hold (overlaps counted once), without listing them."""
    count, covered = 0, None  # covered: the end of the union so far
    for span in sorted(spans, key=lambda r: r.start):
        start = span.start if covered is None else max(span.start, covered)
        count += max(0, span.stop - start)
        covered = span.stop if covered is None else max(covered, span.stop)
    return count


def check_job_count(count: int, max_jobs: int, what: str) -> None:
    if count > max_jobs:
        raise UsageError(f"{what}: {count:,} jobs, more than --max-jobs {max_jobs:,}",
                         hint="narrow the sweep, or allow more with --max-jobs N")


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


#: A --grid key with this prefix is an axis over a dataset option (``--grid data.scenes=01,02``), not a setting.
DATA_GRID_PREFIX = "data."


def check_grid(detectors: Sequence[str], grid: Sequence[tuple[str, list[str]]], base: RunRequest,
               catalogue: Catalogue | None = None) -> None:
    """Check every --grid value against each detector's settings before planning, so that an unknown key or a bad
    value is an error naming --grid (``expand`` folds grid points into the settings, whose errors name --set)."""
    catalogue = catalogue or get_catalogue()
    settings = parse_assignments(base.settings, "--set")
    for detector in detectors:
        detector_cls = catalogue.get("detector", detector, "--detectors").load()
        # No --preset: either default (bench_core/presets.py) may apply, depending on the dataset.
        presets = [base.preset] if base.preset is not None else [
            p for p in (STANDARD_PRESET, FAST_PRESET) if p in detector_cls.presets]
        for preset in presets:
            build_config(detector_cls.Config, detector_cls.presets, preset, settings, "--set",
                         f"detector '{detector}'")  # --set's own errors first, named as --set's
            for key, values in grid:
                if key.startswith(DATA_GRID_PREFIX):  # a dataset option: plan_run checks it
                    continue
                for value in values:
                    build_config(detector_cls.Config, detector_cls.presets, preset, {**settings, key: value},
                                 "--grid", f"detector '{detector}'")


def expand(base: RunRequest, detectors: Sequence[str], datasets: Sequence[str], seeds: Sequence[int],
           grid: Sequence[tuple[str, list[str]]] = (), max_jobs: int = MAX_JOBS,
           variants: Sequence[Variant] = ()) -> list[RunRequest]:
    """The cartesian product, ordered dataset → detector → variant → grid point → seed (the leaderboard's row
    order). A variant's settings come after --set's and the grid point's.

    Its size is counted first: more than ``max_jobs`` requests is a usage error, before any is made."""
    n_points = math.prod(len(values) for _, values in grid)
    factors = [f"{len(detectors)} detectors", f"{len(datasets)} datasets", f"{len(seeds)} seeds"]
    check_job_count(len(detectors) * len(datasets) * len(seeds) * n_points * max(len(variants), 1), max_jobs,
                    " × ".join(factors + ([f"{n_points} --grid points"] if grid else [])
                               + ([f"{len(variants)} variants"] if variants else [])))
    keys = [key for key, _ in grid]
    points = list(itertools.product(*[values for _, values in grid])) if grid else [()]
    requests = []
    for dataset in datasets:
        for detector in detectors:
            for variant, point in itertools.product(variants or [Variant("")], points):
                assigned = [(k, f"{k.removeprefix(DATA_GRID_PREFIX)}={v}") for k, v in zip(keys, point)]
                settings = list(base.settings) + [a for k, a in assigned if not k.startswith(DATA_GRID_PREFIX)]
                settings += variant.settings
                data_options = list(base.data_options) + [a for k, a in assigned if k.startswith(DATA_GRID_PREFIX)]
                for seed in seeds:
                    requests.append(replace(base, detector=detector, dataset=dataset, seed=seed,
                                            settings=settings, data_options=data_options, variant=variant.name))
    return requests


def plan_jobs(requests: Sequence[RunRequest], catalogue: Catalogue | None = None) -> list[Job]:
    """Resolve every request before anything runs, so a misspelled name or setting is a usage error up front.

    Requests that resolve to the same run (e.g. a --grid value equal to the preset's) become one job. Jobs on the
    same dataset share one checked Dataset object: each used to hold its own (5 MB and a second of checks a job
    on synthetic-avenue), now a plan costs a few KB (benchmarks/bench_plan.py).
    """
    catalogue = catalogue or get_catalogue()
    jobs: dict[str, Job] = {}
    datasets: dict = {}  # each dataset is made, checked and fingerprinted once, not once per job
    for request in requests:
        plan = plan_run(request, catalogue, datasets)
        if plan.run_id in jobs:
            check_variants_differ(jobs[plan.run_id].request, request)
            continue
        label = f"{request.detector} / {request.dataset} / seed {request.seed}" + "".join(
            f" {item}" for item in request.settings + request.data_options) + (
            f" [{request.variant}]" if request.variant else "")
        # plan.request: the request with its preset resolved (bench_core/presets.py), as records and failures say.
        jobs[plan.run_id] = Job(plan.request, plan.run_id, plan.path, label, bool(plan.detector_cls.supports_resume),
                                plan)
    return list(jobs.values())


# -- state on disk -----------------------------------------------------------------------------------------------

def job_state(job: Job) -> str:
    """``complete``, ``failed`` or ``missing``, read from the job's folder (``results.job_state``)."""
    return results.job_state(job.path)


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
    results.write_failure(job.path, job.run_id, job.label, exc, job.request)


# -- executing one job (in whichever process the runner chose) ---------------------------------------------------

def run_job(job: Job, threads: int | None = None, progress: Progress | None = None,
            raise_unexpected: bool = False) -> JobOutcome:
    """Execute one job; a failure is written to its folder (``failed.json``) and returned, not raised.

    The job runs on its request's torch thread count (``--threads``, part of its run id). ``threads`` is accepted
    for runners written before that and must agree with it when given.
    With ``raise_unexpected`` an error that is not an anobench error (a lost device, out of memory...) is raised
    after being written, so an engine with retries (dask) can try the job again elsewhere.

    The job holds its run's lock (``.<run id>.lock`` beside the run folder) while it runs. A job whose lock is
    held, by another sweep running the same job, waits for it and then takes that sweep's outcome (the record, or
    its failure) instead of running the job a second time; it runs only if the other left nothing (was killed). So
    does a job whose folder changed since its sweep chose to run it (``Job.state_seen``): another sweep ran it.
    """
    with contextlib.ExitStack() as lock:
        try:
            waited = lock.enter_context(records.exclusive(job.path.parent / f".{job.path.name}"))
        except OSError:  # an unwritable results folder: the job fails below, naming it
            waited = False
        state = job_state(job)
        if state != "missing" and (waited or (job.state_seen is not None and state != job.state_seen)):
            return skipped_outcome(job, by_another_sweep=True)
        return _run_job(job, threads, progress, raise_unexpected)


def _run_job(job: Job, threads: int | None, progress: Progress | None, raise_unexpected: bool) -> JobOutcome:
    started = time.perf_counter()
    try:
        if threads is not None and threads != job.request.threads:
            raise UsageError(f"job {job.label}: the runner asks for {threads} torch threads, the job was planned "
                             f"with {job.request.threads} (its run id depends on it)",
                             hint="set the thread count with 'anobench sweep --threads N'")
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
        damaged = (str(exc.path), exc.reason, exc.hint) if isinstance(exc, DamagedFile) else None
        return JobOutcome(job, "failed", time.perf_counter() - started, error=" ".join(str(message).split()),
                          damaged=damaged)
    return JobOutcome(job, "done", time.perf_counter() - started, metrics=dict(record.metrics))


def skipped_outcome(job: Job, by_another_sweep: bool = False) -> JobOutcome:
    state = job_state(job)
    try:
        if state == "complete":
            return JobOutcome(job, "skipped", metrics=dict(records.load_record(job.path).metrics))
        failure = results.load_failure(job.path)
    except DamagedFile as exc:  # named (records.note_damaged); the job counts as failed until it is run again
        records.note_damaged(exc)
        return JobOutcome(job, "failed", error=f"{exc.message} (--overwrite always runs it again)")
    # A failed job kept by --overwrite never still counts as failed: the grid is not complete.
    source = "failed in another sweep that ran it meanwhile" if by_another_sweep else "kept from an earlier sweep"
    return JobOutcome(job, "failed", error=f"{failure.message} ({source}; --overwrite failed runs it again)")


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
    pending = [replace(job, request=replace(job.request, resume=job.resumable and overwrite != "always"),
                       state_seen=job_state(job)) for job in pending]
    if command and out is not None:
        results.ResultsFolder(out).log_sweep(command, [job.run_id for job in jobs],
                                              {job.run_id: job.request.variant for job in jobs if job.request.variant})
    by_id: dict[str, JobOutcome] = {job.run_id: skipped_outcome(job) for job in skipped}
    for outcome in runner.run(pending, events):
        events.job_finished(outcome)
        if outcome.damaged:  # named with the other damaged files when the CLI collects them
            records.note_damaged(DamagedFile(*outcome.damaged))
        by_id[outcome.job.run_id] = outcome
    for job in pending:  # a runner that lost a job without saying so must not make it vanish from the summary
        by_id.setdefault(job.run_id, JobOutcome(job, "failed", error="the runner returned no result",
                                                infrastructure=True))
    return SweepResult([by_id[job.run_id] for job in jobs], time.perf_counter() - started)


def reproduce_command(base: RunRequest, detectors: str, datasets: str, seeds: str, grid: Sequence[str],
                      variants: Sequence[Variant] = ()) -> str:
    """The sweep command with every option that changes results (runner options do not) spelled out."""
    parts = ["anobench", "sweep", "--detectors", detectors, "--datasets", datasets, "--seeds", seeds]
    if base.preset is not None:  # None: each dataset's default preset, which the same command chooses again
        parts += ["--preset", base.preset]
    for item in base.settings:
        parts += ["--set", item]
    for item in grid:
        parts += ["--grid", item]
    for variant in variants:
        parts += ["--variant", variant.text]
    for item in base.data_options:
        parts += ["--data-option", item]
    if base.normalization != "minmax-per-video":
        parts += ["--normalization", base.normalization]
    if base.smoothing_sigma:
        parts += ["--smoothing-sigma", f"{base.smoothing_sigma:g}"]
    # Always spelled out: a default that changes must not change what a logged command runs.
    parts += ["--calibration-holdout", f"{base.calibration_holdout:g}"]
    if tuple(base.scorers) != ("frame-auroc",):
        for scorer in base.scorers:
            parts += ["--scorer", scorer]
    if base.device != "auto":
        parts += ["--device", base.device]
    if base.threads != DEFAULT_THREADS:
        parts += ["--threads", str(base.threads)]
    if base.data_root:
        parts += ["--data-root", "DIR"]  # a placeholder: where the files are is each reader's own
    parts += ["--out", str(base.out)]
    return " ".join(shlex.quote(p) for p in parts)
