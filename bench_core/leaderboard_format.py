"""Leaderboard rows as people and programs read them: ranked sections per dataset in markdown, CSV or JSON.

:mod:`bench_core.leaderboard` turns run records into rows (one per dataset × detector configuration, over seeds);
this module orders and prints them. Within each dataset (a dataset with other options, e.g. another generator
seed, is its own section) rows are ranked by one metric: the headline of the default scorer
(``frame_auroc_micro``) unless ``--sort-by`` names another that an installed scorer declares; equal means share a
rank, rows without a value come last without one. The best value of each metric column is in bold (the highest or
the lowest, as its declaration says). The metric columns are what the installed scorers declare
(bench_core.metrics): the compact markdown shows those declared ``show="always"`` (micro AUROC with its interval,
AUPR, EER, and any installed scorer's), ``--wide`` adds ``show="wide"`` (macro AUROC, inference fps); CSV and
JSON hold every metric. The protocol is said once above a section's table where all its rows share it, else it is a
column.
Tables are built with pandas (``DataFrame.to_markdown`` / ``to_csv``), never by joining strings.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from bench_core import schemas
from bench_core.metrics import MetricCatalogue, MetricSpec, metric_catalogue

if TYPE_CHECKING:
    from bench_core.leaderboard import Row

Format = Literal["md", "csv", "json"]


def _mean(row: "Row", metric: str) -> float | None:
    return row.summary(metric)["mean"]


def table_metrics(rows: list["Row"], metrics: MetricCatalogue, wide: bool,
                  sort_by: str | None = None) -> list[MetricSpec]:
    """The metric columns of a table of ``rows``: those shown at its width that some row reports, the ranking
    metric first where it would not be shown."""
    specs = [spec for spec in metrics.shown("wide" if wide else "compact")
             if any(spec.name in row.values for row in rows)]
    if sort_by is not None and sort_by not in {spec.name for spec in specs}:
        specs.insert(0, metrics.get(sort_by))
    return specs


def sections(rows: list["Row"]) -> dict[str, list["Row"]]:
    """Rows by the data they were measured on (the dataset's label), in the rows' order."""
    grouped: dict[str, list["Row"]] = {}
    for row in rows:
        grouped.setdefault(row.dataset_label or row.dataset, []).append(row)
    return grouped


def ranked(rows: list["Row"], sort_by: MetricSpec) -> list[tuple[int | None, "Row"]]:
    """``rows`` best first by ``sort_by``, each with its rank (competition ranking: 1, 1, 3); None without a value.
    The sort is stable, so equal rows keep the order ``collect`` gave them."""
    valued = [(m, row) for row in rows if (m := _mean(row, sort_by.name)) is not None]
    valued.sort(key=lambda pair: -pair[0] if sort_by.higher_is_better else pair[0])
    result: list[tuple[int | None, "Row"]] = []
    for index, (value, row) in enumerate(valued):
        rank = result[-1][0] if index and value == valued[index - 1][0] else index + 1
        result.append((rank, row))
    result += [(None, row) for row in rows if _mean(row, sort_by.name) is None]
    return result


def _best(rows: list["Row"], metric: MetricSpec) -> float | None:
    values = [m for row in rows if (m := _mean(row, metric.name)) is not None]
    if metric.higher_is_better is None or len(set(values)) < 2:  # a count, or all equal: nothing stands out
        return None
    return max(values) if metric.higher_is_better else min(values)


def metric_cell(row: "Row", metric: MetricSpec, best: float | None = None) -> str:
    """``mean ± std`` over the row's runs as the metric's declaration formats it; bold when it is ``best``."""
    from bench_core.leaderboard import _fmt

    summary = row.summary(metric.name)
    text = _fmt(summary, metric.format, metric.spread)
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


def section_table(rows: list["Row"], base: Path, metrics: MetricCatalogue, sort_by: str, wide: bool = False,
                  protocol_column: bool = False) -> str:
    """One dataset's ranked rows as a markdown table."""
    import pandas as pd

    from bench_core.leaderboard import CONFIDENCE, _fmt_interval, t_interval

    columns = table_metrics(rows, metrics, wide, sort_by)
    best = {spec.name: _best(rows, spec) for spec in columns}
    records = []
    for rank, row in ranked(rows, metrics.get(sort_by)):
        record = {"Rank": "—" if rank is None else str(rank), "Detector": row.label, "Input": row.input or "—",
                  "Preset": _preset_cell(row), "Seeds": str(len(row.seeds))}
        for spec in columns:
            record[spec.label] = metric_cell(row, spec, best[spec.name])
            if spec.interval:
                record[f"{CONFIDENCE:.0%} interval"] = _fmt_interval(t_interval(row.values.get(spec.name, [])))
        record["Published AUROC"] = _published_cell(row)
        if protocol_column:
            record["Protocol"] = row.protocol
        record["Runs"] = _links(row, base)
        records.append(record)
    frame = pd.DataFrame(records)
    left = {"Detector", "Input", "Preset", "Protocol", "Runs"}
    return _markdown(frame, set(frame.columns) - left)


def by_kind_table(rows: list["Row"], breakdown: MetricSpec, sort_by: MetricSpec) -> str | None:
    """A section's ``breakdown`` metric per kind of anomaly (rows in the section's rank order); None when no
    row has it."""
    import pandas as pd

    from bench_core.leaderboard import _fmt

    kinded = [(rank, row) for rank, row in ranked(rows, sort_by) if row.kind_summaries(breakdown.name)]
    if not kinded:
        return None
    kinds = sorted({kind for _, row in kinded for kind in row.kind_summaries(breakdown.name)})
    records = []
    for rank, row in kinded:
        summaries = row.kind_summaries(breakdown.name)
        records.append({"Rank": "—" if rank is None else str(rank), "Detector": row.label,
                        "Input": row.input or "—", "Preset": _preset_cell(row),
                        **{kind: _fmt(summaries[kind], breakdown.format) if kind in summaries else "—"
                           for kind in kinds}})
    return _markdown(pd.DataFrame(records), {"Rank", *kinds})


def breakdown_specs(rows: list["Row"], metrics: MetricCatalogue) -> list[MetricSpec]:
    """The breakdown metrics some row has by kind, as the scorers declare them (declaration order)."""
    present = {name for row in rows for name in row.breakdown_metrics()}
    declared = [spec for specs in metrics.breakdowns.values() for spec in specs]
    specs = list({spec.name: spec for spec in declared if spec.name in present}.values())
    return specs + [MetricSpec(name, name) for name in sorted(present - {spec.name for spec in specs})]


def default_title(rows: list["Row"]) -> str:
    return "anobench leaderboard: " + ", ".join(dict.fromkeys(row.dataset for row in rows))


def render_markdown(rows: list["Row"], results: Path, out_file: Path | None, argv: str, title: str | None = None,
                    note: str | None = None, sort_by: str | None = None, wide: bool = False) -> str:
    from bench_core.leaderboard import CONFIDENCE, _localization_markdown, failed_jobs, reproduce_commands

    base = Path(out_file).parent if out_file else Path.cwd()
    metrics = metric_catalogue()
    sort_by = metrics.sort_metric(sort_by)
    metric = metrics.get(sort_by)
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
        lines.append(section_table(group, base, metrics, sort_by, wide, protocol_column=len(protocols) > 1))
        for breakdown in breakdown_specs(group, metrics):
            kinds = by_kind_table(group, breakdown, metric)
            if kinds:
                lines += ["", f"{breakdown.label} by kind of anomaly on {label} (each kind's abnormal frames against "
                              "all normal frames, pooled over the test videos; mean ± std over seeds):", "", kinds]
    lines += _localization_markdown(rows, metrics)
    failures = failed_jobs(Path(results), {row.dataset for row in rows})
    if failures:
        lines += ["", "Jobs that failed (no row or fewer seeds; each folder's `failed.json` holds the error and the "
                      "traceback):", ""]
        lines += [f"- {failure['job']}: {failure['message']}" for failure in failures]
    lines.append("")
    return "\n".join(lines)


def metric_descriptions(rows: list["Row"], metrics: MetricCatalogue) -> dict[str, dict]:
    """What each metric of the rows is (``--json``'s ``metrics``): its title, which way is better, format, where
    tables show it, whether it is a headline; an undeclared one (its scorer not installed) has its name as title."""
    names = metrics.ordered({name for row in rows for name in row.values})
    return {name: {"label": spec.label, "higher_is_better": spec.higher_is_better, "format": spec.format,
                   "show": spec.show, "headline": spec.headline, "description": spec.description}
            for name in names for spec in [metrics.get(name)]}


def as_json(rows: list["Row"], results: Path, title: str | None, sort_by: str | None = None) -> dict:
    from bench_core.leaderboard import reproduce_commands

    metrics = metric_catalogue()
    sort_by = metrics.sort_metric(sort_by)
    ordered = [(rank, row) for group in sections(rows).values() for rank, row in ranked(group, metrics.get(sort_by))]
    return {
        "schema": schemas.LEADERBOARD, "title": title or default_title(rows), "results": str(results),
        "sort_by": sort_by, "n_runs": sum(len(r.seeds) for r in rows), "n_rows": len(rows),
        "reproduce": reproduce_commands(rows, Path(results)),
        "metrics": metric_descriptions(rows, metrics),
        "rows": [{"rank": rank, "dataset_label": row.dataset_label or row.dataset, **row.as_dict(metrics)}
                 for rank, row in ordered],
    }


def as_csv(rows: list["Row"], sort_by: str | None = None) -> str:
    """One line per row, every metric as separate mean and std columns (numbers, not text), for spreadsheets."""
    import pandas as pd

    from bench_core.leaderboard import t_interval

    metrics = metric_catalogue()
    sort_by = metrics.sort_metric(sort_by)
    names = metrics.ordered({name for row in rows for name in row.values})
    records = []
    for group in sections(rows).values():
        for rank, row in ranked(group, metrics.get(sort_by)):
            record = {"dataset": row.dataset, "dataset_label": row.dataset_label or row.dataset, "rank": rank,
                      "detector": row.detector, "variant": row.variant, "input": row.input, "preset": row.preset,
                      "settings": " ".join(row.settings), "n_seeds": len(row.seeds),
                      "seeds": " ".join(map(str, sorted(row.seeds)))}
            for name in names:
                summary = row.summary(name)
                record[f"{name}_mean"], record[f"{name}_std"] = summary["mean"], summary["std"]
            for name in names:
                if metrics.get(name).interval:
                    interval = t_interval(row.values.get(name, []))
                    record[f"{name}_ci95_low"] = interval[0] if interval else None
                    record[f"{name}_ci95_high"] = interval[1] if interval else None
            record["published_frame_auroc"] = (row.published or {}).get("frame_auroc")
            record["published_source"] = (row.published or {}).get("source")
            record["protocol"] = row.protocol
            record["runs"] = " ".join(row.runs)
            records.append(record)
    frame = pd.DataFrame(records)
    frame["rank"] = frame["rank"].astype("Int64")
    return frame.to_csv(index=False)
