"""The ``anobench`` command line: typer for parsing, rich for people, ``--json`` for machines."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any, List, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from typer.core import TyperGroup

import bench_core
from bench_core import field
from bench_core.calibration import DEFAULT_HOLDOUT
from bench_core.errors import AnobenchError
from bench_core.plugins import KINDS, get_catalogue, manager

_state = {"debug": False}

# Parsing errors are the parser's to report (with usage, exit 2). Typer >= 0.29 vendors click.
try:
    from click import ClickException as _ClickException

    _PARSER_ERRORS: tuple = (_ClickException, getattr(typer, "TyperException", _ClickException))
except ImportError:
    _PARSER_ERRORS = (typer.TyperException,)


def stdout() -> Console:
    return Console(soft_wrap=True)


def stderr() -> Console:
    return Console(stderr=True, soft_wrap=True)


class _Group(TyperGroup):
    """Turns AnobenchError into one line and its exit code; --debug shows the traceback instead."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, SystemExit, *_PARSER_ERRORS):
            raise
        except Exception as exc:
            console = stderr()
            if _state["debug"]:
                console.print_exception()
            if isinstance(exc, AnobenchError):
                hint = f" [dim]({escape(exc.hint)})[/dim]" if exc.hint else ""
                console.print(f"[bold red]error:[/] {escape(exc.message)}{hint}", highlight=False, markup=True)
                raise typer.Exit(exc.exit_code) from None
            if not _state["debug"]:
                console.print(f"[bold red]error:[/] unexpected {type(exc).__name__}: {escape(str(exc))} "
                              "[dim](run with --debug for the traceback)[/dim]", highlight=False)
            raise typer.Exit(1) from None


def _version(value: bool) -> None:
    if value:
        typer.echo(f"anobench {bench_core.__version__}")
        raise typer.Exit()


