"""A results folder's state behind one API: its run records, its sweep log (``sweeps.json``), its failed jobs
(``failed.json``) and the damaged files among them.

    OUT/sweeps.json                              # each sweep command run into OUT, with its jobs' run ids
    OUT/<dataset>/<detector>/<run id>/record.json  # a complete run (bench_core.run_record)
    OUT/<dataset>/<detector>/<run id>/failed.json  # a job that failed (no record.json beside it)

Leaderboards, reports, sweeps and the CLI read and write these through :class:`ResultsFolder` and the job-folder
functions here, never by path and key themselves. A damaged file goes to ``records.skip_damaged``: inside
``records.collect_damage`` (what the CLI's leaderboard, report and sweep use) it is named on one line and skipped,
elsewhere it is the error. Nothing here imports a plugin or the sweep machinery; the one thing that can need a
dataset plugin, the kinds of anomaly of records older than their plugin's recording them, is asked of the
``dataset_events`` function the caller passes (the CLI passes :func:`events_from_dataset_plugin`).
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import platform
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from bench_core import records, schemas
from bench_core.errors import DamagedFile
from bench_core.run_record import RECORD_FILE, RunRecord

FAILURE_FILE = "failed.json"
SWEEP_LOG = "sweeps.json"
#: Events by test video, as ``DatasetEntry.events`` gives them.
Events = dict[str, list[dict]]


@dataclass(frozen=True)
class SweepLogEntry:
    """One sweep command run into the folder, with the run ids of its jobs (a leaderboard's reproduce command)."""

    command: str
    run_ids: tuple[str, ...]
    #: Run id -> the name of the ``--variant`` it was run as (only the runs that had one).
    variants: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"schema": schemas.SWEEP_LOG_ENTRY, "command": self.command, "run_ids": sorted(self.run_ids),
                **({"variants": dict(self.variants)} if self.variants else {})}


@dataclass(frozen=True)
class Failure:
    """A failed job's ``failed.json``: which job, what went wrong, and the dataset it asked for."""

    folder: Path
    job: str
    message: str
    hint: str | None
    dataset: str | None


# -- one job's folder ------------------------------------------------------------------------------------------

def job_state(folder: Path) -> str:
    """``complete`` (its record.json exists), ``failed`` (only its failed.json) or ``missing``."""
    if records.is_complete(folder):
        return "complete"
    if (Path(folder) / FAILURE_FILE).is_file():
        return "failed"
    return "missing"


def write_failure(folder: Path, run_id: str, job: str, exc: BaseException, request: Any) -> None:
    """Write ``folder/failed.json``: the error (one line, its hint and traceback) and the job's request."""
    records.atomic_write_json(Path(folder) / FAILURE_FILE, {
        "schema": schemas.FAILURE,
        "run_id": run_id,
        "job": job,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "host": platform.node(),
        "error": {
            "type": type(exc).__name__,
            "message": " ".join(str(getattr(exc, "message", exc)).split()),
            "hint": getattr(exc, "hint", None),
            "traceback": "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)),
        },
        "request": json.loads(json.dumps(dataclasses.asdict(request), default=str)),
    })


def load_failure(folder: Path) -> Failure:
    """The failure in ``folder``; a DamagedFile naming its failed.json when that is not one."""
    path = Path(folder) / FAILURE_FILE
    failure = records.read_json(path, "sweep failure record")
    if not isinstance(failure, dict) or not isinstance(failure.get("error"), dict):
        raise DamagedFile(path, "is not a sweep failure record (no error in it)",
                          hint="delete it, or run the job again with --overwrite failed")
    request = failure.get("request")
    error = failure["error"]
    return Failure(Path(folder), str(failure.get("job", folder)), str(error.get("message", "?")), error.get("hint"),
                   request.get("dataset") if isinstance(request, dict) else None)


# -- the folder ------------------------------------------------------------------------------------------------

