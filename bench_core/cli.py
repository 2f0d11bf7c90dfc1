"""The ``anobench`` command line: typer for parsing, rich for people, ``--json`` for machines."""

from __future__ import annotations

import dataclasses
import functools
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
from bench_core import field, schemas
from bench_core.calibration import DEFAULT_HOLDOUT
from bench_core.cli_options import (Device, Normalization, OverwritePolicy, complete_names, complete_presets,
                                    expand_bare_overwrite, show_flags_as_flags)
from bench_core.errors import AnobenchError
from bench_core.leaderboard_format import Format
from bench_core.plugins import BLOCK_ENV, KINDS, get_catalogue, manager

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

    def parse_args(self, ctx, args):
        show_flags_as_flags(self, ctx)
        return super().parse_args(ctx, expand_bare_overwrite(list(args)))

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
    for info in manager.isolated():
        # A misspelled hook must be loud, but only its own plugin stops working.
        stderr().print(f"[yellow]warning:[/] plugin '{escape(info.name)}' is disabled: {escape(info.error or '')} "
                       f"[dim](fix it, or skip it with {BLOCK_ENV}={escape(info.name)})[/dim]", highlight=False)


def _names_damaged_files(command):
    """For commands that read many saved files (leaderboard, report, sweep): each damaged file is named on stderr in
    one line and skipped, the rest is done, and the command exits 1, or 2 with --strict (``records.skip_damaged``)."""
    from bench_core import records

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        code = 0
        with records.collect_damage() as damaged:
            try:
                command(*args, **kwargs)
            except typer.Exit as exc:
                code = exc.exit_code
            finally:  # named even when the command then fails (e.g. nothing readable was left)
                for exc in damaged:
                    stderr().print(f"[bold red]damaged:[/] {escape(exc.message)}, skipped"
                                   + (f" [dim]({escape(exc.hint)})[/dim]" if exc.hint else ""), highlight=False)
        if damaged:
            code = max(code, 2 if kwargs.get("strict") else 1)
        if code:
            raise typer.Exit(code)

    return wrapper


_STRICT_HELP = "Exit 2 (not 1) when a damaged file was skipped."


def _print_json(obj: Any) -> None:
    typer.echo(json.dumps(obj, indent=2, default=str))


