"""``anobench report``: PNG figures and one self-contained HTML page (images inlined) for a run or a results folder.

The page shows the ROC curves, the anomaly score over frames of every test video with abnormal spans shaded, a
per-video table (runs × videos) of each scorer's breakdown metric (the frame AUROC) and, where the dataset names its
kinds of anomaly, that metric per kind, so a reader can see on which videos and which anomalies a detector fails;
the metrics table (the leaderboard, for a folder of several runs) has a column per metric the installed scorers
declare for tables (bench_core.metrics).
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import NamedTuple

import jinja2

from bench_core import breakdowns, plots
from bench_core.leaderboard import (CONFIDENCE, _fmt, _fmt_interval, collect, localization_table, protocol_label,
                                    t_interval)
from bench_core.leaderboard_format import breakdown_specs, metric_cell, table_metrics
from bench_core.metrics import MetricCatalogue, MetricSpec, metric_catalogue
from bench_core.records import atomic_write_bytes
from bench_core.results import ResultsFolder
from bench_core.run_record import RunRecord

#: Up to this many runs the page also draws every run's own ROC curve and score plots; beyond, only the
#: per-configuration views (bands over seeds, detectors overlaid per video) that keep the page small.
EACH_RUN_LIMIT = 6

#: The page's template, shipped as package data (pyproject.toml); autoescaped, so a run id or a setting is text.
TEMPLATE = "report.html.j2"


class Cell(NamedTuple):
    """A table cell with a CSS class (``bad``/``good`` shade AUROCs); plain cells are bare strings."""

    text: str
    css: str = ""


class Image(NamedTuple):
    """A PNG inlined in the page, so it opens without fetching anything."""

    alt: str
    data: str  # base64


def build_report(source: Path | ResultsFolder, out_dir: Path, published_by_detector: dict[str, dict] | None = None,
                 each_run: bool | None = None) -> Path:
    """Write the PNGs and ``index.html`` into ``out_dir``; returns the HTML file's path. ``source`` is a run
    folder or a results folder (as a ``ResultsFolder``, it says how to find the kinds of anomaly of old records).
    ``each_run`` adds every run's own curves and score plots (default: only for a few runs, see
    ``EACH_RUN_LIMIT``)."""
    from bench_core.errors import DataError

    folder = source if isinstance(source, ResultsFolder) else ResultsFolder(source)
    source = folder.root
    out_dir = Path(out_dir)
    # A run whose scores cannot be read is named (records.skip_damaged) and left out of every section.
    runs = plots.readable_runs(plots.load_records([source]))
    if not runs:
        raise DataError(f"{source}: none of its runs can be read", hint="the files named above are damaged")
    out_dir.mkdir(parents=True, exist_ok=True)
    each_run = len(runs) <= EACH_RUN_LIMIT if each_run is None else each_run
    rows = collect(folder, published_by_detector or {}, by_kind=True)
    metrics = metric_catalogue()
    # Sections named as the leaderboard names its rows' data: the bare name, or the options that tell sets apart.
    names = {(row.dataset, json.dumps(row.data_options, sort_keys=True)): row.dataset_label or row.dataset
             for row in rows}
    by_data: dict[str, list[RunRecord]] = {}
    for record in runs:
        key = (record.dataset.name, json.dumps(record.dataset.data_options, sort_keys=True))
        by_data.setdefault(names.get(key) or plots.data_label(record), []).append(record)
    datasets = [{"label": label, "anchor": f"data{number}"} for number, label in enumerate(by_data)]
    page = _template().render(
        source=str(source), n_runs=len(runs), datasets=datasets,
        # One run gets the same table (AUPR, EER, fps...), not just the micro AUROC under its plots.
        leaderboard=_leaderboard_table(rows, metrics), per_video=_per_video_tables(runs, metrics),
        by_kind=[_by_kind_table(rows, spec) for spec in breakdown_specs(rows, metrics)],
        localization=_localization_table(rows, metrics),
        dataset_sections=[_dataset_section(members, out_dir / data["anchor"], data)
                          for data, members in zip(datasets, by_data.values())] if len(runs) > 1 else [],
        each_run=_each_run(runs, out_dir, metrics) if each_run else None, each_run_limit=EACH_RUN_LIMIT)
    index = out_dir / "index.html"
    atomic_write_bytes(index, page.encode())
    return index


def _template() -> jinja2.Template:
    environment = jinja2.Environment(loader=jinja2.PackageLoader("bench_core", "templates"), autoescape=True,
                                     trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
                                     undefined=jinja2.StrictUndefined)
    return environment.get_template(TEMPLATE)


def _image(png: Path) -> Image:
    return Image(png.stem, base64.b64encode(Path(png).read_bytes()).decode("ascii"))


def _shading(spec: MetricSpec) -> str:
    """What the shading of a table of ``spec`` means, for the text above it."""
    return "" if spec.grades is None else f" Red: below {spec.grades[0]:g}; green: from {spec.grades[1]:g}."


def _graded(value: float | None, text: str, spec: MetricSpec) -> Cell | str:
    """A cell shaded as the metric's ``grades`` say (an AUROC: red below chance, green from 0.8)."""
    if value is None or spec.grades is None:
        return text
    bad, good = spec.grades
    return Cell(text, "bad" if value < bad else ("good" if value >= good else ""))