def _main_callback(
    debug: bool = typer.Option(False, "--debug", help="Show the full traceback when something fails."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """anobench: benchmark video anomaly detectors on your footage, with numbers you can trust."""
    _state["debug"] = debug


def _print_json(obj: Any) -> None:
    typer.echo(json.dumps(obj, indent=2, default=str))


def cmd_list(
    kind: Optional[str] = typer.Option(None, "--kind", help="Only this kind: detector, dataset, scorer or runner."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Every detector, dataset, scorer and runner, with the plugin providing each."""
    if kind is not None and kind not in KINDS:
        from bench_core.errors import UsageError, did_you_mean

        raise UsageError(f"--kind {kind!r} is not a kind", hint=did_you_mean(kind, KINDS))
    registrations = get_catalogue().all(kind)
    if as_json:
        _print_json([{"kind": r.kind, "name": r.name, "plugin": r.plugin, "target": r.target_path,
                      "summary": r.summary, **r.meta} for r in registrations])
        return
    table = Table(title="anobench: what is installed")
    for column in ("kind", "name", "plugin", "summary"):
        table.add_column(column, overflow="fold")
    for r in registrations:
        table.add_row(r.kind, r.name, r.plugin, r.summary)
    stdout().print(table)


def cmd_plugins(as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table.")) -> None:
    """Installed plugins: name, version, hooks, and any that failed to load with the error."""
    try:
        get_catalogue()  # a register hook that raises is recorded as that plugin's error
        catalogue_error = None
    except AnobenchError as exc:  # e.g. a duplicate name: still show the plugins, since that is how to find it
        catalogue_error = exc
    infos = manager.plugins()
    if as_json:
        _print_json([{"name": i.name, "distribution": i.distribution, "version": i.version, "hooks": i.hooks,
                      "blocked": i.blocked, "error": i.error} for i in infos])
        if catalogue_error is not None:
            raise catalogue_error
        return
    table = Table(title="anobench plugins")
    for column in ("name", "distribution", "version", "hooks", "status"):
        table.add_column(column, overflow="fold")
    for i in infos:
        status = "[yellow]blocked[/]" if i.blocked else (f"[red]error: {i.error}[/]" if i.error else "[green]ok[/]")
        table.add_row(i.name, i.distribution or "—", i.version or "—", ", ".join(i.hooks), status)
    stdout().print(table)
    if catalogue_error is not None:
        raise catalogue_error


def cmd_run(
    detector: str = typer.Option(..., "--detector", "-m", help="Detector name (see 'anobench list')."),
    dataset: str = typer.Option(..., "--dataset", "-d", help="Dataset name (see 'anobench list')."),
    preset: str = typer.Option("cpu", "--preset", help="Detector preset: 'paper' or 'cpu'."),
    seed: int = typer.Option(0, "--seed", help="Random seed; same inputs and seed on CPU give identical metrics."),
    settings: List[str] = typer.Option([], "--set", help="Detector setting override key=value (repeatable)."),
    data_options: List[str] = typer.Option([], "--data-option", help="Dataset option key=value (repeatable)."),
    data_root: Optional[str] = typer.Option(None, "--data-root", envvar="ANOBENCH_DATA_ROOT",
                                            help="Folder holding the dataset's files."),
    normalization: str = typer.Option("minmax-per-video", "--normalization",
                                      help="Score normalisation: minmax-per-video, none or train-stats."),
    smoothing_sigma: float = typer.Option(0.0, "--smoothing-sigma",
                                          help="Temporal Gaussian smoothing of scores, in frames (0 = off)."),
    scorers: List[str] = typer.Option(["frame-auroc"], "--scorer", help="Scorer(s) to apply (repeatable)."),
    out: Path = typer.Option(Path("results"), "--out", help="Results folder; runs go to OUT/dataset/detector/id."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Run again even if this exact run is complete."),
    resume: bool = typer.Option(False, "--resume",
                                help="Continue an interrupted training from its last epoch checkpoint."),
    calibration_holdout: float = typer.Option(
        DEFAULT_HOLDOUT, "--calibration-holdout",
        help="Share of each training video held out to set the alert threshold on normal scores (0 = none)."),
    as_json: bool = typer.Option(False, "--json", help="Print the run record as JSON on stdout."),
) -> None:
    """Train a detector on a dataset's normal footage, score every test frame, and write a run record."""
    from bench_core import records
    from bench_core.progress import RichProgress
    from bench_core.run import RunRequest, execute, plan_run

    request = RunRequest(
        detector=detector, dataset=dataset, preset=preset, seed=seed, settings=list(settings),
        data_options=list(data_options), data_root=data_root, normalization=normalization,
        smoothing_sigma=smoothing_sigma, scorers=tuple(scorers), out=out, device=device, overwrite=overwrite,
        resume=resume, calibration_holdout=calibration_holdout,
    )
    err = stderr()
    plan = plan_run(request)
    for note in plan.dataset.notes():
        err.print(f"[yellow]warning:[/] {escape(note)}", highlight=False)
    if records.is_complete(plan.path) and not overwrite:
        record = records.load_record(plan.path)
        err.print(f"[yellow]this run is already complete:[/] {plan.path} (use --overwrite to run it again)")
    else:
        record = execute(plan, RichProgress(err))
    if as_json:
        _print_json({k: v for k, v in record.items() if not k.startswith("_")})
        return
    stdout().print(_metrics_table(record))
    err.print(f"run record: {record['_path']}/record.json")


def _metrics_table(record: dict) -> Table:
    metrics, timing = record["metrics"], record["timing"]
    table = Table(title=f"{record['detector']['name']} on {record['dataset']['name']} "
                        f"(preset {record['preset']}, seed {record['seed']})")
    table.add_column("metric")
    table.add_column("value", justify="right")

    def fmt(value):
        return f"{value:.4f}" if isinstance(value, float) else ("—" if value is None else str(value))

    for key, value in metrics.items():
        table.add_row(key, fmt(value))
    table.add_row("test frames", str(record["n_test_frames"]))
    for key in ("train_seconds", "score_seconds", "inference_fps"):
        table.add_row(key, fmt(timing.get(key)))
    return table


def cmd_leaderboard(
    results: Path = typer.Argument(..., help="Results folder written by 'anobench run'."),
    out: Optional[Path] = typer.Option(None, "--out", help="Markdown file to write (e.g. leaderboards/x.md)."),
    datasets: Optional[str] = typer.Option(None, "--datasets", help="Only these datasets (comma-separated)."),
    title: Optional[str] = typer.Option(None, "--title", help="The table's heading."),
    note: Optional[str] = typer.Option(None, "--note", help="A paragraph under the heading (what the data is)."),
    by_kind: bool = typer.Option(False, "--by-kind", help="Add the frame AUROC of each kind of anomaly, for datasets "
                                 "that name their kinds (synthetic-avenue, synthetic-industrial)."),
    as_json: bool = typer.Option(False, "--json", help="Print the rows as JSON."),
) -> None:
    """Turn run records into a markdown leaderboard: mean ± std over seeds, fps, published figures."""
    from bench_core.leaderboard import collect, render_markdown
    from bench_core.records import atomic_write_bytes
    from bench_core.sweep import split_list

    catalogue = get_catalogue()
    published = {r.name: r.meta.get("published", {}) for r in catalogue.all("detector")}
    only = split_list(datasets, "--datasets") if datasets else None
    rows = collect(results, published, only, by_kind=by_kind)
    if as_json:
        _print_json([r.as_dict() for r in rows])
    argv = _leaderboard_argv(results, out, only, title, note, by_kind)
    markdown = render_markdown(rows, results, out, argv, title, note)
    if out:
        atomic_write_bytes(Path(out), markdown.encode())
        stderr().print(f"wrote {out} ({len(rows)} rows)")
    elif not as_json:
        typer.echo(markdown)


def cmd_sweep(
    detectors: str = typer.Option(..., "--detectors", help="Comma-separated detector names."),
    datasets: str = typer.Option(..., "--datasets", help="Comma-separated dataset names."),
    seeds: str = typer.Option("0", "--seeds", help="Comma-separated seeds or ranges, e.g. 0,1,2 or 0-4."),
    preset: str = typer.Option("cpu", "--preset", help="Detector preset: 'paper' or 'cpu'."),
    settings: List[str] = typer.Option([], "--set", help="Detector setting key=value for every job (repeatable)."),
    grid: List[str] = typer.Option([], "--grid", help="An extra axis over a detector setting: key=v1,v2 "
                                                     "(repeatable; the grid is the product of all axes)."),
    data_options: List[str] = typer.Option([], "--data-option", help="Dataset option key=value (repeatable)."),
    data_root: Optional[str] = typer.Option(None, "--data-root", envvar="ANOBENCH_DATA_ROOT",
                                            help="Folder holding the datasets' files."),
    normalization: str = typer.Option("minmax-per-video", "--normalization",
                                      help="Score normalisation: minmax-per-video, none or train-stats."),
    smoothing_sigma: float = typer.Option(0.0, "--smoothing-sigma", help="Temporal Gaussian smoothing, in frames."),
    scorers: List[str] = typer.Option(["frame-auroc"], "--scorer", help="Scorer(s) to apply (repeatable)."),
    out: Path = typer.Option(Path("results"), "--out", help="Results folder; each job goes to OUT/dataset/detector/id."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    overwrite: str = typer.Option("never", "--overwrite",
                                  help="never: run only missing jobs; failed: also re-run failed ones; always: all."),
    runner: str = typer.Option("serial", "--runner", help="serial, process, dask (see 'anobench list --kind runner')."),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="Dask scheduler address, e.g. tcp://HOST:8786; "
                                                                      "without it a local cluster is started."),
    workers: Optional[int] = typer.Option(None, "--workers", min=1, help="Parallel jobs (process pool, local cluster)."),
    threads_per_job: Optional[int] = typer.Option(None, "--threads-per-job", min=1,
                                                  help="torch threads per job (default: cores // workers)."),
    retries: int = typer.Option(1, "--retries", min=0, help="Dask: extra attempts for a job whose worker failed."),
    leaderboard: Optional[Path] = typer.Option(None, "--leaderboard", help="Write OUT's leaderboard to this markdown "
                                                                           "file when the sweep ends."),
    calibration_holdout: float = typer.Option(
        DEFAULT_HOLDOUT, "--calibration-holdout",
        help="Share of each training video held out to set the alert threshold on normal scores (0 = none)."),
    as_json: bool = typer.Option(False, "--json", help="Print the job summary as JSON on stdout."),
) -> None:
    """Run every detector × dataset × seed (× --grid value) job; re-running skips what is complete."""
    from bench_core import sweep
    from bench_core.run import RunRequest
    from bench_core.runners import RunnerOptions
    from bench_core.sweep_display import RichSweepDisplay

    base = RunRequest(
        detector="", dataset="", preset=preset, settings=list(settings), data_options=list(data_options),
        data_root=data_root, normalization=normalization, smoothing_sigma=smoothing_sigma, scorers=tuple(scorers),
        out=out, device=device, calibration_holdout=calibration_holdout,
    )
    if overwrite not in sweep.OVERWRITE_POLICIES:
        from bench_core.errors import UsageError

        raise UsageError(f"--overwrite {overwrite!r} is not a policy", hint="use never, failed or always")
    catalogue = get_catalogue()
    requests = sweep.expand(base, sweep.split_list(detectors, "--detectors"), sweep.split_list(datasets, "--datasets"),
                            sweep.parse_seeds(seeds), sweep.parse_grid(grid))
    the_runner = sweep.load_runner(runner, RunnerOptions(workers=workers, threads_per_job=threads_per_job,
                                                         scheduler=scheduler, retries=retries), catalogue)
    jobs = sweep.plan_jobs(requests, catalogue)
    pending, skipped = sweep.to_run(jobs, overwrite)
    err = stderr()
    err.print(f"sweep: {len(jobs)} jobs, {len(pending)} to run, {len(skipped)} already recorded "
              f"(--overwrite {overwrite}); runner {runner}", highlight=False)
    display = RichSweepDisplay(err, total=len(jobs), skipped=len(skipped), in_process=the_runner.in_process)
    # The command as parsed (not sys.argv, which differs under a wrapper): what rebuilds these results.
    command = sweep.reproduce_command(base, detectors, datasets, seeds, grid)
    try:
        with display:
            result = sweep.run_sweep(jobs, the_runner, overwrite, display, command=command, out=out)
    except KeyboardInterrupt:
        err.print("[yellow]interrupted:[/] finished jobs are recorded; run the same command again to continue")
        raise typer.Exit(130) from None
    if as_json:
        _print_json(result.as_dict())
    else:
        stdout().print(_sweep_table(result))
    err.print(f"{result.count('done')} done, {result.count('skipped')} skipped, {result.count('failed')} failed "
              f"in {result.seconds:.1f} s; records under {out}", highlight=False)
    if leaderboard is not None:
        # The sweep's own datasets: OUT may hold other sweeps' runs, which belong to other tables.
        _write_leaderboard(out, leaderboard, sweep.split_list(datasets, "--datasets"))
    if result.exit_code:
        raise typer.Exit(result.exit_code)


def _sweep_table(result) -> Table:
    table = Table(title=f"sweep: {result.count('done')} done, {result.count('skipped')} skipped, "
                        f"{result.count('failed')} failed")
    for column, justify in (("job", "left"), ("status", "left"), ("AUROC (micro)", "right"),
                            ("seconds", "right"), ("run id / error", "left")):
        table.add_column(column, justify=justify, overflow="fold")
    colours = {"done": "green", "skipped": "dim", "failed": "red"}
    for o in result.outcomes:
        micro = o.metrics.get("frame_auroc_micro")
        table.add_row(escape(o.job.label), f"[{colours[o.status]}]{o.status}[/]",
                      "—" if micro is None else f"{micro:.4f}", f"{o.seconds:.1f}" if o.seconds else "—",
                      escape(o.error) if o.error else o.job.run_id)
    return table


def _leaderboard_argv(results: Path, out: Optional[Path], datasets: Optional[list[str]], title: Optional[str] = None,
                      note: Optional[str] = None, by_kind: bool = False) -> str:
    argv = "anobench leaderboard " + shlex.quote(str(results))
    if datasets:
        argv += " --datasets " + shlex.quote(",".join(datasets))
    if by_kind:
        argv += " --by-kind"
    if title:
        argv += " --title " + shlex.quote(title)
    if note:
        argv += " --note " + shlex.quote(note)
    return argv + (f" --out {shlex.quote(str(out))}" if out else "")


def _write_leaderboard(results: Path, out: Path, datasets: Optional[list[str]] = None) -> None:
    from bench_core.leaderboard import collect, render_markdown
    from bench_core.records import atomic_write_bytes

    catalogue = get_catalogue()
    published = {r.name: r.meta.get("published", {}) for r in catalogue.all("detector")}
    rows = collect(results, published, datasets)
    argv = _leaderboard_argv(results, out, datasets)
    atomic_write_bytes(Path(out), render_markdown(rows, results, out, argv).encode())
    stderr().print(f"wrote {out} ({len(rows)} rows)")


def cmd_report(
    source: Path = typer.Argument(..., help="A run folder, or a results folder (e.g. a sweep's --out)."),
    out: Path = typer.Option(..., "--out", help="Folder for the PNGs and index.html (created if missing)."),
) -> None:
    """PNGs and one self-contained HTML page: ROC, scores over frames per test video, per-video AUROC."""
    from bench_core.report import build_report

    published = {r.name: r.meta.get("published", {}) for r in get_catalogue().all("detector")}
    index = build_report(source, out, published)
    stderr().print(f"wrote {index}")


def _png_target(out: Path, default_name: str) -> Path:
    return out if out.suffix.lower() == ".png" else out / default_name


def cmd_plot_roc(
    runs: List[Path] = typer.Argument(..., help="Run folders or results folders: one curve per run."),
    out: Path = typer.Option(..., "--out", help="A .png file, or a folder to write roc.png into."),
) -> None:
    """ROC curves, one per run (all test frames pooled), AUROC in the legend."""
    from bench_core import plots

    stderr().print(f"wrote {plots.plot_roc(plots.load_records(runs), _png_target(out, 'roc.png'))}")


def cmd_plot_scores(
    run: Path = typer.Argument(..., help="One run's folder (OUT/dataset/detector/run id)."),
    out: Path = typer.Option(..., "--out", help="Folder to write one scores-<video>.png per test video into."),
) -> None:
    """The anomaly score over frames of every test video, labelled abnormal spans shaded."""
    from bench_core import plots

    written = plots.plot_scores(plots.load_run(run), out)
    stderr().print(f"wrote {len(written)} PNGs to {out}")


def cmd_plot_latent(
    run: Path = typer.Argument(..., help="One run's folder, from a detector that saves latent means."),
    out: Path = typer.Option(..., "--out", help="A .png file, or a folder to write latent.png into."),
    seed: int = typer.Option(0, "--seed", help="t-SNE random state."),
) -> None:
    """2-D t-SNE of the test windows' latent means, coloured by the label of each window's last frame."""
    from bench_core import plots

    stderr().print(f"wrote {plots.plot_latent(plots.load_run(run), _png_target(out, 'latent.png'), seed)}")


def cmd_data_check(
    dataset: str = typer.Argument(..., help="Dataset name (see 'anobench list --kind dataset')."),
    data_root: Optional[str] = typer.Option(None, "--data-root", envvar="ANOBENCH_DATA_ROOT",
                                            help="Folder holding the dataset's files."),
    data_options: List[str] = typer.Option([], "--data-option", help="Dataset option key=value (repeatable)."),
    as_json: bool = typer.Option(False, "--json", help="Print the findings as JSON."),
) -> None:
    """Check a dataset folder: what is there per split, and every problem, one line each."""
    from bench_core.run import make_dataset

    ds = make_dataset(dataset, data_options, data_root, get_catalogue())
    problems, notes = ds.check(), ds.notes()
    splits = {} if problems else {split: _inventory(ds, split) for split in ("train", "test")}
    if as_json:
        _print_json({"dataset": dataset, "options": ds.describe_options(), "splits": splits,
                     "problems": problems, "notes": notes})
    else:
        if splits:
            table = Table(title=f"{dataset}: {ds.options.data_root or 'generated'}")
            for column in ("split", "videos", "frames", "abnormal frames", "views"):
                table.add_column(column, justify="right" if column != "split" else "left")
            for split, info in splits.items():
                table.add_row(split, str(info["videos"]), str(info["frames"]),
                              "—" if info["abnormal_frames"] is None else str(info["abnormal_frames"]),
                              ", ".join(ds.views))
            stdout().print(table)
        for note in notes:
            stderr().print(f"[yellow]warning:[/] {escape(note)}", highlight=False)
    if problems:
        for problem in problems:
            stderr().print(f"[bold red]error:[/] {escape(problem)}", highlight=False)
        raise typer.Exit(2)


def _inventory(ds, split: str) -> dict:
    videos = ds.videos(split)
    labelled = [v for v in videos if v.labels is not None]
    return {
        "videos": len(videos), "frames": int(sum(len(v) for v in videos)),
        "abnormal_frames": int(sum(int(v.labels.sum()) for v in labelled)) if labelled else None,
    }


def cmd_data_generate(
    dataset: str = typer.Argument(..., help="A generated dataset, e.g. synthetic-avenue."),
    out: Path = typer.Option(..., "--out", help="Folder to write the files to (created if missing)."),
    seed: int = typer.Option(0, "--seed", help="Generator seed; the same seed writes the same data."),
    data_options: List[str] = typer.Option([], "--data-option", help="Generator option key=value (repeatable)."),
) -> None:
    """Write a generated dataset in the real on-disk format its loader reads."""
    from bench_core.config import build_config, parse_assignments
    from bench_core.errors import UsageError

    catalogue = get_catalogue()
    dataset_cls = catalogue.get("dataset", dataset).load()
    if not dataset_cls.can_generate():
        generators = [r.name for r in catalogue.all("dataset") if r.load().can_generate()]
        raise UsageError(f"dataset '{dataset}' is not generated", hint="generated datasets: " + ", ".join(generators))
    values = parse_assignments(data_options, "--data-option")
    values["seed"] = str(seed)
    options = build_config(dataset_cls.Options, {}, None, values, "--data-option", f"dataset '{dataset}'")
    written = dataset_cls.generate(str(out), seed, options)
    stderr().print(f"wrote {len(written)} files to {out}")


def build_app() -> typer.Typer:
    """A fresh app with the built-in commands and every plugin's ``register_commands``."""
    app = typer.Typer(cls=_Group, no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                      context_settings={"help_option_names": ["-h", "--help"]})
    app.callback()(_main_callback)
    app.command("list")(cmd_list)
    app.command("plugins")(cmd_plugins)
    app.command("run")(cmd_run)
    app.command("sweep")(cmd_sweep)
    app.command("leaderboard")(cmd_leaderboard)
    app.command("report")(cmd_report)
    app.command("score")(field.cmd_score)
    plot = typer.Typer(cls=_Group, no_args_is_help=True, help="Figures from run records, as PNG files.")
    plot.command("roc")(cmd_plot_roc)
    plot.command("scores")(cmd_plot_scores)
    plot.command("latent")(cmd_plot_latent)
    app.add_typer(plot, name="plot")
    data = typer.Typer(cls=_Group, no_args_is_help=True, help="Check dataset folders and generate datasets.")
    data.command("check")(cmd_data_check)
    data.command("generate")(cmd_data_generate)
    app.add_typer(data, name="data")
    try:
        manager.ensure_loaded()
    except AnobenchError as exc:
        # A misspelled hook must be loud, but 'anobench --help' should still say what to do about it.
        stderr().print(f"[bold red]error:[/] {exc}", highlight=False)
        raise SystemExit(exc.exit_code) from None
    manager.add_commands(app)
    return app


def main() -> None:
    build_app()()
