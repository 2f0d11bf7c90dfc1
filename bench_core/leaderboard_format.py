"""Leaderboard rows as people and programs read them: ranked sections per dataset in markdown, CSV or JSON.

:mod:`bench_core.leaderboard` turns run records into rows (one per dataset × detector configuration, over seeds);
this module orders and prints them. Within each dataset (a dataset with other options, e.g. another generator
seed, is its own section) rows are ranked by one metric, ``frame_auroc_micro`` unless ``--sort-by`` says
otherwise; equal means share a rank, rows without a value come last without one. The best value of each metric
column is in bold. The default markdown is compact (rank, detector, input, preset, seeds, micro AUROC with its
interval, AUPR, EER, published figure, runs); ``--wide`` adds the macro AUROC and the inference fps. The
protocol is said once above a section's table where all its rows share it, else it is a column.
Tables are built with pandas (``DataFrame.to_markdown`` / ``to_csv``), never by joining strings.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from bench_core import schemas

if TYPE_CHECKING:
    from bench_core.leaderboard import Row

DEFAULT_SORT = "frame_auroc_micro"
Format = Literal["md", "csv", "json"]
SortMetric = Literal["frame_auroc_micro", "frame_auroc_macro", "aupr", "eer", "inference_fps"]


@dataclass(frozen=True)
class Metric:
    attribute: str  # the Row list holding one value per seed
    title: str
    higher_is_better: bool
    digits: int = 3
    with_std: bool = True


METRICS: dict[str, Metric] = {
    "frame_auroc_micro": Metric("micro", "Frame AUROC (micro)", True),
    "frame_auroc_macro": Metric("macro", "Frame AUROC (macro)", True),
    "aupr": Metric("aupr", "AUPR", True),
    "eer": Metric("eer", "EER", False),
    "inference_fps": Metric("fps", "Inference fps", True, digits=1, with_std=False),
}
COMPACT_METRICS = ("frame_auroc_micro", "aupr", "eer")
WIDE_METRICS = ("frame_auroc_micro", "frame_auroc_macro", "aupr", "eer", "inference_fps")


def _mean(row: "Row", metric: str) -> float | None:
    from bench_core.leaderboard import summarise

    return summarise(getattr(row, METRICS[metric].attribute))["mean"]


def sections(rows: list["Row"]) -> dict[str, list["Row"]]:
    """Rows by the data they were measured on (the dataset's label), in the rows' order."""
    grouped: dict[str, list["Row"]] = {}
    for row in rows:
        grouped.setdefault(row.dataset_label or row.dataset, []).append(row)
    return grouped


def ranked(rows: list["Row"], sort_by: str = DEFAULT_SORT) -> list[tuple[int | None, "Row"]]:
    """``rows`` best first by ``sort_by``, each with its rank (competition ranking: 1, 1, 3); None without a value.
    The sort is stable, so equal rows keep the order ``collect`` gave them."""
    metric = METRICS[sort_by]
    valued = [(m, row) for row in rows if (m := _mean(row, sort_by)) is not None]
    valued.sort(key=lambda pair: -pair[0] if metric.higher_is_better else pair[0])
    result: list[tuple[int | None, "Row"]] = []
    for index, (value, row) in enumerate(valued):
        rank = result[-1][0] if index and value == valued[index - 1][0] else index + 1
        result.append((rank, row))
    result += [(None, row) for row in rows if _mean(row, sort_by) is None]
    return result


def _best(rows: list["Row"], metric: str) -> float | None:
    values = [m for row in rows if (m := _mean(row, metric)) is not None]
    if len(set(values)) < 2:  # one value, or all equal: nothing stands out
        return None
    return max(values) if METRICS[metric].higher_is_better else min(values)


def _metric_cell(row: "Row", metric: str, best: float | None) -> str:
    from bench_core.leaderboard import _fmt, summarise

    summary = summarise(getattr(row, METRICS[metric].attribute))
    spec = METRICS[metric]
    if spec.with_std:
        text = _fmt(summary, spec.digits)
    else:
        text = "—" if summary["mean"] is None else f"{summary['mean']:.{spec.digits}f}"
    return f"**{text}**" if best is not None and summary["mean"] == best else text


def _preset_cell(row: "Row") -> str:
    # Rows of one table that ran on other devices or thread counts say where, since CPU results depend on it.
    return (row.preset + "".join(f" `{s}`" for s in row.settings)
            + (f" ({row.compute})" if row.show_compute else ""))


def _published_cell(row: "Row") -> str:
    if not row.published:
        return "—"
    return f"{row.published['frame_auroc']:.3f} ({row.published.get('source', '')})".replace(" ()", "")


def _links(row: "Row", base: Path) -> str:
    return " ".join(f"[s{seed}]({Path(os.path.relpath(run, base)).as_posix()}/record.json)"
                    for seed, run in sorted(zip(row.seeds, row.runs)))


def _markdown(frame, right: set[str]) -> str:
    return frame.to_markdown(index=False, colalign=["right" if c in right else "left" for c in frame.columns],
                             disable_numparse=True)


def section_table(rows: list["Row"], base: Path, sort_by: str = DEFAULT_SORT, wide: bool = False,
                  protocol_column: bool = False) -> str:
    """One dataset's ranked rows as a markdown table."""
    import pandas as pd

    from bench_core.leaderboard import _fmt_interval, t_interval

    metrics = list(WIDE_METRICS if wide else COMPACT_METRICS)
    if sort_by not in metrics:
        metrics.insert(0, sort_by)
    best = {metric: _best(rows, metric) for metric in metrics}
    records = []
    for rank, row in ranked(rows, sort_by):
        record = {"Rank": "—" if rank is None else str(rank), "Detector": row.label, "Input": row.input or "—",
                  "Preset": _preset_cell(row), "Seeds": str(len(row.seeds))}
        for metric in metrics:
            record[METRICS[metric].title] = _metric_cell(row, metric, best[metric])
            if metric == "frame_auroc_micro":
                record["95% interval"] = _fmt_interval(t_interval(row.micro))
        record["Published AUROC"] = _published_cell(row)
        if protocol_column:
            record["Protocol"] = row.protocol
        record["Runs"] = _links(row, base)
        records.append(record)
    frame = pd.DataFrame(records)
    left = {"Detector", "Input", "Preset", "Protocol", "Runs"}
    return _markdown(frame, set(frame.columns) - left)


def by_kind_table(rows: list["Row"], sort_by: str = DEFAULT_SORT) -> str | None:
    """A section's frame AUROC per kind of anomaly (rows in the section's rank order); None when no kinds."""
    import pandas as pd

    from bench_core.leaderboard import _fmt

    kinded = [(rank, row) for rank, row in ranked(rows, sort_by) if row.by_kind]
    if not kinded:
        return None
    kinds = sorted({kind for _, row in kinded for kind in row.kind_summaries()})
    records = []
    for rank, row in kinded:
        summaries = row.kind_summaries()
        records.append({"Rank": "—" if rank is None else str(rank), "Detector": row.label,
                        "Input": row.input or "—", "Preset": _preset_cell(row),
                        **{kind: _fmt(summaries[kind]) if kind in summaries else "—" for kind in kinds}})
    return _markdown(pd.DataFrame(records), {"Rank", *kinds})


def default_title(rows: list["Row"]) -> str:
    return "anobench leaderboard: " + ", ".join(dict.fromkeys(row.dataset for row in rows))


def render_markdown(rows: list["Row"], results: Path, out_file: Path | None, argv: str, title: str | None = None,
                    note: str | None = None, sort_by: str = DEFAULT_SORT, wide: bool = False) -> str:
    from bench_core.leaderboard import CONFIDENCE, _localization_markdown, failed_jobs, reproduce_commands

    base = Path(out_file).parent if out_file else Path.cwd()
    metric = METRICS[sort_by]
    n_runs = sum(len(r.seeds) for r in rows)
    grouped = sections(rows)
    lines = [
        f"# {title or default_title(rows)}", "",
        *([note, ""] if note else []),
        "Reproduce this table with:", "", "```sh", *reproduce_commands(rows, Path(results)), argv, "```", "",
        f"{n_runs} runs (run records) in `{results}`, in {len(rows)} rows: a row is one detector configuration on one "
        f"dataset, over its seeds. Metrics are mean ± sample std over the seeds; the {CONFIDENCE:.0%} interval is "
        "Student's t interval of the mean micro AUROC; each run's record is linked. Rows are ranked by "
        f"`{sort_by}` ({'higher' if metric.higher_is_better else 'lower'} is better); the best value of each "
        "metric column is in bold.",
    ]
    for label, group in grouped.items():
        protocols = list(dict.fromkeys(row.protocol for row in group))
        lines += ["", f"## {label}", ""]
        if len(protocols) == 1:
            lines += [f"Protocol: {protocols[0]}.", ""]
        lines.append(section_table(group, base, sort_by, wide, protocol_column=len(protocols) > 1))
        kinds = by_kind_table(group, sort_by)
        if kinds:
            lines += ["", f"Frame AUROC by kind of anomaly on {label} (each kind's abnormal frames against all normal "
                          "frames, pooled over the test videos; mean ± std over seeds):", "", kinds]
    lines += _localization_markdown(rows)
    failures = failed_jobs(Path(results), {row.dataset for row in rows})
    if failures:
        lines += ["", "Jobs that failed (no row or fewer seeds; each folder's `failed.json` holds the error and the "
                      "traceback):", ""]
        lines += [f"- {failure['job']}: {failure['message']}" for failure in failures]
    lines.append("")
    return "\n".join(lines)


def as_json(rows: list["Row"], results: Path, title: str | None, sort_by: str = DEFAULT_SORT) -> dict:
    from bench_core.leaderboard import reproduce_commands

    ordered = [(rank, row) for group in sections(rows).values() for rank, row in ranked(group, sort_by)]
    return {
        "schema": schemas.LEADERBOARD, "title": title or default_title(rows), "results": str(results),
        "sort_by": sort_by, "n_runs": sum(len(r.seeds) for r in rows), "n_rows": len(rows),
        "reproduce": reproduce_commands(rows, Path(results)),
        "rows": [{"rank": rank, "dataset_label": row.dataset_label or row.dataset, **row.as_dict()}
                 for rank, row in ordered],
    }


def as_csv(rows: list["Row"], sort_by: str = DEFAULT_SORT) -> str:
    """One line per row, every metric as separate mean and std columns (numbers, not text), for spreadsheets."""
    import pandas as pd

    from bench_core.leaderboard import summarise, t_interval

    records = []
    for group in sections(rows).values():
        for rank, row in ranked(group, sort_by):
            record = {"dataset": row.dataset, "dataset_label": row.dataset_label or row.dataset, "rank": rank,
                      "detector": row.detector, "variant": row.variant, "input": row.input, "preset": row.preset,
                      "settings": " ".join(row.settings), "n_seeds": len(row.seeds),
                      "seeds": " ".join(map(str, sorted(row.seeds)))}
            for name, metric in METRICS.items():
                summary = summarise(getattr(row, metric.attribute))
                record[f"{name}_mean"], record[f"{name}_std"] = summary["mean"], summary["std"]
            interval = t_interval(row.micro)
            record["frame_auroc_micro_ci95_low"] = interval[0] if interval else None
            record["frame_auroc_micro_ci95_high"] = interval[1] if interval else None
            record["published_frame_auroc"] = (row.published or {}).get("frame_auroc")
            record["published_source"] = (row.published or {}).get("source")
            record["protocol"] = row.protocol
            record["runs"] = " ".join(row.runs)
            records.append(record)
    frame = pd.DataFrame(records)
    frame["rank"] = frame["rank"].astype("Int64")
    return frame.to_csv(index=False)