def _config_cells(row) -> list[str]:
    return [row.dataset_label or row.dataset, row.detector, " ".join([row.preset, *row.settings])]


def _leaderboard_table(rows, metrics: MetricCatalogue) -> dict:
    """Every row with a column per metric the rows report that tables show (compact and wide alike), the interval
    after the metric declared with one."""
    columns = table_metrics(rows, metrics, wide=True)
    head = ["Dataset", "Detector", "Preset", "Seeds"]
    for spec in columns:
        head += [spec.label, *([f"{CONFIDENCE:.0%} interval"] if spec.interval else [])]
    head += ["Published AUROC", "Protocol"]
    body = []
    for row in rows:
        published = "—" if not row.published else f"{row.published['frame_auroc']:.3f}"
        cells = [*_config_cells(row), str(len(row.seeds))]
        for spec in columns:
            cells.append(metric_cell(row, spec))
            if spec.interval:
                cells.append(_fmt_interval(t_interval(row.values.get(spec.name, []))))
        body.append([*cells, published, row.protocol])
    return {"head": head, "rows": body}


def _localization_table(rows, metrics: MetricCatalogue) -> dict | None:
    specs, localization = localization_table(rows, metrics)
    if not localization:
        return None
    return {"head": ["Dataset", "Detector", "Preset", *(spec.label for spec in specs)],
            "rows": [[*_config_cells(row), *cells] for row, cells in localization]}


def _by_kind_table(rows, spec: MetricSpec) -> dict:
    rows = [row for row in rows if row.kind_summaries(spec.name)]
    kinds = sorted({kind for row in rows for kind in row.kind_summaries(spec.name)})
    body = []
    for row in rows:
        summaries = row.kind_summaries(spec.name)
        cells: list = []
        for kind in kinds:
            summary = summaries.get(kind)
            missing = summary is None or summary["mean"] is None
            cells.append("—" if missing else _graded(summary["mean"], _fmt(summary, spec.format), spec))
        body.append([*_config_cells(row), *cells])
    return {"title": spec.label, "shading": _shading(spec), "head": ["Dataset", "Detector", "Preset", *kinds],
            "rows": body}


def _per_video_tables(runs: list[RunRecord], metrics: MetricCatalogue) -> list[dict]:
    """Per breakdown metric of the runs' scorers, a table of runs × test videos."""
    per_run = [(plots.run_label(r), breakdowns.per_video(r)) for r in runs]
    names = list(dict.fromkeys(name for _, by_metric in per_run for name in by_metric))
    declared = {spec.name: spec for specs in metrics.breakdowns.values() for spec in specs}
    tables = []
    for name in names:
        spec = declared.get(name) or MetricSpec(name, name)
        videos = sorted({v for _, by_metric in per_run for v in by_metric.get(name, {})})
        body = []
        for label, by_metric in per_run:
            values = [by_metric.get(name, {}).get(video) for video in videos]
            body.append([label, *("—" if value is None else _graded(value, spec.text(value), spec)
                                  for value in values)])
        tables.append({"title": spec.label, "shading": _shading(spec), "head": ["run", *videos], "rows": body})
    return tables


def _dataset_section(members: list[RunRecord], folder: Path, data: dict) -> dict:
    """One dataset's ROC bands over seeds (linear and log FPR) and its configurations overlaid on each video."""
    return {**data, "roc": [_image(plots.plot_roc_bands(members, folder / "roc.png")),
                            _image(plots.plot_roc_bands(members, folder / "roc-log-fpr.png", log_fpr=True))],
            "scores": [_image(png) for png in plots.plot_scores_overlaid(members, folder, data_name=data["label"])]}


def _each_run(runs: list[RunRecord], out_dir: Path, metrics: MetricCatalogue) -> dict:
    """Every run's own ROC curve (both views) and score plots, with its run id and the headline metric of each
    of its scorers."""
    from bench_core.records import safe_name

    roc = [_image(plots.plot_roc(runs, out_dir / "roc.png")),
           _image(plots.plot_roc(runs, out_dir / "roc-log-fpr.png", log_fpr=True))]
    sections = []
    for index, record in enumerate(runs):
        folder = out_dir / f"run{index:03d}-{safe_name(record.run_id)}"
        pngs = plots.plot_scores(record, folder)
        sections.append({
            "label": plots.run_label(record), "run_id": record.run_id,
            "headlines": [(spec.label, _figure(record.metrics.get(spec.name))) for spec in
                          metrics.headlines(record.scorers) if spec.name in record.metrics],
            "protocol": protocol_label(record.protocol), "scores": [_image(png) for png in pngs]})
    return {"roc": roc, "runs": sections}


def _figure(value: float | None) -> str:
    return "—" if value is None else f"{value:.4f}"
