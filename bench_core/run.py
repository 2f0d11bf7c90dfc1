"""One run: resolve the plugins, check the data, fit on train, score every test frame, write the run record."""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import platform
import random
import subprocess
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from bench_core import calibration, records
from bench_core.config import build_config, check_seed, parse_assignments, to_jsonable
from bench_core.dataset import Dataset
from bench_core.detector import Detector
from bench_core.errors import DataError, RunFailed, UsageError, did_you_mean
from bench_core.localization import MapRecording, require_pixel_masks
from bench_core.plugins import Catalogue, get_catalogue, manager
from bench_core.presets import choose_preset
from bench_core.progress import Progress, SharedTask
from bench_core.run_record import RunRecord
from bench_core.scoring import OperatingPoint, Protocol, apply_protocol, call_scorer, fill_leading_frames
from bench_core.training import TrainingCheckpoints
from bench_core.cache import remember_owner
from bench_core.view_choice import fit_view

DATA_ROOT_ENV = "ANOBENCH_DATA_ROOT"
DEFAULT_SCORERS = ("frame-auroc",)
#: torch's intra-op threads when the user does not say: fixed rather than the machine's core count, because CPU
#: results depend on it (reductions split differently), and 1 is what every published record ran with.
DEFAULT_THREADS = 1
#: The thread count and device at which they stay out of the run id, so that ids made before either was part of
#: it (all of them CPU runs on 1 thread) are unchanged.
NEUTRAL_COMPUTE = {"torch_threads": DEFAULT_THREADS, "device": "cpu"}


@dataclass
class RunRequest:
    """Everything a user chooses for one run; the CLI and sweeps build these."""

    detector: str
    dataset: str
    preset: str | None = "cpu"  # None: the dataset's default (bench_core/presets.py), resolved by plan_run
    seed: int = 0
    settings: list[str] = field(default_factory=list)  # detector "key=value" overrides (--set)
    data_options: list[str] = field(default_factory=list)  # dataset "key=value" options (--data-option)
    data_root: str | None = None
    normalization: str = "minmax-per-video"
    smoothing_sigma: float = 0.0
    scorers: tuple[str, ...] = DEFAULT_SCORERS
    out: Path = Path("results")
    device: str = "auto"
    #: torch intra-op threads; part of the run id (see ``compute_identity``).
    threads: int = DEFAULT_THREADS
    overwrite: bool = False
    resume: bool = False  # continue an interrupted training from its last epoch checkpoint
    #: Share of each training video held back to measure normal scores (bench_core/calibration.py); 0: none.
    calibration_holdout: float = calibration.DEFAULT_HOLDOUT
    #: The name of the sweep variant (``--variant``) the run belongs to: a label, never part of the run id.
    variant: str = ""


@dataclass
class RunPlan:
    """A request resolved against the installed plugins: classes, configs, ids and where the record goes."""

    request: RunRequest
    detector_cls: type[Detector]
    detector_config: object
    dataset: Dataset
    protocol: Protocol
    fingerprint: dict
    run_id: str
    path: Path
    catalogue: Catalogue
    #: The device the run executes on, resolved from ``request.device`` when planning (it is part of the id).
    device: str = "cpu"
    #: Settings the plan chose rather than the user (the view that fits the dataset; see bench_core.view_choice).
    resolved_settings: dict = field(default_factory=dict)
    #: One line when no preset was asked for and the dataset's default was missing (a detector without
    #: ``standard`` on real footage, which then runs its ``cpu`` preset); '' otherwise.
    preset_notice: str = ""


def resolve_device(device: str) -> str:
    if device not in ("auto", "cpu", "cuda"):
        raise UsageError(f"--device {device!r} is not a device", hint="use auto, cpu or cuda")
    import torch

    if device == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: no CUDA device is available here", hint="use --device cpu or auto")
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def make_dataset(name: str, options: list[str], data_root: str | None, catalogue: Catalogue) -> Dataset:
    registration = catalogue.get("dataset", name, "--dataset")
    dataset_cls = registration.load()
    values = parse_assignments(options, "--data-option")
    root = data_root or os.environ.get(DATA_ROOT_ENV)
    if root and "data_root" not in values:
        values["data_root"] = root
    dataset_options = build_config(dataset_cls.Options, {}, None, values, "--data-option", f"dataset '{name}'")
    if dataset_options.label_convention and dataset_options.label_convention not in dataset_cls.label_conventions:
        raise UsageError(
            f"dataset '{name}' has no label convention '{dataset_options.label_convention}'",
            hint=did_you_mean(dataset_options.label_convention, dataset_cls.label_conventions),
        )
    return dataset_cls(name, dataset_options)


