"""Run records → a markdown leaderboard: one row per (dataset, detector, preset, settings, protocol)."""

from __future__ import annotations

import json
import math
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from bench_core.errors import DamagedFile, UsageError, did_you_mean
from bench_core.records import RECORD_FILE, RUN_KEYS, iter_records, read_json, read_scores, skip_damaged
from bench_core.run import DEFAULT_THREADS

CONFIDENCE = 0.95
#: The localization scorers' headline metrics (pixel-auroc, region), in table order, with their column titles.
LOCALIZATION_METRICS = {"pixel_auroc": "Pixel AUROC", "rbdc": "RBDC", "tbdc": "TBDC"}
#: Stands for the folder holding a dataset's files in the reproduce commands (each reader's own path).
DATA_ROOT_PLACEHOLDER = "DIR"
#: The frame-metrics scorer's operating points, summarised over seeds in ``--json`` rows.
OPERATING_METRICS = ("tpr_at_1pct_fpr", "tpr_at_5pct_fpr", "false_alarms_per_hour", "event_detection_rate")


@dataclass
class Row:
    dataset: str
    detector: str
    preset: str
    settings: tuple[str, ...]
    protocol: str
    seeds: list[int] = field(default_factory=list)
    micro: list[float] = field(default_factory=list)
    macro: list[float] = field(default_factory=list)
    aupr: list[float] = field(default_factory=list)
    eer: list[float] = field(default_factory=list)
    fps: list[float] = field(default_factory=list)
    runs: list[str] = field(default_factory=list)
    run_ids: list[str] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    published: dict | None = None
    #: What the detector read, from the record's input_spec: e.g. "skeleton 28×28, T=30".
    input: str = ""
    #: The dataset's options as recorded (data_root left out): runs on other generated data are other rows.
    data_options: dict = field(default_factory=dict)
    #: The dataset's name plus the options in which this table's rows of that dataset differ, e.g. "x (seed=3)".
    dataset_label: str = ""
    #: Per run (when asked for), the frame AUROC of each kind of anomaly: see ``per_kind_auroc``.
    by_kind: list[dict[str, float]] = field(default_factory=list)
    #: Per localization metric the runs report (LOCALIZATION_METRICS), one value per run (None: not available).
    localization: dict[str, list] = field(default_factory=dict)
    #: Where the runs executed, e.g. "cpu, 1 thread": CPU results depend on the thread count, so runs that differ
    #: in it (or in device) are never pooled into one row.
    compute: str = ""
    #: Whether the runs read files from a data root (the reproduce commands then say --data-root DIR).
    data_root_used: bool = False
    #: Set when the table's rows ran on more than one device or thread count: the preset cell then says where.
    show_compute: bool = False
    #: The share of each training video its runs held out for their normal scores (0: none, as before it existed).
    holdout: float = 0.0
    #: Per metric of ``OPERATING_METRICS``, each run's value (None where the run has none).
    operating: dict[str, list] = field(default_factory=dict)
    #: The name of the sweep variant (``anobench sweep --variant``) its runs were made as; "" when none.
    variant: str = ""

    @property
    def label(self) -> str:
        """The detector, and the variant when the row has one: "stgan (no-ttur)"."""
        return f"{self.detector} ({self.variant})" if self.variant else self.detector

    def kind_summaries(self) -> dict[str, dict]:
        kinds = sorted({kind for run in self.by_kind for kind in run})
        return {kind: summarise([run.get(kind) for run in self.by_kind]) for kind in kinds}

    def as_dict(self) -> dict:
        return {
            "dataset": self.dataset, "data_options": self.data_options, "detector": self.detector, "input": self.input,
            "preset": self.preset,
            "settings": list(self.settings), "protocol": self.protocol, "seeds": sorted(self.seeds),
            "n_seeds": len(self.seeds),
            "frame_auroc_micro": summarise(self.micro), "frame_auroc_micro_ci95": t_interval(self.micro),
            "frame_auroc_macro": summarise(self.macro),
            "aupr": summarise(self.aupr), "eer": summarise(self.eer), "inference_fps": summarise(self.fps),
            "published": self.published, "compute": self.compute, "runs": self.runs, "variant": self.variant or None,
            **{name: summarise(values) for name, values in self.operating.items()},
            **({"frame_auroc_by_kind": self.kind_summaries()} if self.by_kind else {}),
            **{name: summarise(values) for name, values in self.localization.items()},
        }