class ResultsFolder:
    """The state of one results folder (``--out`` of run and sweep). ``dataset_events``, when given, supplies the
    kinds of anomaly of a record that does not hold them (see :meth:`events`)."""

    def __init__(self, root: Path, dataset_events: Callable[[RunRecord], Events | None] | None = None):
        self.root = Path(root)
        self.dataset_events = dataset_events
        self._events: dict[tuple, Events | None] = {}

    def __repr__(self) -> str:
        return f"ResultsFolder({str(self.root)!r})"

    def exists(self) -> bool:
        return self.root.exists()

    # -- run records -------------------------------------------------------------------------------------------

    def runs(self) -> Iterator[RunRecord]:
        """Every complete run record below the folder (the folder may itself be one run's), in path order;
        hidden (staging, training) folders are skipped, damaged records named and skipped."""
        return records.iter_records(self.root)

    def events(self, record: RunRecord) -> Events | None:
        """Each test video's labelled events and their kinds (``{video: [{"kind", "start", "stop"}]}``, stop
        exclusive): as the record holds them, or, for a record written before its dataset plugin recorded kinds,
        as ``dataset_events`` finds them (once per dataset, options and view). None: no kinds known."""
        recorded = record.dataset.events
        if recorded is not None or self.dataset_events is None:
            return recorded
        key = (record.dataset.name, json.dumps(record.dataset.options, sort_keys=True), record.detector.view)
        if key not in self._events:
            self._events[key] = self.dataset_events(record)
        return self._events[key]

    # -- the sweep log -----------------------------------------------------------------------------------------

    @property
    def sweep_log_file(self) -> Path:
        return self.root / SWEEP_LOG

    def sweep_log(self) -> list[SweepLogEntry]:
        """The sweep commands logged here, oldest first; none when the log is missing (or damaged: named)."""
        try:
            return self._sweep_entries()
        except DamagedFile as exc:
            records.skip_damaged(exc)
            return []

    def log_sweep(self, command: str, run_ids: list[str], variants: dict[str, str] | None = None) -> None:
        """Remember a sweep command beside its runs (replacing an earlier entry of the same command), so a
        leaderboard can print the one command that rebuilds them. A damaged log is moved aside, never overwritten."""
        path = self.sweep_log_file
        with records.exclusive(path):
            try:
                entries = self._sweep_entries()
            except DamagedFile as exc:  # keep the damaged history for its owner to look at
                aside = _aside_name(path)
                os.replace(path, aside)
                records.note_damaged(DamagedFile(path, f"{exc.reason}; moved aside to {aside.name} and started "
                                                 "afresh", hint="its earlier sweep commands are in that file"))
                entries = []
            entries = [entry for entry in entries if entry.command != command]
            entries.append(SweepLogEntry(command, tuple(run_ids), dict(variants or {})))
            records.atomic_write_json(path, [entry.to_json() for entry in entries])

    def _sweep_entries(self) -> list[SweepLogEntry]:
        path = self.sweep_log_file
        if not path.is_file():
            return []
        entries = records.read_json(path, "sweep log")
        if not isinstance(entries, list) or not all(
                isinstance(e, dict) and isinstance(e.get("command"), str) and isinstance(e.get("run_ids", []), list)
                and isinstance(e.get("variants", {}), dict)
                for e in entries):
            raise DamagedFile(path, "is not a sweep log (a list of sweep commands)", hint="delete it")
        # Entries written before the log had versions carry no "schema"; their shape is version 1's.
        newer = [e["schema"] for e in entries if e.get("schema", 1) != schemas.SWEEP_LOG_ENTRY]
        if newer:
            raise DamagedFile(path, f"holds sweep log entries of schema version {newer[0]!r}; this anobench reads "
                              f"version {schemas.SWEEP_LOG_ENTRY}", hint="read it with the anobench that wrote it")
        return [SweepLogEntry(e["command"], tuple(map(str, e.get("run_ids", []))),
                              {str(k): str(v) for k, v in (e.get("variants") or {}).items()}) for e in entries]

    # -- failed jobs -------------------------------------------------------------------------------------------

    def failures(self, datasets: set[str] | None = None) -> list[Failure]:
        """The failed jobs (a failed.json without a record.json beside it) of these datasets (all: None)."""
        found = []
        for path in sorted(self.root.rglob(FAILURE_FILE)):
            relative = path.relative_to(self.root).parts
            if any(part.startswith(".") for part in relative) or (path.parent / RECORD_FILE).exists():
                continue
            try:
                failure = load_failure(path.parent)
            except DamagedFile as exc:
                records.skip_damaged(exc)
                continue
            if datasets is None or failure.dataset in datasets:
                found.append(failure)
        return found


def _aside_name(path: Path) -> Path:
    """``<path>.corrupt-<UTC time>``, a name no file has yet."""
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    aside, number = path.with_name(f"{path.name}.corrupt-{stamp}"), 1
    while aside.exists():
        number += 1
        aside = path.with_name(f"{path.name}.corrupt-{stamp}-{number}")
    return aside


def events_from_dataset_plugin(record: RunRecord) -> Events | None:
    """The kinds of anomaly of a record written before its dataset plugin recorded them (84 of the published
    synthetic-industrial records): they are in no file of the results, only in the dataset's own files (e.g. the
    generated copy's labels.json), which only its plugin can find and read; so the plugin is asked again, with
    the record's dataset options. None when the plugin is not installed or the data is not there."""
    from bench_core.plugins import get_catalogue

    data = record.dataset
    try:
        dataset_cls = get_catalogue().get("dataset", data.name, "--dataset").load()
        dataset = dataset_cls(data.name, dataset_cls.Options(**data.options))
        if dataset.check():
            return None
        view = record.detector.view or "frames"
        return dataset.record_extras(view, dataset.videos("test", view)).get("events")
    except Exception:  # noqa: BLE001 - an uninstalled plugin or missing data only means no breakdown
        return None