def check_dataset(dataset: Dataset) -> None:
    problems = dataset.check()
    if problems:
        # The problem line carries its own hint; point at the full list only when there is more than one.
        more = (f"{len(problems) - 1} more problems: 'anobench data check {dataset.name}' lists them"
                if len(problems) > 1 else None)
        raise DataError(problems[0], hint=more)


def identity_config(detector_cls: type[Detector], config) -> dict:
    """The detector config as the run id sees it: without the settings that hold their neutral value (see
    ``Detector.neutral_settings``), so adding a setting does not change the ids of runs made before it existed."""
    values = to_jsonable(config)
    for name, neutral in getattr(detector_cls, "neutral_settings", {}).items():
        if name in values and values[name] == to_jsonable(neutral):
            del values[name]
    return values


def compute_identity(device: str, threads: int) -> dict:
    """What the run id takes from where the run executes: the device and torch's thread count, each only when it
    differs from ``NEUTRAL_COMPUTE`` (a run at those values keeps the id it had before they were in the id)."""
    values = {"torch_threads": threads, "device": device}
    return {name: value for name, value in values.items() if value != NEUTRAL_COMPUTE[name]}


def check_threads(threads) -> int:
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise UsageError(f"--threads {threads!r} is not a thread count", hint="give an integer >= 1, e.g. --threads 1")
    return threads


def _digest(obj) -> str:
    return hashlib.sha256(json.dumps(to_jsonable(obj), sort_keys=True).encode()).hexdigest()


def make_run_id(preset: str, identity: dict) -> str:
    """``PRESET-seedN-`` and the first 10 hex digits of the sha256 of everything that changes the result."""
    return f"{preset}-seed{identity['seed']}-{_digest(identity)[:10]}"


def plan_run(request: RunRequest, catalogue: Catalogue | None = None, datasets: dict | None = None) -> RunPlan:
    """``datasets``: a memo that plans of one sweep share, so a dataset is made, checked and fingerprinted once."""
    catalogue = catalogue or get_catalogue()
    check_seed(request.seed, "--seed")
    if Path(request.out).exists() and not Path(request.out).is_dir():
        raise UsageError(f"--out {request.out} is a file, not a folder", hint="give a results folder")
    for scorer in request.scorers:
        catalogue.get("scorer", scorer, "--scorer")
    detector_reg = catalogue.get("detector", request.detector, "--detector")
    dataset_key = (request.dataset, tuple(request.data_options), request.data_root or os.environ.get(DATA_ROOT_ENV))
    known = (datasets or {}).get(dataset_key)
    dataset = known[0] if known else make_dataset(request.dataset, request.data_options, request.data_root, catalogue)
    detector_cls = detector_reg.load()
    preset, preset_notice = choose_preset(request.preset, detector_cls, request.detector, dataset)
    request = replace(request, preset=preset)
    overrides = parse_assignments(request.settings, "--set")
    resolved = fit_view(detector_cls, request.detector, request.preset, overrides, dataset)
    detector_config = build_config(
        detector_cls.Config, detector_cls.presets, request.preset,
        {**overrides, **resolved}, "--set", f"detector '{request.detector}'",
    )
    try:
        protocol = Protocol(request.normalization, request.smoothing_sigma, dataset.label_convention)
    except ValueError as exc:
        raise UsageError(f"protocol: {exc}") from None
    try:
        holdout = calibration.check_holdout(request.calibration_holdout)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if protocol.normalization == "train-stats" and not holdout:
        raise UsageError("--normalization train-stats needs the normal scores of a hold-out",
                         hint="give --calibration-holdout a fraction above 0, e.g. 0.1")
    threads = check_threads(request.threads)
    device = resolve_device(request.device)
    if known:
        fingerprint = known[1]
    else:
        check_dataset(dataset)
        fingerprint = dataset.fingerprint()
        if datasets is not None:
            datasets[dataset_key] = (dataset, fingerprint)
    require_pixel_masks(dataset, request.scorers, catalogue)
    run_id = make_run_id(request.preset, {
        "detector": request.detector, "detector_version": detector_cls.version,
        "config": identity_config(detector_cls, detector_config),
        "dataset": request.dataset, "fingerprint": fingerprint, "seed": request.seed, "protocol": protocol,
        "scorers": list(request.scorers),
        **compute_identity(device, threads),
        # Part of the id only when something is held out: runs from before the hold-out existed keep their ids.
        **({"calibration_holdout": holdout} if holdout else {}),
    })
    path = records.run_dir(request.out, request.dataset, request.detector, run_id)
    return RunPlan(request, detector_cls, detector_config, dataset, protocol, fingerprint, run_id, path, catalogue,
                   device, resolved, preset_notice)