def summarise(values: list[float]) -> dict:
    values = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    if not values:
        return {"mean": None, "std": None, "n": 0}
    mean = sum(values) / len(values)
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1)) if len(values) > 1 else None
    return {"mean": mean, "std": std, "n": len(values)}


def t_interval(values: list[float], confidence: float = CONFIDENCE) -> tuple[float, float] | None:
    """Student-t interval of the mean over seeds; None with fewer than two seeds (no spread to estimate)."""
    values = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    if len(values) < 2:
        return None
    from scipy import stats

    summary = summarise(values)
    half = stats.t.ppf((1 + confidence) / 2, len(values) - 1) * summary["std"] / math.sqrt(len(values))
    return (summary["mean"] - half, summary["mean"] + half)


def per_video_auroc(record: dict) -> dict[str, float | None]:
    """AUROC of each test video from the run's saved scores; None where a video has one class only."""
    from sklearn.metrics import roc_auc_score

    result: dict[str, float | None] = {}
    for video_id, saved in read_scores(record).items():
        label = None if saved is None else saved.label
        result[video_id] = (float(roc_auc_score(label, saved.score))
                            if label is not None and 0 < label.sum() < len(label) else None)
    return result


def protocol_label(protocol: dict) -> str:
    sigma = protocol.get("smoothing_sigma", 0) or 0
    smoothing = f"gauss σ={sigma:g}" if sigma else "no smoothing"
    return f"{protocol.get('normalization')}, {smoothing}, labels: {protocol.get('label_convention') or '?'}"


def holdout_of(record: dict) -> float:
    """The share of each training video the run held out for its normal scores; 0 for records from before."""
    return float((record.get("calibration") or {}).get("holdout", 0.0))


def holdout_label(record: dict) -> str:
    """What the protocol column adds for a run that held out normal footage (it trained on less)."""
    holdout = holdout_of(record)
    return f", normal hold-out {holdout:g}" if holdout else ""


def reproduce_command(record: dict, out: str) -> str:
    parts = ["anobench", "run", "--detector", record["detector"]["name"], "--dataset", record["dataset"]["name"],
             "--preset", record["preset"], "--seed", str(record["seed"])]
    for item in record["detector"].get("settings", []):
        parts += ["--set", item]
    options = record["dataset"].get("options", {})
    for key, value in options.items():
        if key != "data_root" and value not in ("", None, []) and key != "label_convention":
            # A list option (scenes, anomalies) as --data-option takes it: comma-separated, not Python's repr.
            parts += ["--data-option", f"{key}={_option_text(value)}"]
    protocol = record["protocol"]
    if protocol.get("label_convention") and options.get("label_convention"):
        parts += ["--data-option", f"label_convention={protocol['label_convention']}"]
    if protocol.get("normalization") != "minmax-per-video":
        parts += ["--normalization", protocol["normalization"]]
    if protocol.get("smoothing_sigma"):
        parts += ["--smoothing-sigma", f"{protocol['smoothing_sigma']:g}"]
    if record.get("device", "cpu") != "cpu":
        parts += ["--device", record["device"]]
    threads = record.get("timing", {}).get("torch_threads")
    if threads and threads != DEFAULT_THREADS:
        parts += ["--threads", str(threads)]
    if options.get("data_root"):
        parts += ["--data-root", DATA_ROOT_PLACEHOLDER]  # where the files are is the reader's own
    # Always spelled out: a default that changes must not change what a published command runs.
    parts += ["--calibration-holdout", f"{holdout_of(record):g}"]
    parts += ["--out", out]
    return " ".join(shlex.quote(p) for p in parts)


def anomaly_events(record: dict, _cache: dict | None = None) -> dict[str, list[dict]] | None:
    """Each test video's labelled events and their kinds, ``{video: [{"kind", "start", "stop"}]}`` (stop exclusive),
    as the dataset recorded them in the run record's extras. A record written before its dataset plugin recorded
    kinds asks the plugin again, with the record's dataset options. None when the dataset names no kinds."""
    extras = record["dataset"].get("extras") or {}
    if "events" in extras:
        return extras["events"]
    data = record["dataset"]
    view = (record["detector"].get("input_spec") or {}).get("view") or record["detector"].get("config", {}).get("view")
    key = (data["name"], json.dumps(data.get("options", {}), sort_keys=True), view)
    cache = {} if _cache is None else _cache
    if key not in cache:
        cache[key] = _events_from_the_dataset(data, view or "frames")
    return cache[key]


