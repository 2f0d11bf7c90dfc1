"""``anobench stgan ablation``: STGAN with each loss term or stabiliser switched off in turn, over seeds and
datasets, summarised as mean ± std of frame AUROC and written between markers into a markdown file.

Every run goes through ``bench_core.run.run``, which reuses complete runs under ``--out``: an interrupted ablation
continues where it stopped when the same command runs again.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from bench_core import schemas
from bench_core.errors import UsageError, did_you_mean
from bench_core.leaderboard import summarise as summarise_seeds

if TYPE_CHECKING:
    from bench_core.run_record import RunRecord

#: Variant name -> the settings that make it (applied after the preset and the user's --set).
VARIANTS: dict[str, list[str]] = {
    "full": [],
    "no-consist": ["consist_weight=0"],
    "no-feat": ["feat_weight=0"],
    "no-spectral-norm": ["spectral_norm=false"],
    "no-self-attention": ["self_attention=false"],
    "no-ttur": ["ttur=false"],
}
#: Datasets that serve several views; the ablation pins the frames view on them, as the paper's industrial set
#: is video.
FRAMES_VIEW_DATASETS = ("synthetic-industrial", "industrial")
START_MARKER = "<!-- ablation:start -->"
END_MARKER = "<!-- ablation:end -->"


def _split(value: str, option: str) -> list[str]:
    items = [item.strip() for item in value.split(",") if item.strip()]
    if not items:
        raise UsageError(f"{option} is empty", hint=f"give a comma-separated list, e.g. {option} a,b")
    return items


def parse_seeds(value: str) -> list[int]:
    try:
        return [int(item) for item in _split(value, "--seeds")]
    except ValueError:
        raise UsageError(f"--seeds {value!r} is not a list of integers", hint="write it as --seeds 0,1,2") from None


def parse_variants(value: str) -> list[str]:
    if value.strip() == "all":
        return list(VARIANTS)
    names = _split(value, "--variants")
    for name in names:
        if name not in VARIANTS:
            raise UsageError(f"--variants: no variant '{name}'",
                             hint=did_you_mean(name, VARIANTS) or f"choose from {', '.join(VARIANTS)}")
    return names


def variant_settings(variant: str, dataset: str, extra: list[str]) -> list[str]:
    view = ["view=frames"] if dataset in FRAMES_VIEW_DATASETS else []
    return [*view, *extra, *VARIANTS[variant]]


def summarise(records: dict[tuple[str, str], list[RunRecord]]) -> list[dict]:
    """One row per (variant, dataset): mean and sample std over seeds of micro and macro frame AUROC, the same
    summary as the leaderboards (the std is None with one seed)."""
    rows = []
    for (variant, dataset), runs in records.items():
        micro = summarise_seeds([r.metrics["frame_auroc_micro"] for r in runs])
        macro = summarise_seeds([r.metrics.get("frame_auroc_macro") for r in runs])
        rows.append({
            "variant": variant, "dataset": dataset, "n_seeds": len(runs),
            "seeds": [r.seed for r in runs],
            "micro_mean": micro["mean"], "micro_std": micro["std"],
            "macro_mean": macro["mean"], "macro_std": macro["std"],
            "train_seconds_mean": float(np.mean([r.timing.train_seconds for r in runs])),
        })
    return rows


def render_table(rows: list[dict], variants: list[str], datasets: list[str], command: str) -> str:
    def cell(mean, std):
        if mean is None:
            return "—"
        return f"{mean:.3f}" if std is None else f"{mean:.3f} ± {std:.3f}"

    by_key = {(r["variant"], r["dataset"]): r for r in rows}
    header = ["variant"]
    for dataset in datasets:
        header += [f"{dataset} micro AUROC", f"{dataset} macro AUROC"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for variant in variants:
        cells = [f"{variant} (`{' '.join(VARIANTS[variant]) or 'all on'}`)"]
        for dataset in datasets:
            row = by_key[(variant, dataset)]
            cells += [cell(row["micro_mean"], row["micro_std"]), cell(row["macro_mean"], row["macro_std"])]
        lines.append("| " + " | ".join(cells) + " |")
    seeds = sorted({s for r in rows for s in r["seeds"]})
    return "\n".join([
        f"Mean ± sample std over {len(seeds)} seed(s) ({', '.join(map(str, seeds))}) of the frame AUROC "
        "(micro: all test frames pooled; macro: mean over videos).",
        "",
        *lines,
        "",
        f"Produced by `{command}`.",
    ])


def write_between_markers(doc: Path, table: str) -> None:
    """Replace what lies between the ablation markers of ``doc``, keeping the rest; append them if absent."""
    from bench_core.records import atomic_write_bytes

    text = doc.read_text(encoding="utf-8") if doc.is_file() else ""
    block = f"{START_MARKER}\n{table}\n{END_MARKER}"
    start, end = text.find(START_MARKER), text.find(END_MARKER)
    if start != -1 and end != -1 and end > start:
        text = text[:start] + block + text[end + len(END_MARKER):]
    elif start == -1 and end == -1:
        text = (text.rstrip("\n") + "\n\n" if text else "") + "## Ablation\n\n" + block + "\n"
    else:
        raise UsageError(f"{doc} has only one of the markers {START_MARKER} and {END_MARKER}",
                         hint="add the missing one, or remove both to have the table appended")
    atomic_write_bytes(doc, text.encode("utf-8"))


def _command(datasets, seeds, preset, variants, settings, data_options, out, doc, device) -> str:
    parts = ["anobench", "stgan", "ablation", "--datasets", ",".join(datasets), "--seeds",
             ",".join(map(str, seeds)), "--preset", preset]
    if variants != list(VARIANTS):
        parts += ["--variants", ",".join(variants)]
    for item in settings:
        parts += ["--set", item]
    for item in data_options:
        parts += ["--data-option", item]
    parts += ["--out", str(out)]
    if doc is not None:
        parts += ["--doc", str(doc)]
    if device != "auto":
        parts += ["--device", device]
    return " ".join(shlex.quote(p) for p in parts)


def run_ablation(*, datasets: str, seeds: str, preset: str, variants: str, settings: list[str],
                 data_options: list[str], out: Path, doc: Path | None, device: str, as_json: bool) -> list[dict]:
    from rich.markup import escape
    from rich.table import Table

    from bench_core.cli import stderr, stdout
    from bench_core.progress import RichProgress
    from bench_core.run import RunRequest, run

    dataset_names = _split(datasets, "--datasets")
    seed_values = parse_seeds(seeds)
    variant_names = parse_variants(variants)
    err = stderr()
    # --json keeps stdout for the rows; progress bars go to stderr either way.
    progress = RichProgress(err)
    plan = [(v, d, s) for d in dataset_names for v in variant_names for s in seed_values]
    collected: dict[tuple[str, str], list[RunRecord]] = {}
    for index, (variant, dataset, seed) in enumerate(plan, 1):
        request = RunRequest(detector="stgan", dataset=dataset, preset=preset, seed=seed,
                             settings=variant_settings(variant, dataset, settings), data_options=list(data_options),
                             out=Path(out), device=device)
        err.print(f"[bold]ablation {index}/{len(plan)}:[/] {escape(variant)} on {escape(dataset)}, seed {seed}",
                  highlight=False)
        record, reused = run(request, progress)
        if reused:
            err.print("  [yellow]already complete, reused[/]")
        err.print(f"  micro AUROC {record.metrics['frame_auroc_micro']:.4f}, train "
                  f"{record.timing.train_seconds:.1f} s", highlight=False)
        collected.setdefault((variant, dataset), []).append(record)

    rows = summarise(collected)
    command = _command(dataset_names, seed_values, preset, variant_names, settings, data_options, out, doc, device)
    from bench_core.records import atomic_write_json

    Path(out).mkdir(parents=True, exist_ok=True)
    atomic_write_json(Path(out) / "ablation.json", {"schema": schemas.ABLATION, "command": command, "rows": rows})
    if doc is not None:
        write_between_markers(Path(doc), render_table(rows, variant_names, dataset_names, command))
        err.print(f"wrote the ablation table into {doc}")
    if as_json:
        print(json.dumps({"schema": schemas.ABLATION, "command": command, "rows": rows}, indent=2))
        return rows
    table = Table(title=f"STGAN ablation (preset {preset}, seeds {', '.join(map(str, seed_values))})")
    table.add_column("variant")
    table.add_column("dataset")
    table.add_column("micro AUROC", justify="right")
    table.add_column("macro AUROC", justify="right")
    table.add_column("n", justify="right")
    for row in rows:
        macro = "—" if row["macro_mean"] is None else f"{row['macro_mean']:.3f} ± {row['macro_std']:.3f}"
        table.add_row(row["variant"], row["dataset"], f"{row['micro_mean']:.3f} ± {row['micro_std']:.3f}", macro,
                      str(row["n_seeds"]))
    stdout().print(table)
    return rows