def seed_everything(seed: int, device: str) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if device == "cuda":
        # CPU kernels are deterministic for a given thread count (the determinism test proves it on CPU); on CUDA
        # ask for deterministic kernels, warning only where an op has none (the record says which device ran).
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)


def git_commit() -> dict | None:
    source = Path(__file__).resolve().parent.parent
    try:
        sha = subprocess.run(["git", "-C", str(source), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=5)
        if sha.returncode != 0:
            return None
        dirty = subprocess.run(["git", "-C", str(source), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5)
        return {"commit": sha.stdout.strip(), "dirty": bool(dirty.stdout.strip())}
    except (OSError, subprocess.SubprocessError):
        return None


def versions() -> dict:
    import torch

    import bench_core

    return {
        "anobench": bench_core.__version__, "python": platform.python_version(), "torch": torch.__version__,
        "numpy": np.__version__, "plugins": manager.plugin_versions(),
    }


def execute(plan: RunPlan, progress: Progress | None = None) -> RunRecord:
    """Run the plan and write its record; returns the record (as in record.json). torch runs on the plan's thread
    count meanwhile, and on the caller's again afterwards."""
    import torch

    threads_before = torch.get_num_threads()
    torch.set_num_threads(plan.request.threads)
    try:
        return _execute(plan, progress)
    finally:
        torch.set_num_threads(threads_before)


def _execute(plan: RunPlan, progress: Progress | None) -> RunRecord:
    from bench_core.views import dataset_key, prepare

    progress = progress or Progress()
    request = plan.request
    # Resolved again here (the plan may come from another process): a plan for cuda fails where there is none.
    device = resolve_device(plan.device)
    seed_everything(request.seed, device)
    detector = plan.detector_cls(plan.detector_config, device=device, seed=request.seed)
    spec = detector.input_spec
    if spec.view not in plan.dataset.views:
        raise UsageError(
            f"detector '{request.detector}' needs view '{spec.view}', which dataset '{request.dataset}' lacks",
            hint=f"it offers: {', '.join(plan.dataset.views)}",
        )
    if request.resume and not detector.supports_resume:
        raise UsageError(f"detector '{request.detector}' cannot resume training: it does not checkpoint epochs",
                         hint="run again without --resume")
    detector.checkpoints = TrainingCheckpoints(training_dir(plan.path), request.detector, resume=request.resume)
    key = dataset_key(plan.fingerprint)
    started = time.perf_counter()
    train_videos = plan.dataset.videos("train", spec.view)
    test_videos = plan.dataset.videos("test", spec.view)
    if not train_videos or not test_videos:
        raise DataError(f"dataset '{request.dataset}' has {len(train_videos)} train and {len(test_videos)} test "
                        "videos", hint="a run needs at least one of each")
    # A dataset without labels (video-folder without a labels file) serves every test video unlabelled: the run
    # writes the scores and reports no metrics.
    unlabelled = all(video.labels is None for video in test_videos)
    with progress.task("prepare", total=len(train_videos) + len(test_videos)) as task:
        train, test = [], []
        for video in train_videos:
            train.append(prepare(video, spec, key))
            task.advance()
        for video in test_videos:
            if not unlabelled and (video.labels is None or len(video.labels) != len(video)):
                raise DataError(f"test video '{video.id}' of '{request.dataset}' has no per-frame labels")
            test.append(prepare(video, spec, key))
            task.advance()
    remember_owner([v.frames for v in train + test], request.dataset)  # for 'anobench cache', per dataset
    prepare_seconds = time.perf_counter() - started
    # The record counts the whole train split; its calibration section says which frames were held out of fit.
    n_train_frames = int(sum(len(v) for v in train))
    train, held_out, split = calibration.split_holdout(train, request.calibration_holdout, spec.window)

    started = time.perf_counter()
    detector.checkpoints.start()
    training_log = detector.fit(train, progress)
    train_seconds = time.perf_counter() - started
    normal = calibration.score_normal(detector, held_out, request.detector, progress) if held_out else None

    raw_scores, window_outputs = [], []
    n_windows = sum(max(len(v) - spec.window + 1, 1) for v in test)
    scorers = {name: plan.catalogue.get("scorer", name).load() for name in request.scorers}
    maps = MapRecording.for_run(plan.path, list(scorers.values()), detector, request.detector,
                                plan.protocol.normalization)
    started = time.perf_counter()
    with progress.task("score", total=n_windows) as score_task:
        for video, source in zip(test, test_videos):
            with maps.capture(detector, source, _safe(video.id), spec.window):
                raw_scores.append(_score_video(detector, video, spec.window, request.detector,
                                               SharedTask(score_task)))
            window_outputs.append({f"window_{k}": np.asarray(v) for k, v in detector.last_outputs().items()})
    score_seconds = time.perf_counter() - started

    labels = []
    for video in test:
        if unlabelled:
            labels.append(None)
            continue
        if not np.isin(video.labels, (0, 1)).all():
            raise DataError(f"test video '{video.id}' of '{request.dataset}' has labels other than 0 and 1")
        labels.append(np.asarray(video.labels, dtype=np.int8))
    scores = [apply_protocol(s, plan.protocol, normal) for s in raw_scores]
    operating_point = None if normal is None else OperatingPoint(
        normal.raw_threshold(calibration.DEFAULT_FALSE_ALARM_RATE), calibration.DEFAULT_FALSE_ALARM_RATE,
        raw_scores, [v.fps for v in test])
    metrics: dict = {}
    for name, scorer_cls in ({} if unlabelled else scorers).items():
        produced = call_scorer(scorer_cls(), scores, labels, maps=maps.given(),
                               operating_point=operating_point)
        clash = sorted(set(produced) & set(metrics))
        if clash:
            raise RunFailed(f"scorer '{name}' reports {', '.join(clash)}, which an earlier scorer already reported",
                            hint="give each scorer's metrics their own names")
        metrics.update(produced)

    n_test_frames = int(sum(len(v) for v in test))
    record = {
        "schema": records.SCHEMA_VERSION,
        "run_id": plan.run_id,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": _command_line(),
        "detector": {
            "name": request.detector,
            "plugin": plan.catalogue.get("detector", request.detector).plugin,
            "version": plan.detector_cls.version,
            "preset": request.preset,
            "settings": list(request.settings),
            "resolved_settings": dict(plan.resolved_settings),
            "config": to_jsonable(plan.detector_config),
            "input_spec": to_jsonable(spec),
        },
        "dataset": {
            "name": request.dataset,
            "plugin": plan.catalogue.get("dataset", request.dataset).plugin,
            "options": to_jsonable(plan.dataset.options),
            "fingerprint": plan.fingerprint,
            "n_train_videos": len(train), "n_train_frames": n_train_frames,
            "n_test_videos": len(test),
            "notes": plan.dataset.notes(),
            "extras": to_jsonable(plan.dataset.record_extras(spec.view, test_videos)),
        },
        "seed": request.seed,
        "preset": request.preset,
        **({"variant": request.variant} if request.variant else {}),
        "device": device,
        "cpu": cpu_identity(),
        "protocol": to_jsonable(plan.protocol),
        "leading_frames_note": (f"the first {spec.window - 1} frames of each test video precede the first full "
                                f"window of {spec.window} and take its score"),
        "scorers": list(request.scorers),
        "calibration": {**split, **({"normal_scores": calibration.NORMAL_SCORES_FILE, "n_normal_scores": normal.n,
                                     "alert_threshold_raw": operating_point.threshold,
                                     "false_alarm_rate": operating_point.false_alarm_rate} if normal else {})},
        "metrics": to_jsonable(metrics),
        **({"metrics_note": f"the test videos of '{request.dataset}' have no labels: scores were written, no AUROC "
                            "or other metric"} if unlabelled else {}),
        "n_test_frames": n_test_frames,
        "timing": {
            "prepare_seconds": round(prepare_seconds, 4),
            "train_seconds": round(train_seconds, 4),
            "score_seconds": round(score_seconds, 4),
            "inference_fps": round(n_test_frames / score_seconds, 2) if score_seconds > 0 else None,
            "torch_threads": _torch_threads(),
        },
        "training": to_jsonable(training_log or {}),
        **({"localization": maps.describe()} if maps.needed else {}),
        # Which epoch an interrupted training continued from (--resume); None when it ran from the start.
        "resumed_from_epoch": detector.checkpoints.resumed_from,
        "per_video": [
            {"id": v.id, "n_frames": len(v), "n_abnormal": None if lab is None else int(lab.sum()),
             "file": f"scores/{_safe(v.id)}.npz"}
            for v, lab in zip(test, labels)
        ],
        "checkpoint": "checkpoint.pt",
        "versions": versions(),
        "git": git_commit(),
    }
    # Typed and checked as every reader checks it; its path is the run folder it is renamed into.
    record = RunRecord.from_data(record, plan.path / records.RECORD_FILE)
    with records.staged_run_dir(plan.path, overwrite=True) as stage:
        (stage / "scores").mkdir()
        for video, raw, score, label, extra in zip(test, raw_scores, scores, labels, window_outputs):
            np.savez_compressed(stage / "scores" / f"{_safe(video.id)}.npz", raw=raw, score=score,
                                **({} if label is None else {"label": label}), **extra)
        maps.store(stage)
        detector.save(stage / "checkpoint.pt")
        if normal is not None:
            records.atomic_write_json(stage / calibration.NORMAL_SCORES_FILE, normal.as_json())
        records.atomic_write_json(stage / "config.json", record.detector.config)
        # record.json last: its presence is what marks a run complete.
        record.write(stage)
    detector.checkpoints.finish()
    return record


def training_dir(run_path: Path) -> Path:
    """Where a run keeps its per-epoch training state until the record is written (hidden: not a run)."""
    return run_path.parent / f".{run_path.name}.training"


def _score_video(detector: Detector, video, window: int, name: str, progress: Progress) -> np.ndarray:
    window_scores = np.asarray(detector.score(video, progress), dtype=np.float64)
    if not np.all(np.isfinite(window_scores)):
        raise RunFailed(f"detector '{name}' gave non-finite scores on test video '{video.id}'",
                        hint="the model may have diverged; try a lower learning rate with --set")
    try:
        return fill_leading_frames(window_scores, len(video), window)
    except ValueError as exc:
        raise RunFailed(f"detector '{name}' on test video '{video.id}': {exc}") from None


def _safe(video_id: str) -> str:
    return records.safe_name(video_id)  # collision-free and contained: see records.safe_name


def cpu_identity() -> dict:
    """The CPU's model and the instruction set torch's kernels dispatch to: results on the CPU can differ in the
    last digits between machines that differ in these, at the same thread count (recorded; not in the run id)."""
    import torch

    model = platform.processor()
    try:
        with open("/proc/cpuinfo") as handle:
            model = next((line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")), model)
    except OSError:
        pass
    return {"model": model, "torch_capability": torch.backends.cpu.get_cpu_capability()}


def _torch_threads() -> int:
    import torch

    return torch.get_num_threads()


def _command_line() -> str:
    import shlex

    argv = [Path(sys.argv[0]).name] + sys.argv[1:]
    return " ".join(shlex.quote(a) for a in argv)


def run(request: RunRequest, progress: Progress | None = None) -> tuple[RunRecord, bool]:
    """Plan and execute; a complete record at the same path is reused unless ``overwrite``. Returns (record, reused)."""
    plan = plan_run(request)
    if records.is_complete(plan.path) and not request.overwrite:
        return records.load_record(plan.path), True
    return execute(plan, progress), False


