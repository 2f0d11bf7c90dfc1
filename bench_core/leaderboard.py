"""Run records → a markdown leaderboard: one row per (dataset, detector, preset, settings, protocol)."""

from __future__ import annotations

import json
import math
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from bench_core.errors import DamagedFile, UsageError, did_you_mean
from bench_core.records import skip_damaged
from bench_core.results import ResultsFolder
from bench_core.run import DEFAULT_THREADS
from bench_core.run_record import InputEntry, ProtocolEntry, RunRecord

if TYPE_CHECKING:
    from bench_core.metrics import MetricCatalogue

CONFIDENCE = 0.95
#: Stands for the folder holding a dataset's files in the reproduce commands (each reader's own path).
DATA_ROOT_PLACEHOLDER = "DIR"


@dataclass
class Row:
    dataset: str
    detector: str
    preset: str
    settings: tuple[str, ...]
    protocol: str
    seeds: list[int] = field(default_factory=list)
    #: Per metric (a scorer's, as its record names it, or the harness's inference_fps), each run's value (None
    #: where a run has none). What the metrics are and how tables show them: bench_core.metrics.MetricCatalogue.
    values: dict[str, list] = field(default_factory=dict)
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
    #: Per run (when asked for), its scorers' breakdown metrics of each kind of anomaly, ``{metric: {kind: value}}``
    #: (see bench_core.breakdowns.per_kind).
    by_kind: list[dict[str, dict[str, float]]] = field(default_factory=list)
    #: Where the runs executed, e.g. "cpu, 1 thread": CPU results depend on the thread count, so runs that differ
    #: in it (or in device) are never pooled into one row.
    compute: str = ""
    #: Whether the runs read files from a data root (the reproduce commands then say --data-root DIR).
    data_root_used: bool = False
    #: Set when the table's rows ran on more than one device or thread count: the preset cell then says where.
    show_compute: bool = False
    #: The share of each training video its runs held out for their normal scores (0: none, as before it existed).
    holdout: float = 0.0
    #: The name of the sweep variant (``anobench sweep --variant``) its runs were made as; "" when none.
    variant: str = ""

    @property
    def label(self) -> str:
        """The detector, and the variant when the row has one: "stgan (no-ttur)"."""
        return f"{self.detector} ({self.variant})" if self.variant else self.detector

    def add_run_values(self, values: dict) -> None:
        """One more run's metrics; a metric this run lacks, or the earlier runs lacked, is None for that run."""
        done = len(next(iter(self.values.values()), []))
        for name in values.keys() - self.values.keys():
            self.values[name] = [None] * done
        for name, column in self.values.items():
            column.append(values.get(name))

    def summary(self, metric: str) -> dict:
        """Mean, std and n over the runs of ``metric`` (n 0 when no run reports it)."""
        return summarise(self.values.get(metric, []))

    def breakdown_metrics(self) -> list[str]:
        return sorted({name for run in self.by_kind for name in run})

    def kind_summaries(self, metric: str) -> dict[str, dict]:
        kinds = sorted({kind for run in self.by_kind for kind in run.get(metric, {})})
        return {kind: summarise([run.get(metric, {}).get(kind) for run in self.by_kind]) for kind in kinds}

    def as_dict(self, metrics: "MetricCatalogue | None" = None) -> dict:
        """The row for ``--json``: every metric its runs report or their scorers declare (mean, std, n), the t
        interval of those declared with one (``NAME_ci95``) and the breakdown by kind (``NAME_by_kind``).
        ``metrics``: the installed scorers' declarations (read when not given)."""
        from bench_core.metrics import metric_catalogue

        metrics = metrics or metric_catalogue()
        names = metrics.ordered(self.values)
        return {
            "dataset": self.dataset, "data_options": self.data_options, "detector": self.detector, "input": self.input,
            "preset": self.preset,
            "settings": list(self.settings), "protocol": self.protocol, "seeds": sorted(self.seeds),
            "n_seeds": len(self.seeds),
            "published": self.published, "compute": self.compute, "runs": self.runs, "variant": self.variant or None,
            **{name: self.summary(name) for name in names},
            **{f"{name}_ci95": t_interval(self.values[name]) for name in names if metrics.get(name).interval},
            **{f"{name}_by_kind": self.kind_summaries(name) for name in self.breakdown_metrics()},
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


def protocol_label(protocol: ProtocolEntry) -> str:
    sigma = protocol.smoothing_sigma or 0
    smoothing = f"gauss σ={sigma:g}" if sigma else "no smoothing"
    return f"{protocol.normalization}, {smoothing}, labels: {protocol.label_convention or '?'}"


def holdout_label(record: RunRecord) -> str:
    """What the protocol column adds for a run that held out normal footage (it trained on less)."""
    return f", normal hold-out {record.holdout:g}" if record.holdout else ""


def reproduce_command(record: RunRecord, out: str) -> str:
    parts = ["anobench", "run", "--detector", record.detector.name, "--dataset", record.dataset.name,
             "--preset", record.preset, "--seed", str(record.seed)]
    for item in record.detector.settings:
        parts += ["--set", item]
    options = record.dataset.options
    for key, value in options.items():
        if key != "data_root" and value not in ("", None, []) and key != "label_convention":
            # A list option (scenes, anomalies) as --data-option takes it: comma-separated, not Python's repr.
            parts += ["--data-option", f"{key}={_option_text(value)}"]
    protocol = record.protocol
    if protocol.label_convention and options.get("label_convention"):
        parts += ["--data-option", f"label_convention={protocol.label_convention}"]
    if protocol.normalization != "minmax-per-video":
        parts += ["--normalization", str(protocol.normalization)]
    if protocol.smoothing_sigma:
        parts += ["--smoothing-sigma", f"{protocol.smoothing_sigma:g}"]
    if (record.device or "cpu") != "cpu":
        parts += ["--device", record.device]
    threads = record.timing.torch_threads
    if threads and threads != DEFAULT_THREADS:
        parts += ["--threads", str(threads)]
    if options.get("data_root"):
        parts += ["--data-root", DATA_ROOT_PLACEHOLDER]  # where the files are is the reader's own
    # Always spelled out: a default that changes must not change what a published command runs.
    parts += ["--calibration-holdout", f"{record.holdout:g}"]
    parts += ["--out", out]
    return " ".join(shlex.quote(p) for p in parts)


def collect(results: Path | ResultsFolder, published_by_detector: dict[str, dict], datasets: list[str] | None = None,
            by_kind: bool = False) -> list[Row]:
    """Rows of every complete record under ``results``; ``datasets`` keeps only those datasets' records;
    ``by_kind`` adds each run's breakdown by kind of anomaly (bench_core.breakdowns.per_kind) where its dataset
    names the kinds of its anomalies (as the results folder knows them: ``ResultsFolder.events``)."""
    from bench_core import breakdowns
    from bench_core.metrics import INFERENCE_FPS, metric_catalogue

    metrics = metric_catalogue()
    folder = results if isinstance(results, ResultsFolder) else ResultsFolder(results)
    results = folder.root
    if not folder.exists():
        raise UsageError(f"{results}: no such results folder", hint="give the --out folder of 'anobench run'")
    rows: dict[tuple, Row] = {}
    present: set[str] = set()
    for record in folder.runs():
        det, data = record.detector, record.dataset
        present.add(data.name)
        if datasets and data.name not in datasets:
            continue
        # A run that held out normal footage trained on less: its own row, never pooled with one that did not.
        protocol = protocol_label(record.protocol) + holdout_label(record)
        settings = tuple(det.settings)
        # One row per experiment: the resolved config, not how it was spelled (`--set epochs=30` on a preset whose
        # value is 30 is the same experiment as no --set at all).
        experiment = json.dumps([det.version, det.config], sort_keys=True)
        data_options = data.data_options
        compute = compute_label(record)
        key = (data.name, json.dumps(data_options, sort_keys=True), det.name, record.preset, experiment,
               protocol, compute)
        row = rows.get(key)
        if row is None:
            row = rows[key] = Row(data.name, det.name, record.preset, settings, protocol,
                                  input=_input_label(det.input_spec), data_options=data_options,
                                  compute=compute)
            row.published = (published_by_detector.get(det.name) or {}).get(data.name)
        elif (len(settings), settings) < (len(row.settings), row.settings):
            row.settings = settings  # show the shortest spelling
        row.seeds.append(record.seed)
        # What the run's scorers declare (None where it lacks a value, e.g. a record older than the metric) and
        # whatever else it reports.
        row.add_run_values({**dict.fromkeys(metrics.declared_by(record.scorers)), **record.metrics,
                            INFERENCE_FPS.name: record.timing.inference_fps})
        row.variant = row.variant or record.variant
        row.holdout = record.holdout
        row.data_root_used = row.data_root_used or bool(data.options.get("data_root"))
        row.runs.append(str(record.path))
        row.run_ids.append(record.run_id)
        row.commands.append(reproduce_command(record, str(results)))
        if by_kind:
            events = folder.events(record)
            if events:
                try:
                    row.by_kind.append(breakdowns.per_kind(record, events))
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
    _name_variants(list(rows.values()), folder)
    if len({row.compute for row in rows.values()}) > 1:
        for row in rows.values():
            row.show_compute = True
    # Grouped by what the detectors read, so a table over both views of a dataset reads view by view.
    return sorted(rows.values(), key=lambda r: (r.dataset, r.dataset_label, r.input.split(" ")[0], r.detector,
                                                r.preset, r.settings, r.protocol))


def compute_label(record: RunRecord) -> str:
    """Where a run executed: its device and torch thread count, e.g. "cpu, 1 thread"."""
    threads = record.timing.torch_threads
    count = "? threads" if threads is None else f"{threads} thread{'s' if threads != 1 else ''}"
    return f"{record.device or '?'}, {count}"


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


def _name_variants(rows: list[Row], folder: ResultsFolder) -> None:
    """Name each row after the sweep variant its runs were made as: the latest sweep logged in ``results`` that ran
    them with --variant (published runs predate the option), else the name their records carry."""
    named: dict[str, str] = {}
    for entry in folder.sweep_log():
        named.update(entry.variants)
    for row in rows:
        names = {named[run_id] for run_id in row.run_ids if run_id in named}
        if len(names) == 1:
            row.variant = names.pop()


def _option_text(value) -> str:
    return ",".join(map(str, value)) if isinstance(value, list) else str(value)


def _input_label(spec: InputEntry | None) -> str:
    return spec.label() if spec else ""


def _fmt(summary: dict, number_format: str = ".3f", spread: bool = True) -> str:
    """``mean ± std`` in ``number_format``; the mean alone with one value or without ``spread``; — with none."""
    if summary["mean"] is None:
        return "—"
    if summary["std"] is None or not spread:
        return format(summary["mean"], number_format)
    return f"{format(summary['mean'], number_format)} ± {format(summary['std'], number_format)}"


def _fmt_interval(interval) -> str:
    return "—" if interval is None else f"[{interval[0]:.3f}, {interval[1]:.3f}]"


def reproduce_commands(rows: list[Row], results: Path) -> list[str]:
    """The sweep commands that produced these runs (from the results' sweeps.json); per-run commands for the rest."""
    wanted = {run_id for row in rows for run_id in row.run_ids}
    commands, covered = [], set()
    sweeps = [(set(entry.run_ids) & wanted, order, entry.command)
              for order, entry in enumerate(ResultsFolder(results).sweep_log())]
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


def render_markdown(rows: list[Row], results: Path, out_file: Path | None, argv: str, title: str | None = None,
                    note: str | None = None, sort_by: str | None = None, wide: bool = False) -> str:
    """The markdown leaderboard: ranked sections per dataset (see bench_core.leaderboard_format)."""
    from bench_core import leaderboard_format

    return leaderboard_format.render_markdown(rows, results, out_file, argv, title, note, sort_by, wide)


def localization_table(rows: list[Row], metrics: "MetricCatalogue") -> tuple[list, list[tuple[Row, list[str]]]]:
    """The localization metrics (show="localization") some row's runs report, and per such row its cells (mean ±
    std over the runs that report them; — where none does, or the detector gave no maps)."""
    specs = [spec for spec in metrics.shown("localization") if any(spec.name in row.values for row in rows)]
    return specs, [(row, [_fmt(row.summary(spec.name), spec.format) for spec in specs])
                   for row in rows if any(spec.name in row.values for spec in specs)]


def _localization_markdown(rows: list[Row], metrics: "MetricCatalogue") -> list[str]:
    specs, table = localization_table(rows, metrics)
    if not table:
        return []
    lines = ["", "Localization (docs/localization.md; mean ± std over seeds; — where the detector gives no maps):",
             "", "| Dataset | Detector | Input | Preset | " + " | ".join(spec.label for spec in specs) + " |",
             "|---|---|---|---|" + "---:|" * len(specs)]
    for row, cells in table:
        preset = row.preset + "".join(f" `{s}`" for s in row.settings)
        lines.append(f"| {row.dataset_label or row.dataset} | {row.label} | {row.input or '—'} | {preset} | "
                     + " | ".join(cells) + " |")
    return lines


def failed_jobs(results: Path, datasets: set[str]) -> list[dict]:
    """The sweep failures recorded under ``results`` for these datasets, so a table never hides a missing row."""
    return [{"job": failure.job, "message": failure.message}
            for failure in ResultsFolder(results).failures(datasets)]
