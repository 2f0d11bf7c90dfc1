"""``anobench report``: PNG figures and one self-contained HTML page (images inlined) for a run or a results folder.

The page shows the ROC curves, the anomaly score over frames of every test video with abnormal spans shaded, a
per-video AUROC table (runs × videos) and, where the dataset names its kinds of anomaly, the AUROC of each kind, so
a reader can see on which videos and which anomalies a detector fails; for a folder of several runs, the
leaderboard too.
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

from bench_core import plots
from bench_core.leaderboard import (CONFIDENCE, LOCALIZATION_METRICS, _fmt, _fmt_interval, _fmt_mean, collect,
                                    localization_table, per_video_auroc, protocol_label, summarise, t_interval)
from bench_core.records import atomic_write_bytes

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
td.bad { background: #fde0dc; } td.good { background: #e3f4e1; }
img { max-width: 100%; border: 1px solid #eee; margin: 0.3em 0; }
code { background: #f4f4f4; padding: 0 0.2em; }
"""


#: Up to this many runs the page also draws every run's own ROC curve and score plots; beyond, only the
#: per-configuration views (bands over seeds, detectors overlaid per video) that keep the page small.
EACH_RUN_LIMIT = 6


def build_report(source: Path, out_dir: Path, published_by_detector: dict[str, dict] | None = None,
                 each_run: bool | None = None) -> Path:
    """Write the PNGs and ``index.html`` into ``out_dir``; returns the HTML file's path. ``each_run`` adds every
    run's own curves and score plots (default: only for a few runs, see ``EACH_RUN_LIMIT``)."""
    from bench_core.errors import DataError
    from bench_core.records import safe_name

    out_dir = Path(out_dir)
    # A run whose scores cannot be read is named (records.skip_damaged) and left out of every section.
    runs = plots.readable_runs(plots.load_records([source]))
    if not runs:
        raise DataError(f"{source}: none of its runs can be read", hint="the files named above are damaged")
    out_dir.mkdir(parents=True, exist_ok=True)
    each_run = len(runs) <= EACH_RUN_LIMIT if each_run is None else each_run
    rows = collect(Path(source), published_by_detector or {}, by_kind=True)
    # Sections named as the leaderboard names its rows' data: the bare name, or the options that tell sets apart.
    names = {(row.dataset, json.dumps(row.data_options, sort_keys=True)): row.dataset_label or row.dataset
             for row in rows}
    by_data: dict[str, list[dict]] = {}
    for record in runs:
        options = {k: v for k, v in record["dataset"].get("options", {}).items() if k != "data_root"}
        key = (record["dataset"]["name"], json.dumps(options, sort_keys=True))
        by_data.setdefault(names.get(key) or plots.data_label(record), []).append(record)
    sections = [f"<h1>anobench report: <code>{html.escape(str(source))}</code></h1>",
                f"<p>{len(runs)} run{'s' if len(runs) != 1 else ''} on {len(by_data)} dataset"
                f"{'s' if len(by_data) != 1 else ''}.</p>"]
    if len(by_data) > 1:
        sections.append("<p>Datasets: " + " · ".join(f"<a href='#data{i}'>{html.escape(label)}</a>"
                                                    for i, label in enumerate(by_data)) + "</p>")
    # One run gets the same table (AUPR, EER, fps...), not just the micro AUROC under its plots.
    sections += ["<h2>Leaderboard</h2>" if len(runs) > 1 else "<h2>Metrics</h2>", _leaderboard_html(rows)]
    sections += ["<h2>Per-video frame AUROC</h2>",
                 "<p>AUROC over each test video's frames; — where a video has one class only. Red: below 0.5.</p>",
                 _per_video_html(runs)]
    if any(row.by_kind for row in rows):
        sections += ["<h2>Frame AUROC by kind of anomaly</h2>",
                     "<p>Each kind's abnormal frames against every normal frame of the test videos, pooled; mean ± std "
                     "over seeds. Red: below 0.5.</p>", _by_kind_html(rows)]
    names, localization = localization_table(rows)
    if localization:
        sections += ["<h2>Localization</h2>", "<p>Pixel-level AUROC, RBDC and TBDC (docs/localization.md); mean ± std "
                     "over seeds; — where the detector gives no per-pixel maps.</p>",
                     _table(["Dataset", "Detector", "Preset", *(LOCALIZATION_METRICS[n] for n in names)],
                            [[row.dataset_label or row.dataset, row.detector, " ".join([row.preset, *row.settings]),
                              *cells] for row, cells in localization])]
    if len(runs) > 1:
        for number, (label, members) in enumerate(by_data.items()):
            folder = out_dir / f"data{number}"
            sections += [f"<h2 id='data{number}'>{html.escape(label)}</h2>",
                         "<p>ROC per configuration: the mean over its seeds, the band from the lowest to the highest "
                         "seed; then with the false positive rate on a log axis (the low-false-alarm end).</p>",
                         _img(plots.plot_roc_bands(members, folder / "roc.png")),
                         _img(plots.plot_roc_bands(members, folder / "roc-log-fpr.png", log_fpr=True)),
                         "<p>Every configuration's score on each test video (its lowest seed).</p>"]
            sections += [_img(png) for png in plots.plot_scores_overlaid(members, folder, data_name=label)]
    if not each_run:
        sections.append(f"<p>Each run's own ROC curve and score plots are left out above {EACH_RUN_LIMIT} runs "
                        "(<code>anobench report --each-run</code> adds them).</p>")
        return _write_page(out_dir, sections)
    sections += ["<h2>ROC of each run</h2>", _img(plots.plot_roc(runs, out_dir / "roc.png")),
                 _img(plots.plot_roc(runs, out_dir / "roc-log-fpr.png", log_fpr=True))]
    for index, record in enumerate(runs):
        folder = out_dir / f"run{index:03d}-{safe_name(str(record['run_id']))}"
        pngs = plots.plot_scores(record, folder)
        metrics = record.get("metrics", {})
        micro = metrics.get("frame_auroc_micro")
        sections.append(f"<h2>{html.escape(plots.run_label(record))}</h2>")
        located = "".join(f" · {title} {'—' if metrics[name] is None else f'{metrics[name]:.4f}'}"
                          for name, title in LOCALIZATION_METRICS.items() if name in metrics)
        sections.append(f"<p>run <code>{html.escape(record['run_id'])}</code> · micro AUROC "
                        f"{'—' if micro is None else f'{micro:.4f}'}{html.escape(located)} · protocol "
                        f"{html.escape(protocol_label(record.get('protocol', {})))}</p>")
        sections += [_img(png) for png in pngs]
    return _write_page(out_dir, sections)


