"""``anobench report``: PNG figures and one self-contained HTML page (images inlined) for a run or a results folder.

The page shows the ROC curves, the anomaly score over frames of every test video with abnormal spans shaded, a
per-video AUROC table (runs × videos) and, where the dataset names its kinds of anomaly, the AUROC of each kind, so
a reader can see on which videos and which anomalies a detector fails; for a folder of several runs, the
leaderboard too.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import NamedTuple

import jinja2

from bench_core import plots
from bench_core.leaderboard import (CONFIDENCE, LOCALIZATION_METRICS, _fmt, _fmt_interval, _fmt_mean, collect,
                                    localization_table, per_video_auroc, protocol_label, summarise, t_interval)
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
        leaderboard=_leaderboard_table(rows), per_video=_per_video_table(runs),
        by_kind=_by_kind_table(rows) if any(row.by_kind for row in rows) else None,
        localization=_localization_table(rows),
        dataset_sections=[_dataset_section(members, out_dir / data["anchor"], data)
                          for data, members in zip(datasets, by_data.values())] if len(runs) > 1 else [],
        each_run=_each_run(runs, out_dir) if each_run else None, each_run_limit=EACH_RUN_LIMIT)
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


def _graded(value: float, text: str) -> Cell:
    """An AUROC cell shaded red below chance and green from 0.8."""
    return Cell(text, "bad" if value < 0.5 else ("good" if value >= 0.8 else ""))


def _config_cells(row) -> list[str]:
    return [row.dataset_label or row.dataset, row.detector, " ".join([row.preset, *row.settings])]


def _leaderboard_table(rows) -> dict:
    head = ["Dataset", "Detector", "Preset", "Seeds", "Frame AUROC (micro)", f"{CONFIDENCE:.0%} interval",
            "Frame AUROC (macro)", "AUPR", "EER", "Inference fps", "Published AUROC", "Protocol"]
    body = []
    for row in rows:
        published = "—" if not row.published else f"{row.published['frame_auroc']:.3f}"
        body.append([*_config_cells(row), str(len(row.seeds)),
                     _fmt(summarise(row.micro)), _fmt_interval(t_interval(row.micro)), _fmt(summarise(row.macro)),
                     _fmt(summarise(row.aupr)), _fmt(summarise(row.eer)), _fmt_mean(summarise(row.fps)), published,
                     row.protocol])
    return {"head": head, "rows": body}


def _localization_table(rows) -> dict | None:
    names, localization = localization_table(rows)
    if not localization:
        return None
    return {"head": ["Dataset", "Detector", "Preset", *(LOCALIZATION_METRICS[n] for n in names)],
            "rows": [[*_config_cells(row), *cells] for row, cells in localization]}


def _by_kind_table(rows) -> dict:
    rows = [row for row in rows if row.by_kind]
    kinds = sorted({kind for row in rows for kind in row.kind_summaries()})
    body = []
    for row in rows:
        summaries = row.kind_summaries()
        cells: list = []
        for kind in kinds:
            summary = summaries.get(kind)
            missing = summary is None or summary["mean"] is None
            cells.append("—" if missing else _graded(summary["mean"], _fmt(summary)))
        body.append([*_config_cells(row), *cells])
    return {"head": ["Dataset", "Detector", "Preset", *kinds], "rows": body}


def _per_video_table(runs: list[RunRecord]) -> dict:
    per_run = [(plots.run_label(r), per_video_auroc(r)) for r in runs]
    videos = sorted({v for _, aurocs in per_run for v in aurocs})
    body = []
    for label, aurocs in per_run:
        values = [aurocs.get(video) for video in videos]
        body.append([label, *("—" if value is None else _graded(value, f"{value:.3f}") for value in values)])
    return {"head": ["run", *videos], "rows": body}


def _dataset_section(members: list[RunRecord], folder: Path, data: dict) -> dict:
    """One dataset's ROC bands over seeds (linear and log FPR) and its configurations overlaid on each video."""
    return {**data, "roc": [_image(plots.plot_roc_bands(members, folder / "roc.png")),
                            _image(plots.plot_roc_bands(members, folder / "roc-log-fpr.png", log_fpr=True))],
            "scores": [_image(png) for png in plots.plot_scores_overlaid(members, folder, data_name=data["label"])]}


def _each_run(runs: list[RunRecord], out_dir: Path) -> dict:
    """Every run's own ROC curve (both views) and score plots, with its run id and headline figures."""
    from bench_core.records import safe_name

    roc = [_image(plots.plot_roc(runs, out_dir / "roc.png")),
           _image(plots.plot_roc(runs, out_dir / "roc-log-fpr.png", log_fpr=True))]
    sections = []
    for index, record in enumerate(runs):
        folder = out_dir / f"run{index:03d}-{safe_name(record.run_id)}"
        pngs = plots.plot_scores(record, folder)
        metrics = record.metrics
        sections.append({
            "label": plots.run_label(record), "run_id": record.run_id,
            "micro": _figure(metrics.get("frame_auroc_micro")),
            "localization": [(title, _figure(metrics[name])) for name, title in LOCALIZATION_METRICS.items()
                             if name in metrics],
            "protocol": protocol_label(record.protocol), "scores": [_image(png) for png in pngs]})
    return {"roc": roc, "runs": sections}


def _figure(value: float | None) -> str:
    return "—" if value is None else f"{value:.4f}"