def _events_from_the_dataset(data: dict, view: str) -> dict | None:
    from bench_core.plugins import get_catalogue

    try:
        dataset_cls = get_catalogue().get("dataset", data["name"], "--dataset").load()
        dataset = dataset_cls(data["name"], dataset_cls.Options(**data.get("options", {})))
        if dataset.check():
            return None
        return dataset.record_extras(view, dataset.videos("test", view)).get("events")
    except Exception:  # noqa: BLE001 - an uninstalled plugin or missing data only means no breakdown
        return None


def per_kind_auroc(record: dict, events: dict[str, list[dict]]) -> dict[str, float]:
    """Frame AUROC of each kind of anomaly: the frames labelled abnormal inside that kind's events against every
    normal frame of the test videos, pooled over videos like the micro AUROC (scores as the run's protocol left
    them). It says which kinds a detector misses; a kind with no labelled frames gets no value."""
    import numpy as np
    from sklearn.metrics import roc_auc_score

    scores, normal, kind_frames = [], [], {}
    offset = 0
    for video_id, saved in read_scores(record).items():
        if saved is None:
            return {}
        score, label = saved.score, saved.label.astype(bool)
        scores.append(score)
        normal.append(~label)
        for event in events.get(video_id, []):
            inside = np.zeros(len(label), dtype=bool)
            inside[max(event["start"], 0):event["stop"]] = True
            frames = np.flatnonzero(inside & label) + offset
            kind_frames.setdefault(event["kind"], []).append(frames)
        offset += len(score)
    if not scores:
        return {}
    score, normal_index = np.concatenate(scores), np.flatnonzero(np.concatenate(normal))
    result = {}
    for kind, parts in sorted(kind_frames.items()):
        abnormal = np.unique(np.concatenate(parts))
        if len(abnormal) and len(normal_index):
            y = np.concatenate([np.zeros(len(normal_index)), np.ones(len(abnormal))])
            result[kind] = float(roc_auc_score(y, np.concatenate([score[normal_index], score[abnormal]])))
    return result


def collect(results: Path, published_by_detector: dict[str, dict], datasets: list[str] | None = None,
            by_kind: bool = False) -> list[Row]:
    """Rows of every complete record under ``results``; ``datasets`` keeps only those datasets' records;
    ``by_kind`` adds each run's ``per_kind_auroc`` where its dataset names the kinds of its anomalies."""
    results = Path(results)
    if not results.exists():
        raise UsageError(f"{results}: no such results folder", hint="give the --out folder of 'anobench run'")
    rows: dict[tuple, Row] = {}
    events_cache: dict = {}
    present: set[str] = set()
    for record in iter_records(results, RUN_KEYS):
        try:
            _check_fields(record)
        except DamagedFile as exc:
            skip_damaged(exc)
            continue
        det, data = record["detector"], record["dataset"]
        present.add(data["name"])
        if datasets and data["name"] not in datasets:
            continue
        # A run that held out normal footage trained on less: its own row, never pooled with one that did not.
        protocol = protocol_label(record["protocol"]) + holdout_label(record)
        settings = tuple(det.get("settings", []))
        # One row per experiment: the resolved config, not how it was spelled (`--set epochs=30` on a preset whose
        # value is 30 is the same experiment as no --set at all).
        experiment = json.dumps([det.get("version"), det.get("config")], sort_keys=True)
        data_options = {k: v for k, v in data.get("options", {}).items() if k != "data_root"}
        compute = compute_label(record)
        key = (data["name"], json.dumps(data_options, sort_keys=True), det["name"], record["preset"], experiment,
               protocol, compute)
        row = rows.get(key)
        if row is None:
            row = rows[key] = Row(data["name"], det["name"], record["preset"], settings, protocol,
                                  input=_input_label(det.get("input_spec")), data_options=data_options,
                                  compute=compute)
            row.published = (published_by_detector.get(det["name"]) or {}).get(data["name"])
        elif (len(settings), settings) < (len(row.settings), row.settings):
            row.settings = settings  # show the shortest spelling
        metrics = record["metrics"]
        row.seeds.append(record["seed"])
        row.micro.append(metrics.get("frame_auroc_micro"))
        row.macro.append(metrics.get("frame_auroc_macro"))
        row.aupr.append(metrics.get("aupr"))
        row.eer.append(metrics.get("eer"))
        for name in LOCALIZATION_METRICS:
            if name in metrics:
                row.localization.setdefault(name, []).append(metrics[name])
        for name in OPERATING_METRICS:
            row.operating.setdefault(name, []).append(metrics.get(name))
        row.fps.append(record["timing"].get("inference_fps"))
        row.variant = row.variant or str(record.get("variant") or "")
        row.holdout = holdout_of(record)
        row.data_root_used = row.data_root_used or bool(data.get("options", {}).get("data_root"))
        row.runs.append(record["_path"])
        row.run_ids.append(record.get("run_id", ""))
        row.commands.append(reproduce_command(record, str(results)))
        if by_kind:
            events = anomaly_events(record, events_cache)
            if events:
                try:
                    row.by_kind.append(per_kind_auroc(record, events))
                except DamagedFile as exc:  # its scores: the row keeps the record's metrics, not its breakdown
                    skip_damaged(exc)
    for name in datasets or []:
        if name not in present and present:
            raise UsageError(f"{results}: holds no complete run records (record.json) of dataset {name}",
                             hint=did_you_mean(name, present))
    if not rows:
        which = f" of dataset {', '.join(datasets)}" if datasets else ""
        raise UsageError(f"{results}: holds no complete run records (record.json){which}",
                         hint="run 'anobench run' first")
    _label_datasets(list(rows.values()))
    _name_variants(list(rows.values()), results)
    if len({row.compute for row in rows.values()}) > 1:
        for row in rows.values():
            row.show_compute = True
    # Grouped by what the detectors read, so a table over both views of a dataset reads view by view.
    return sorted(rows.values(), key=lambda r: (r.dataset, r.dataset_label, r.input.split(" ")[0], r.detector,
                                                r.preset, r.settings, r.protocol))