def _write_page(out_dir: Path, sections: list[str]) -> Path:
    page = ("<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'><title>anobench report</title>"
            f"<style>{STYLE}</style></head><body>\n" + "\n".join(sections) + "\n</body></html>\n")
    index = out_dir / "index.html"
    atomic_write_bytes(index, page.encode())
    return index


def _img(png: Path) -> str:
    data = base64.b64encode(Path(png).read_bytes()).decode("ascii")
    return f"<img alt='{html.escape(png.stem)}' src='data:image/png;base64,{data}'>"


def _leaderboard_html(rows) -> str:
    head = ["Dataset", "Detector", "Preset", "Seeds", "Frame AUROC (micro)", f"{CONFIDENCE:.0%} interval",
            "Frame AUROC (macro)", "AUPR", "EER", "Inference fps", "Published AUROC", "Protocol"]
    body = []
    for row in rows:
        published = "—" if not row.published else f"{row.published['frame_auroc']:.3f}"
        cells = [row.dataset_label or row.dataset, row.detector, " ".join([row.preset, *row.settings]),
                 str(len(row.seeds)),
                 _fmt(summarise(row.micro)), _fmt_interval(t_interval(row.micro)), _fmt(summarise(row.macro)),
                 _fmt(summarise(row.aupr)), _fmt(summarise(row.eer)), _fmt_mean(summarise(row.fps)), published,
                 row.protocol]
        body.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
    return ("<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr>"
            + "".join(body) + "</table>")


def _table(head: list[str], rows: list[list[str]]) -> str:
    return ("<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr>"
            + "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>" for cells in rows)
            + "</table>")


def _by_kind_html(rows) -> str:
    rows = [row for row in rows if row.by_kind]
    kinds = sorted({kind for row in rows for kind in row.kind_summaries()})
    lines = ["<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in ["Dataset", "Detector", "Preset", *kinds])
             + "</tr>"]
    for row in rows:
        summaries = row.kind_summaries()
        cells = []
        for kind in kinds:
            summary = summaries.get(kind)
            if summary is None or summary["mean"] is None:
                cells.append("<td>—</td>")
                continue
            css = "bad" if summary["mean"] < 0.5 else ("good" if summary["mean"] >= 0.8 else "")
            cells.append(f"<td class='{css}'>{html.escape(_fmt(summary))}</td>")
        head = [row.dataset_label or row.dataset, row.detector, " ".join([row.preset, *row.settings])]
        lines.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in head) + "".join(cells) + "</tr>")
    lines.append("</table>")
    return "".join(lines)


def _per_video_html(runs: list[dict]) -> str:
    per_run = [(plots.run_label(r), per_video_auroc(r)) for r in runs]
    videos = sorted({v for _, aurocs in per_run for v in aurocs})
    lines = ["<table><tr><th>run</th>" + "".join(f"<th>{html.escape(v)}</th>" for v in videos) + "</tr>"]
    for label, aurocs in per_run:
        cells = []
        for video in videos:
            value = aurocs.get(video)
            if value is None:
                cells.append("<td>—</td>")
            else:
                css = "bad" if value < 0.5 else ("good" if value >= 0.8 else "")
                cells.append(f"<td class='{css}'>{value:.3f}</td>")
        lines.append(f"<tr><td>{html.escape(label)}</td>{''.join(cells)}</tr>")
    lines.append("</table>")
    return "".join(lines)