def cmd_list(
    kind: Optional[str] = typer.Option(None, "--kind",
                                       help="Only this kind: detector, dataset, scorer, runner or generator."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    details: bool = typer.Option(False, "--details", help="With --json: each one's full 'anobench info' (imports "
                                                          "every plugin's code, torch included; slower)."),
) -> None:
    """Every detector, dataset, scorer, runner and generator, with the plugin providing each."""
    if kind is not None and kind not in KINDS:
        from bench_core.errors import UsageError, did_you_mean

        raise UsageError(f"--kind {kind!r} is not a kind", hint=did_you_mean(kind, KINDS))
    registrations = get_catalogue().all(kind)
    if as_json:
        from bench_core.info import describe_all

        # Without --details nothing is imported (listing stays fast and never loads torch).
        listed = describe_all(registrations) if details else [
            {"kind": r.kind, "name": r.name, "plugin": r.plugin, "target": r.target_path, "summary": r.summary,
             **r.meta} for r in registrations]
        _print_json({"schema": schemas.LIST, "registrations": listed})
        return
    table = Table(title="anobench: what is installed")
    for column in ("kind", "name", "plugin", "summary"):
        table.add_column(column, overflow="fold")
    for r in registrations:
        table.add_row(r.kind, r.name, r.plugin, r.summary)
    stdout().print(table)


def cmd_info(
    name: str = typer.Argument(..., help="A detector, dataset, scorer or runner name (see 'anobench list')."),
    kind: Optional[str] = typer.Option(None, "--kind", help="Only look among this kind (when two kinds share a name)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of tables."),
) -> None:
    """Everything about one detector (settings, presets, views, published figures), dataset or scorer."""
    from bench_core import info

    registration = info.find(get_catalogue(), name, kind)
    described = info.describe(registration)
    if as_json:
        _print_json({"schema": schemas.INFO, **described})
    else:
        info.render(described, stdout())


def cmd_plugins(as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table.")) -> None:
    """Installed plugins: name, version, hooks, and any that failed to load with the error."""
    try:
        get_catalogue()  # a register hook that raises is recorded as that plugin's error
        catalogue_error = None
    except AnobenchError as exc:  # e.g. a duplicate name: still show the plugins, since that is how to find it
        catalogue_error = exc
    infos = manager.plugins()
    if as_json:
        _print_json({"schema": schemas.PLUGINS, "plugins": [
            {"name": i.name, "distribution": i.distribution, "version": i.version, "hooks": i.hooks,
             "blocked": i.blocked, "error": i.error} for i in infos]})
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


PRESET_HELP = ("Detector preset (see 'anobench info DETECTOR'). Default: standard on real footage, cpu on "
               "generated data (a detector without standard falls back to cpu, with a notice).")


def cmd_run(
    detector: str = typer.Option(..., "--detector", "--detectors", "-m", metavar="<name>",
                                 autocompletion=complete_names("detector"), help="Detector name (see 'anobench list')."),
    dataset: str = typer.Option(..., "--dataset", "--datasets", "-d", metavar="<name>",
                                autocompletion=complete_names("dataset"), help="Dataset name (see 'anobench list')."),
    preset: Optional[str] = typer.Option(None, "--preset", metavar="<paper|standard|cpu|...>",
                                         autocompletion=complete_presets, show_default=False,
                                         help=PRESET_HELP),
    seed: int = typer.Option(0, "--seed", "--seeds",
                             help="Random seed; same inputs and seed on CPU give identical metrics."),
    settings: List[str] = typer.Option([], "--set", help="Detector setting override key=value (repeatable)."),
    data_options: List[str] = typer.Option([], "--data-option", help="Dataset option key=value (repeatable)."),
    data_root: Optional[str] = typer.Option(None, "--data-root", envvar="ANOBENCH_DATA_ROOT",
                                            help="Folder holding the dataset's files."),
    normalization: Normalization = typer.Option("minmax-per-video", "--normalization", help="Score normalisation."),
    smoothing_sigma: float = typer.Option(0.0, "--smoothing-sigma",
                                          help="Temporal Gaussian smoothing of scores, in frames (0 = off)."),
    scorers: List[str] = typer.Option(["frame-auroc"], "--scorer", metavar="<name>",
                                      autocompletion=complete_names("scorer"), help="Scorer(s) to apply (repeatable)."),
    out: Path = typer.Option(Path("results"), "--out", help="Results folder; runs go to OUT/dataset/detector/id."),
    device: Device = typer.Option("auto", "--device", help="Where to train and score."),
    threads: int = typer.Option(1, "--threads", min=1, help="torch threads; CPU results depend on it, so it is "
                                                            "part of the run id (default 1, as published runs)."),
    overwrite: OverwritePolicy = typer.Option("never", "--overwrite",
                                              help="As in sweep; alone it means always: run again even if this exact "
                                                   "run is complete (never and failed reuse a complete run)."),
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

    for option, value in (("--detector", detector), ("--dataset", dataset)):
        if "," in value:
            from bench_core.errors import UsageError

            raise UsageError(f"{option} {value!r}: 'run' takes one name", hint="'anobench sweep' runs several")
    request = RunRequest(
        detector=detector, dataset=dataset, preset=preset, seed=seed, settings=list(settings),
        data_options=list(data_options), data_root=data_root, normalization=normalization,
        smoothing_sigma=smoothing_sigma, scorers=tuple(scorers), out=out, device=device, threads=threads,
        overwrite=overwrite == "always", resume=resume, calibration_holdout=calibration_holdout,
    )
    err = stderr()
    plan = plan_run(request)
    for note in plan.dataset.notes():
        err.print(f"[yellow]warning:[/] {escape(note)}", highlight=False)
    if plan.preset_notice:
        err.print(f"[yellow]note:[/] {escape(plan.preset_notice)}", highlight=False)
    if records.is_complete(plan.path) and not request.overwrite:
        record = records.load_record(plan.path)
        err.print(f"[yellow]this run is already complete:[/] {plan.path} (use --overwrite to run it again)")
    else:
        try:
            record = execute(plan, RichProgress(err))
        except KeyboardInterrupt:
            again = ("re-run the same command with --resume to continue from the last epoch checkpoint"
                     if plan.detector_cls.supports_resume else "re-run the same command to start it again")
            err.print(f"[yellow]interrupted:[/] nothing was recorded; {again}", highlight=False)
            raise typer.Exit(130) from None
    if as_json:
        _print_json(record.to_json())
        return
    stdout().print(_metrics_table(record))
    if record.metrics_note:
        err.print(f"[yellow]note:[/] {escape(record.metrics_note)}", highlight=False)
    if (record.localization or {}).get("note"):
        err.print(f"[yellow]note:[/] {escape(record.localization['note'])}", highlight=False)
    err.print(f"run record: {record.file}")


def _metrics_table(record) -> Table:
    metrics, timing = record.metrics, record.timing
    table = Table(title=f"{record.detector.name} on {record.dataset.name} "
                        f"(preset {record.preset}, seed {record.seed})")
    table.add_column("metric")
    table.add_column("value", justify="right")

    def fmt(value):
        return f"{value:.4f}" if isinstance(value, float) else ("—" if value is None else str(value))

    for key, value in metrics.items():
        table.add_row(key, fmt(value))
    if "n_frames" not in metrics:  # the scorer's n_frames already says it
        table.add_row("n_frames", str(record.n_test_frames))
    for key in ("train_seconds", "score_seconds", "inference_fps"):
        table.add_row(key, fmt(getattr(timing, key)))
    return table


def cmd_leaderboard(
    results: Path = typer.Argument(..., help="Results folder written by 'anobench run'."),
    out: Optional[Path] = typer.Option(None, "--out", help="File to write (e.g. leaderboards/x.md); its suffix "
                                                           "(.md, .csv, .json) picks the format unless --format does."),
    datasets: Optional[str] = typer.Option(None, "--datasets", "--dataset", metavar="<name,...>",
                                           autocompletion=complete_names("dataset"),
                                           help="Only these datasets (comma-separated)."),
    title: Optional[str] = typer.Option(None, "--title", help="The table's heading (default: names the datasets)."),
    note: Optional[str] = typer.Option(None, "--note", help="A paragraph under the heading (what the data is)."),
    by_kind: bool = typer.Option(False, "--by-kind", help="Add the frame AUROC of each kind of anomaly, for datasets "
                                 "that name their kinds (synthetic-avenue, synthetic-industrial)."),
    sort_by: Optional[str] = typer.Option(None, "--sort-by", metavar="METRIC",
                                          help="Rank each dataset's rows by this metric: any that an installed scorer "
                                               "declares (anobench info SCORER), e.g. eer [default: the frame "
                                               "scorer's headline, frame_auroc_micro]."),
    wide: bool = typer.Option(False, "--wide", help="Every column: adds the macro AUROC and the inference fps."),
    fmt: Optional[Format] = typer.Option(None, "--format", help="md (default, or from --out's suffix), csv or json."),
    as_json: bool = typer.Option(False, "--json", help="Print the JSON on stdout (--out is still written)."),
    into: Optional[Path] = typer.Option(None, "--into", help="A markdown doc to write the table into, between its "
                                                             "--marker lines; the rest of the doc is kept."),
    marker: Optional[str] = typer.Option(None, "--marker", help="With --into: the table goes between the lines "
                                                                "<!-- anobench:MARKER:start --> and ...:end -->."),
    strict: bool = typer.Option(False, "--strict", help=_STRICT_HELP),
) -> None:
    """Turn run records into a leaderboard ranked per dataset: mean ± std over seeds, published figures."""
    from bench_core import leaderboard_format
    from bench_core.doc_markers import check_into, into_argv, write_between_markers
    from bench_core.leaderboard import collect, render_markdown
    from bench_core.metrics import metric_catalogue
    from bench_core.records import atomic_write_bytes
    from bench_core.results import ResultsFolder, events_from_dataset_plugin
    from bench_core.sweep import split_list

    catalogue = get_catalogue()
    metrics = metric_catalogue(catalogue)
    sort_by = metrics.sort_metric(sort_by)  # an unknown metric is exit 2 before any record is read
    published = {r.name: r.meta.get("published", {}) for r in catalogue.all("detector")}
    only = split_list(datasets, "--datasets") if datasets else None
    check_into(into, marker, fmt)
    rows = collect(ResultsFolder(results, events_from_dataset_plugin), published, only, by_kind=by_kind)
    chosen = fmt or {".csv": "csv", ".json": "json"}.get(out.suffix.lower() if out else "", "md")
    as_dict = leaderboard_format.as_json(rows, results, title, sort_by)
    if as_json:
        _print_json(as_dict)
        if not out and not into:
            return
    if chosen == "json":
        text = json.dumps(as_dict, indent=2, default=str) + "\n"
    elif chosen == "csv":
        text = leaderboard_format.as_csv(rows, sort_by)
    else:
        argv = _leaderboard_argv(results, out, only, title, note, by_kind,
                                 None if sort_by == metrics.default_ranking() else sort_by, wide)
        argv += into_argv(into, marker)
        text = render_markdown(rows, results, out, argv, title, note, sort_by, wide)
    if into:
        # Rendered again for the doc: its links to the run records are relative to where the doc is.
        changed = write_between_markers(into, marker, render_markdown(rows, results, into, argv, title, note,
                                                                      sort_by, wide))
        stderr().print(f"{'wrote' if changed else 'unchanged:'} the table between the {marker} markers of {into}")
        if not out:
            return
    if out:
        atomic_write_bytes(Path(out), text.encode())
        stderr().print(f"wrote {out} ({len(rows)} rows from {sum(len(r.seeds) for r in rows)} runs)")
    else:
        typer.echo(text, nl=False)


def cmd_sweep(
    detectors: str = typer.Option(..., "--detectors", "--detector", "-m", metavar="<name,...>",
                                  autocompletion=complete_names("detector"), help="Comma-separated detector names."),
    datasets: str = typer.Option(..., "--datasets", "--dataset", "-d", metavar="<name,...>",
                                 autocompletion=complete_names("dataset"), help="Comma-separated dataset names."),
    seeds: str = typer.Option("0", "--seeds", "--seed", help="Comma-separated seeds or ranges, e.g. 0,1,2 or 0-4."),
    preset: Optional[str] = typer.Option(None, "--preset", metavar="<paper|standard|cpu|...>",
                                         autocompletion=complete_presets, show_default=False,
                                         help=PRESET_HELP),
    settings: List[str] = typer.Option([], "--set", help="Detector setting key=value for every job (repeatable)."),
    grid: List[str] = typer.Option([], "--grid", help="An extra axis over a detector setting: key=v1,v2, or over "
                                                     "a dataset option: data.key=v1,v2 (repeatable; the grid is the "
                                                     "product of all axes)."),
    variants: List[str] = typer.Option([], "--variant", metavar="NAME[:key=value,...]",
                                       help="A named set of settings, one leaderboard row each (repeatable), e.g. "
                                            "no-ttur:ttur=false; NAME alone: the settings as they are."),
    data_options: List[str] = typer.Option([], "--data-option", help="Dataset option key=value (repeatable)."),
    data_root: Optional[str] = typer.Option(None, "--data-root", envvar="ANOBENCH_DATA_ROOT",
                                            help="Folder holding the datasets' files."),
    normalization: Normalization = typer.Option("minmax-per-video", "--normalization", help="Score normalisation."),
    smoothing_sigma: float = typer.Option(0.0, "--smoothing-sigma", help="Temporal Gaussian smoothing, in frames."),
    scorers: List[str] = typer.Option(["frame-auroc"], "--scorer", metavar="<name>",
                                      autocompletion=complete_names("scorer"), help="Scorer(s) to apply (repeatable)."),
    out: Path = typer.Option(Path("results"), "--out", help="Results folder; each job goes to OUT/dataset/detector/id."),
    device: Device = typer.Option("auto", "--device", help="Where to train and score."),
    overwrite: OverwritePolicy = typer.Option("never", "--overwrite",
                                              help="never: run only missing jobs; failed: also re-run failed ones; "
                                                   "always (or --overwrite alone): all."),
    runner: str = typer.Option("serial", "--runner", metavar="<name>", autocompletion=complete_names("runner"),
                               help="serial, process, dask (see 'anobench list --kind runner')."),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="Dask scheduler address, e.g. tcp://HOST:8786; "
                                                                      "without it a local cluster is started."),
    workers: Optional[int] = typer.Option(None, "--workers", min=1, help="Parallel jobs (process pool, local cluster)."),
    threads: int = typer.Option(1, "--threads", "--threads-per-job", min=1,
                                help="torch threads of every job, part of its run id (default 1; "
                                     "--threads-per-job is its old name)."),
    retries: int = typer.Option(1, "--retries", min=0, help="Dask: extra attempts for a job whose worker failed."),
    dashboard: bool = typer.Option(False, "--dashboard", help="Dask: serve the local cluster's dashboard on "
                                                              "127.0.0.1:8787 (off: no HTTP server at all)."),
    max_jobs: Optional[int] = typer.Option(None, "--max-jobs", min=1, help="Refuse a sweep of more jobs than this "
                                                                         "(default 10,000), before planning any."),
    leaderboard: Optional[Path] = typer.Option(None, "--leaderboard", help="Write OUT's leaderboard to this markdown "
                                                                           "file when the sweep ends."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Plan every job and say what would run; run nothing."),
    calibration_holdout: float = typer.Option(
        DEFAULT_HOLDOUT, "--calibration-holdout",
        help="Share of each training video held out to set the alert threshold on normal scores (0 = none)."),
    as_json: bool = typer.Option(False, "--json", help="Print the job summary as JSON on stdout."),
    strict: bool = typer.Option(False, "--strict", help=_STRICT_HELP),
) -> None:
    """Run every detector × dataset × seed (× --variant × --grid value) job; re-running skips what is complete."""
    from bench_core import sweep
    from bench_core.run import RunRequest
    from bench_core.runners import RunnerOptions, Terminated
    from bench_core.sweep_display import RichSweepDisplay
    from bench_core.variants import parse_variants

    base = RunRequest(
        detector="", dataset="", preset=preset, settings=list(settings), data_options=list(data_options),
        data_root=data_root, normalization=normalization, smoothing_sigma=smoothing_sigma, scorers=tuple(scorers),
        out=out, device=device, threads=threads, calibration_holdout=calibration_holdout,
    )
    catalogue = get_catalogue()
    max_jobs = max_jobs or sweep.MAX_JOBS
    sweep.check_grid(sweep.split_list(detectors, "--detectors"), sweep.parse_grid(grid), base, catalogue)
    named = parse_variants(variants)
    requests = sweep.expand(base, sweep.split_list(detectors, "--detectors"), sweep.split_list(datasets, "--datasets"),
                            sweep.parse_seeds(seeds, max_jobs), sweep.parse_grid(grid), max_jobs, named)
    the_runner = sweep.load_runner(runner, RunnerOptions(workers=workers, threads_per_job=threads,
                                                         scheduler=scheduler, retries=retries,
                                                         dashboard=dashboard), catalogue)
    jobs = sweep.plan_jobs(requests, catalogue)
    pending, skipped = sweep.to_run(jobs, overwrite)
    err = stderr()
    err.print(f"sweep: {len(jobs)} jobs, {len(pending)} to run, {len(skipped)} already recorded "
              f"(--overwrite {overwrite}); runner {runner}", highlight=False)
    for notice in dict.fromkeys(job.plan.preset_notice for job in jobs if job.plan and job.plan.preset_notice):
        err.print(f"[yellow]note:[/] {escape(notice)}", highlight=False)
    if dry_run:
        _print_dry_run(jobs, pending, as_json)
        return
    display = RichSweepDisplay(err, total=len(jobs), skipped=len(skipped), in_process=the_runner.in_process)
    # The command as parsed (not sys.argv, which differs under a wrapper): what rebuilds these results.
    presets = {job.request.preset for job in jobs}  # resolved: spelled out, as a default may change later
    command = sweep.reproduce_command(dataclasses.replace(base, preset=presets.pop()) if len(presets) == 1 else base,
                                      detectors, datasets, seeds, grid, named)
    try:
        with display:
            result = sweep.run_sweep(jobs, the_runner, overwrite, display, command=command, out=out)
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM (runners.Terminated): no worker is left running
        err.print("[yellow]interrupted:[/] finished jobs are recorded; run the same command again to continue")
        raise typer.Exit(143 if isinstance(exc, Terminated) else 130) from None
    if as_json:
        _print_json(result.as_dict())
    else:
        stdout().print(_sweep_table(result))
    err.print(f"{result.count('done')} done, {result.count('skipped')} skipped, {result.count('failed')} failed "
              f"in {result.seconds:.1f} s; records under {out}", highlight=False)
    if leaderboard is not None:
        # The sweep's own datasets: OUT may hold other sweeps' runs, which belong to other tables.
        try:
            _write_leaderboard(out, leaderboard, sweep.split_list(datasets, "--datasets"))
        except AnobenchError as exc:
            if not result.exit_code:
                raise
            # No table (e.g. every job failed) must not turn the sweep's exit 1 into the leaderboard's exit 2.
            err.print(f"[bold red]error:[/] leaderboard not written: {escape(str(exc))}", highlight=False)
    if result.exit_code:
        raise typer.Exit(result.exit_code)


def _print_dry_run(jobs, pending, as_json: bool) -> None:
    """What a sweep would do: every job, the ones it would run and the ones already recorded (nothing is written)."""
    from bench_core.sweep import job_state

    states = {job.run_id: job_state(job) for job in jobs}
    to_run = {job.run_id for job in pending}
    summary = {"schema": schemas.SWEEP_DRY_RUN, "jobs": len(jobs), "to_run": len(to_run),
               "already_recorded": sum(1 for s in states.values() if s == "complete"),
               "failed_kept": sum(1 for job in jobs if states[job.run_id] == "failed" and job.run_id not in to_run),
               "job_list": [{"job": job.label, "run_id": job.run_id, "path": str(job.path),
                             "state": states[job.run_id], "will_run": job.run_id in to_run,
                             **({"variant": job.request.variant} if job.request.variant else {})} for job in jobs]}
    if as_json:
        _print_json(summary)
        return
    table = Table(title=f"sweep --dry-run: {summary['jobs']} jobs, {summary['to_run']} to run, "
                        f"{summary['already_recorded']} already recorded")
    for column in ("job", "state", "would run", "run id"):
        table.add_column(column, overflow="fold")
    for item in summary["job_list"]:
        table.add_row(escape(item["job"]), item["state"], "yes" if item["will_run"] else "no", item["run_id"])
    stdout().print(table)


def _sweep_table(result) -> Table:
    from bench_core.metrics import metric_catalogue

    # The headline metric of each scorer the jobs ran (frame-auroc's: the micro AUROC).
    headlines = metric_catalogue().headlines(s for o in result.outcomes for s in o.job.request.scorers)
    table = Table(title=f"sweep: {result.count('done')} done, {result.count('skipped')} skipped, "
                        f"{result.count('failed')} failed")
    for column, justify in (("job", "left"), ("status", "left"), *((spec.label, "right") for spec in headlines),
                            ("seconds", "right"), ("run id / error", "left")):
        table.add_column(column, justify=justify, overflow="fold")
    colours = {"done": "green", "skipped": "dim", "failed": "red"}
    for o in result.outcomes:
        values = [o.metrics.get(spec.name) for spec in headlines]
        table.add_row(escape(o.job.label), f"[{colours[o.status]}]{o.status}[/]",
                      *("—" if value is None else spec.text(value) for spec, value in zip(headlines, values)),
                      f"{o.seconds:.1f}" if o.seconds else "—", escape(o.error) if o.error else o.job.run_id)
    return table


def _leaderboard_argv(results: Path, out: Optional[Path], datasets: Optional[list[str]], title: Optional[str] = None,
                      note: Optional[str] = None, by_kind: bool = False, sort_by: Optional[str] = None,
                      wide: bool = False) -> str:
    argv = "anobench leaderboard " + shlex.quote(str(results))
    if datasets:
        argv += " --datasets " + shlex.quote(",".join(datasets))
    if by_kind:
        argv += " --by-kind"
    if sort_by:  # None: the default ranking
        argv += f" --sort-by {sort_by}"
    if wide:
        argv += " --wide"
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
    strict: bool = typer.Option(False, "--strict", help=_STRICT_HELP),
    each_run: Optional[bool] = typer.Option(None, "--each-run/--no-each-run",
                                            help="Also every run's own ROC curve and score plots (default: only "
                                                 "for up to 6 runs, which keeps a big sweep's page small)."),
) -> None:
    """PNGs and one self-contained HTML page: ROC, scores over frames per test video, per-video AUROC."""
    from bench_core.report import build_report
    from bench_core.results import ResultsFolder, events_from_dataset_plugin

    published = {r.name: r.meta.get("published", {}) for r in get_catalogue().all("detector")}
    index = build_report(ResultsFolder(source, events_from_dataset_plugin), out, published, each_run)
    stderr().print(f"wrote {index}")


#: Figure files matplotlib writes by their suffix; any other --out is a folder.
FIGURE_SUFFIXES = (".png", ".pdf", ".svg")


def _png_target(out: Path, default_name: str) -> Path:
    return out if out.suffix.lower() in FIGURE_SUFFIXES else out / default_name


def cmd_plot_roc(
    runs: List[Path] = typer.Argument(..., help="Run folders or results folders: one curve per run."),
    out: Path = typer.Option(..., "--out", help="A .png, .pdf or .svg file, or a folder to write roc.png into."),
    log_fpr: bool = typer.Option(False, "--log-fpr", help="False positive rate on a log axis from 0.1% (the "
                                                          "low-false-alarm view)."),
) -> None:
    """ROC curves, one per run (all test frames pooled), AUROC in the legend."""
    from bench_core import plots

    target = _png_target(out, "roc-log-fpr.png" if log_fpr else "roc.png")
    stderr().print(f"wrote {plots.plot_roc(plots.load_records(runs), target, log_fpr)}")


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
    out: Path = typer.Option(..., "--out", help="A .png, .pdf or .svg file, or a folder to write latent.png into."),
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
    full: bool = typer.Option(False, "--full", help="Also decode every frame of every video, naming the first "
                                                   "frame of each file that does not decode (slow: a full pass)."),
    as_json: bool = typer.Option(False, "--json", help="Print the findings as JSON."),
) -> None:
    """Check a dataset folder: what is there per split, and every problem, one line each."""
    from bench_core.run import make_dataset

    ds = make_dataset(dataset, data_options, data_root, get_catalogue())
    problems, notes = ds.check(), ds.notes()
    if full and not problems:
        problems = _decode_everything(ds)
    splits = {} if problems else {split: _inventory(ds, split) for split in ("train", "test")}
    contents = ds.contents()
    if as_json:
        _print_json({"schema": schemas.DATA_CHECK, "dataset": dataset, "options": ds.describe_options(),
                     "splits": splits, **({"videos": contents} if contents else {}), "problems": problems,
                     "notes": notes})
    else:
        if contents:
            stdout().print(_contents_table(contents))
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


def _contents_table(contents: list[dict]) -> Table:
    table = Table(title="videos found")
    for column in contents[0]:
        text = column in ("split", "video", "source")
        table.add_column(column.replace("_", " "), justify="left" if text else "right")
    for row in contents:
        table.add_row(*("—" if value is None else str(value) for value in row.values()))
    return table


def _inventory(ds, split: str) -> dict:
    videos = ds.videos(split)
    labelled = [v for v in videos if v.labels is not None]
    return {
        "videos": len(videos), "frames": int(sum(len(v) for v in videos)),
        "abnormal_frames": int(sum(int(v.labels.sum()) for v in labelled)) if labelled else None,
    }


def _decode_everything(ds) -> list[str]:
    """One problem line per video with a frame that does not decode (``data check --full``)."""
    from bench_core.progress import RichProgress
    from bench_core.video_io import first_undecodable_frame

    videos = [video for split in ("train", "test") for video in ds.videos(split)]
    problems = []
    with RichProgress(stderr()).task("decode", total=sum(len(v) for v in videos)) as task:
        for video in videos:
            problem = first_undecodable_frame(video, task=task)
            if problem:
                problems.append(problem)
    return problems


def cmd_data_generate(
    dataset: str = typer.Argument(..., metavar="GENERATOR",
                                  help="A generator, e.g. synthetic-avenue ('anobench list --kind generator')."),
    out: Path = typer.Option(..., "--out", help="Folder to write the files to (created if missing)."),
    seed: int = typer.Option(0, "--seed", help="Generator seed; the same seed writes the same data."),
    data_options: List[str] = typer.Option([], "--data-option", help="Generator option key=value (repeatable)."),
) -> None:
    """Write a generated dataset in the real on-disk format its loader reads."""
    from bench_core.generator import find_generator, generator_options

    generator_cls = find_generator(get_catalogue(), dataset)
    written = generator_cls().write(out, seed, generator_options(generator_cls, dataset, seed, data_options))
    stderr().print(f"wrote {len(written)} files to {out}")


def cmd_cache(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Where the cache is and how much each dataset holds there (prepared videos, generated data)."""
    if ctx.invoked_subcommand is not None:
        return
    from bench_core import cache

    found = cache.summary()
    if as_json:
        _print_json(found)
        return
    table = Table(title=f"anobench cache: {found['path']} ({cache.human(found['total_bytes'])})")
    for column in ("dataset", "prepared videos", "prepared size", "dataset's own files", "total"):
        table.add_column(column, justify="left" if column == "dataset" else "right", no_wrap=column == "dataset")
    for name, row in found["datasets"].items():
        table.add_row(name, str(row["prepared_entries"]), cache.human(row["prepared_bytes"]),
                      cache.human(row["own_bytes"]), cache.human(row["total_bytes"]))
    stdout().print(table)
    stderr().print("'anobench cache clear [--dataset NAME] [--max-size SIZE]' frees it; runs prepare again what "
                   "they need", highlight=False)


def cmd_cache_clear(
    dataset: Optional[str] = typer.Option(None, "--dataset", metavar="<name>", autocompletion=complete_names("dataset"),
                                          help="Only this dataset's entries."),
    max_size: Optional[str] = typer.Option(None, "--max-size", metavar="<size>",
                                           help="Keep the most recently written entries up to this size, e.g. 2GB."),
    as_json: bool = typer.Option(False, "--json", help="Print what was removed as JSON."),
) -> None:
    """Remove cached entries: all, one dataset's, or the oldest beyond a size cap."""
    from bench_core import cache

    cap = cache.parse_size(max_size) if max_size is not None else None
    removed = cache.clear(dataset, cap)
    if as_json:
        _print_json(removed)
        return
    count = removed["removed_entries"]
    stderr().print(f"removed {count} cache entr{'y' if count == 1 else 'ies'} ({cache.human(removed['freed_bytes'])}); "
                   f"{cache.human(removed['left_bytes'])} left" + (f" of dataset {dataset}" if dataset else ""),
                   highlight=False)


def build_app() -> typer.Typer:
    """A fresh app with the built-in commands and every plugin's ``register_commands``."""
    app = typer.Typer(cls=_Group, no_args_is_help=True, add_completion=True, pretty_exceptions_enable=False,
                      context_settings={"help_option_names": ["-h", "--help"]})
    app.callback()(_main_callback)
    app.command("list")(cmd_list)
    app.command("info")(cmd_info)
    app.command("plugins")(cmd_plugins)
    app.command("run")(cmd_run)
    app.command("sweep")(_names_damaged_files(cmd_sweep))
    app.command("leaderboard")(_names_damaged_files(cmd_leaderboard))
    app.command("report")(_names_damaged_files(cmd_report))
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
    cache = typer.Typer(cls=_Group, invoke_without_command=True, help="The preprocessing cache: see and clear it.")
    cache.callback()(cmd_cache)
    cache.command("clear")(cmd_cache_clear)
    app.add_typer(cache, name="cache")
    manager.add_commands(app)
    return app


def main() -> None:
    build_app()()