def _check_fields(record: dict) -> None:
    """A DamagedFile naming the record unless every field ``collect`` reads has the right kind of value."""
    det, data = record["detector"], record["dataset"]
    kinds = {"metrics": (record["metrics"], dict), "timing": (record["timing"], dict),
             "protocol": (record["protocol"], dict), "seed": (record["seed"], int),
             "dataset.options": (data.get("options", {}), dict), "detector.settings": (det.get("settings", []), list)}
    wrong = [name for name, (value, kind) in kinds.items() if not isinstance(value, kind)]
    if wrong:
        raise DamagedFile(Path(record["_path"]) / RECORD_FILE, f"is not a usable run record ({', '.join(wrong)} "
                          "of the wrong kind)", hint="run that job again with --overwrite")


def compute_label(record: dict) -> str:
    """Where a run executed: its device and torch thread count, e.g. "cpu, 1 thread"."""
    threads = record.get("timing", {}).get("torch_threads")
    count = "? threads" if threads is None else f"{threads} thread{'s' if threads != 1 else ''}"
    return f"{record.get('device', '?')}, {count}"


def _label_datasets(rows: list[Row]) -> None:
    """Name each row's data by the options that tell it apart from the table's other data of the same dataset
    (a generator's seed, say); a dataset used with one set of options keeps its bare name."""
    by_dataset: dict[str, list[Row]] = {}
    for row in rows:
        by_dataset.setdefault(row.dataset, []).append(row)
    for name, group in by_dataset.items():
        keys = sorted({k for row in group for k in row.data_options})
        varying = [k for k in keys if len({json.dumps(row.data_options.get(k), sort_keys=True) for row in group}) > 1]
        for row in group:
            shown = ", ".join(f"{k}={_option_text(row.data_options.get(k))}" for k in varying)
            row.dataset_label = f"{name} ({shown})" if shown else name


def _name_variants(rows: list[Row], results: Path) -> None:
    """Name each row after the sweep variant its runs were made as: the latest sweep logged in ``results`` that ran
    them with --variant (published runs predate the option), else the name their records carry."""
    from bench_core.sweep import read_sweep_log

    named: dict[str, str] = {}
    for entry in read_sweep_log(results):
        if isinstance(entry.get("variants"), dict):
            named.update({str(k): str(v) for k, v in entry["variants"].items()})
    for row in rows:
        names = {named[run_id] for run_id in row.run_ids if run_id in named}
        if len(names) == 1:
            row.variant = names.pop()


def _option_text(value) -> str:
    return ",".join(map(str, value)) if isinstance(value, list) else str(value)


def _input_label(spec: dict | None) -> str:
    if not spec:
        return ""
    label = f"{spec.get('view', '?')} {spec.get('height')}×{spec.get('width')}"
    return label + (f", T={spec['window']}" if spec.get("window", 1) > 1 else "")


def _fmt(summary: dict, digits: int = 3) -> str:
    if summary["mean"] is None:
        return "—"
    if summary["std"] is None:
        return f"{summary['mean']:.{digits}f}"
    return f"{summary['mean']:.{digits}f} ± {summary['std']:.{digits}f}"


def _fmt_interval(interval) -> str:
    return "—" if interval is None else f"[{interval[0]:.3f}, {interval[1]:.3f}]"


def reproduce_commands(rows: list[Row], results: Path) -> list[str]:
    """The sweep commands that produced these runs (from the results' sweeps.json); per-run commands for the rest."""
    from bench_core.sweep import read_sweep_log

    wanted = {run_id for row in rows for run_id in row.run_ids}
    commands, covered = [], set()
    sweeps = [(set(entry.get("run_ids", [])) & wanted, order, entry["command"])
              for order, entry in enumerate(read_sweep_log(results))]
    # Fewest commands: greedily the sweep covering most of what is left, the latest among equals (a re-run of a
    # grid that merges earlier sweeps then stands for all of them).
    while True:
        ids, _, command = max(((ids - covered, order, command) for ids, order, command in sweeps),
                              key=lambda item: (len(item[0]), item[1]), default=(set(), 0, ""))
        if not ids:
            break
        if any(row.data_root_used and set(row.run_ids) & ids for row in rows) and "--data-root" not in command:
            command += f" --data-root {DATA_ROOT_PLACEHOLDER}"  # logged before sweeps said so
        holdouts = {row.holdout for row in rows if set(row.run_ids) & ids}
        if "--calibration-holdout" not in command and len(holdouts) == 1:
            # Logged before sweeps spelled the hold-out out: say the one its runs used, so the command still plans
            # the same runs whatever the default is now.
            command += f" --calibration-holdout {holdouts.pop():g}"
        if command not in commands:
            commands.append(command)
        covered |= ids
    for row in rows:
        for run_id, command in sorted(zip(row.run_ids, row.commands), key=lambda pair: pair[1]):
            if run_id not in covered and command not in commands:
                commands.append(command)
    return commands


def _fmt_mean(summary: dict) -> str:
    return "—" if summary["mean"] is None else f"{summary['mean']:.1f}"


def render_markdown(rows: list[Row], results: Path, out_file: Path | None, argv: str, title: str | None = None,
                    note: str | None = None, sort_by: str = "frame_auroc_micro", wide: bool = False) -> str:
    """The markdown leaderboard: ranked sections per dataset (see bench_core.leaderboard_format)."""
    from bench_core import leaderboard_format

    return leaderboard_format.render_markdown(rows, results, out_file, argv, title, note, sort_by, wide)


def localization_table(rows: list[Row]) -> tuple[list[str], list[tuple[Row, list[str]]]]:
    """The localization metrics some row reports, and per such row its cells (mean ± std over the runs that
    report them; — where none does, or the detector gave no maps)."""
    names = [name for name in LOCALIZATION_METRICS if any(name in row.localization for row in rows)]
    return names, [(row, [_fmt(summarise(row.localization.get(name, []))) for name in names])
                   for row in rows if any(name in row.localization for name in names)]


def _localization_markdown(rows: list[Row]) -> list[str]:
    names, table = localization_table(rows)
    if not table:
        return []
    lines = ["", "Localization (docs/localization.md; mean ± std over seeds; — where the detector gives no maps):",
             "", "| Dataset | Detector | Input | Preset | " + " | ".join(LOCALIZATION_METRICS[n] for n in names) + " |",
             "|---|---|---|---|" + "---:|" * len(names)]
    for row, cells in table:
        preset = row.preset + "".join(f" `{s}`" for s in row.settings)
        lines.append(f"| {row.dataset_label or row.dataset} | {row.label} | {row.input or '—'} | {preset} | "
                     + " | ".join(cells) + " |")
    return lines


def failed_jobs(results: Path, datasets: set[str]) -> list[dict]:
    """The sweep failures recorded under ``results`` for these datasets, so a table never hides a missing row."""
    from bench_core.sweep import FAILURE_FILE

    found = []
    for path in sorted(results.rglob(FAILURE_FILE)):
        relative = path.relative_to(results).parts
        if any(part.startswith(".") for part in relative) or (path.parent / "record.json").exists():
            continue
        try:
            failure = read_json(path, "sweep failure record")
            if not isinstance(failure, dict):
                raise DamagedFile(path, "is not a sweep failure record (not a JSON object)")
        except DamagedFile as exc:
            skip_damaged(exc)
            continue
        if failure.get("request", {}).get("dataset") not in datasets:
            continue
        message = (failure.get("error") or {}).get("message", "?")
        found.append({"job": failure.get("job", str(path.parent)), "message": message})
    return found

