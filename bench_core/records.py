"""Run records on disk: ``<out>/<dataset>/<detector>/<run id>/`` holding ``record.json``, scores and checkpoint.

A run is written into a hidden staging folder and renamed into place only when complete, so an interrupted run
never leaves a folder that looks finished; ``record.json`` exists only in complete runs.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from bench_core.errors import DamagedFile
from bench_core.run_record import _RERUN_HINT, RECORD_FILE, SCHEMA_VERSION, RunRecord  # noqa: F401 (re-exported)

#: Where a scores file keeps lstm-vae's per-window latent means (``Detector.last_outputs`` as ``window_<name>``).
LATENT_KEY = "window_latent_mean"


@dataclass
class VideoScores:
    """One test video's saved scores: the normalised frame scores, the labels (None in a run on unlabelled test
    videos) and, if kept, the latent means."""

    id: str
    score: np.ndarray
    label: np.ndarray | None
    latent: np.ndarray | None


def _read_umask() -> int:
    mask = os.umask(0)  # the only portable way to read it; done once, at import, before any worker threads
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        # mkstemp makes the file private (0600); results and reports are meant to be shared, so use the umask.
        os.fchmod(fd, 0o666 & ~_UMASK)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=False, allow_nan=False) + "\n").encode())


@contextlib.contextmanager
def exclusive(path: Path) -> Iterator[bool]:
    """Hold an exclusive lock on ``path`` + '.lock' while a read-modify-write of ``path`` (or a run) goes on, so that
    two sweeps writing to one results folder do not drop each other's entries or run one job twice. Yields whether
    another holder had to be waited for.

    On POSIX a blocking ``flock`` (the kernel queues the waiter, and lists it in /proc/locks); elsewhere
    ``filelock``, which polls. Either way separate opens conflict, so threads of one process exclude each other too.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock_path = path.with_name(path.name + ".lock")
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not on POSIX
        from filelock import FileLock, Timeout

        lock = FileLock(lock_path)
        try:
            lock.acquire(timeout=0)
            waited = False
        except Timeout:
            lock.acquire()
            waited = True
        try:
            yield waited
        finally:
            lock.release()
        return
    with open(lock_path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            waited = False
        except BlockingIOError:
            fcntl.flock(handle, fcntl.LOCK_EX)
            waited = True
        try:
            yield waited
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def run_dir(out: Path, dataset: str, detector: str, run_id: str) -> Path:
    return Path(out) / safe_name(dataset) / safe_name(detector) / safe_name(run_id)


def is_complete(path: Path) -> bool:
    return (Path(path) / RECORD_FILE).is_file()


@contextlib.contextmanager
def staged_run_dir(final: Path, overwrite: bool) -> Iterator[Path]:
    """Yield an empty staging folder next to ``final``; on success it replaces ``final`` in one rename."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.partial-"))
    try:
        yield stage
        if final.exists():
            if not overwrite and is_complete(final):
                raise FileExistsError(final)
            # Move the old run aside first: a directory cannot be renamed onto a non-empty one.
            old = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.old-"))
            os.replace(final, old / "run")
            os.replace(stage, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(stage, final)
    finally:
        if stage.exists():
            shutil.rmtree(stage, ignore_errors=True)




def safe_name(name: str) -> str:
    """A file name for ``name`` (a video id, a dataset's name) that cannot leave its folder and never collides:
    a name made only of letters, digits and ``-_.`` is kept as it is (so published records keep their files);
    any other gets its odd characters replaced and a short hash of the original appended, so ``test 00`` and
    ``test_00`` stay two files."""
    cleaned = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
    if cleaned == name and name.strip(".") and not name.startswith("-"):
        return name
    return f"{cleaned.lstrip('.-') or '_'}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"


def inside(folder: Path, relative: str, owner: Path) -> Path:
    """``folder / relative`` once checked to stay inside ``folder`` (no absolute path, no ``..``, no symlink out);
    ``owner`` (the file that named it) is named in the DamagedFile otherwise."""
    folder = Path(folder)
    if not isinstance(relative, str) or not relative:
        raise DamagedFile(owner, f"names a file {relative!r}, which is not a path", hint=_RERUN_HINT)
    path = folder / relative
    if not path.resolve().is_relative_to(folder.resolve()):
        raise DamagedFile(owner, f"names {relative!r}, which lies outside its run folder {folder}",
                          hint="the record was edited or is not anobench's; delete it or restore it")
    return path


_collecting: contextvars.ContextVar[list | None] = contextvars.ContextVar("anobench_damaged_files", default=None)


@contextlib.contextmanager
def collect_damage() -> Iterator[list[DamagedFile]]:
    """Within this block ``skip_damaged`` collects damaged files (for the caller to name) instead of raising them."""
    found: list[DamagedFile] = []
    token = _collecting.set(found)
    try:
        yield found
    finally:
        _collecting.reset(token)


def skip_damaged(exc: DamagedFile) -> None:
    """Note ``exc`` and return (the caller then skips the file) inside ``collect_damage``; raise it elsewhere."""
    if not note_damaged(exc):
        raise exc


def note_damaged(exc: DamagedFile) -> bool:
    """Note ``exc`` for ``collect_damage`` to name; False (nothing noted) outside one."""
    found = _collecting.get()
    if found is None:
        return False
    if all(str(seen) != str(exc) for seen in found):  # a file read by two passes is named once
        found.append(exc)
    return True


def read_json(path: Path, what: str = "JSON file") -> Any:
    """A JSON file anobench wrote; a truncated, garbled or unreadable one is a DamagedFile naming it."""
    path = Path(path)
    try:
        return json.loads(path.read_bytes())
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise DamagedFile(path, f"is not a readable {what} ({type(exc).__name__}: {_first_line(exc)})",
                          hint=_RERUN_HINT) from None
    except OSError as exc:
        raise DamagedFile(path, f"cannot be read ({exc.strerror or exc})", hint="check its permissions") from None


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [""])[0]


def load_record(path: Path) -> RunRecord:
    """The run record in ``path`` (a run folder or its record.json): ``RunRecord.read``, which names a damaged
    record, one lacking a field the harness reads, or one of a schema version this anobench does not read."""
    return RunRecord.read(path)


def read_scores(record: RunRecord) -> dict[str, VideoScores | None]:
    """Each test video's saved scores, in the record's order; None for a video whose scores file is missing.
    A scores file that is damaged or lies outside the run folder is a DamagedFile naming it."""
    videos: dict[str, VideoScores | None] = {}
    for video in record.per_video:
        path = record.scores_file(video)
        if not path.is_file():
            videos[video.id] = None
            continue
        try:
            with np.load(path, allow_pickle=False) as saved:
                latent = saved[LATENT_KEY] if LATENT_KEY in saved.files else None
                score = saved["score"]
                label = saved["label"].astype(np.int8) if "label" in saved.files else None  # unlabelled test video
        except Exception as exc:  # noqa: BLE001 - zip, npy header, pickle refused, missing key: all damage
            raise DamagedFile(path, f"is not a readable scores file ({type(exc).__name__}: {_first_line(exc)})",
                              hint=_RERUN_HINT) from None
        if score.ndim != 1 or (label is not None and score.shape != label.shape):
            raise DamagedFile(path, f"holds scores of shape {score.shape} and labels of shape "
                              f"{None if label is None else label.shape}", hint=_RERUN_HINT)
        videos[video.id] = VideoScores(video.id, score, label, latent)
    return videos


def iter_records(root: Path) -> Iterator[RunRecord]:
    """Every complete run record below ``root`` (staging folders are hidden and skipped). A damaged record goes
    to ``skip_damaged``: named and skipped inside ``collect_damage``, an error elsewhere."""
    root = Path(root)
    if (root / RECORD_FILE).is_file():
        paths = [root / RECORD_FILE]
    else:
        paths = [path for path in sorted(root.rglob(RECORD_FILE))
                 if not any(part.startswith(".") for part in path.relative_to(root).parts)]
    for path in paths:
        try:
            record = load_record(path)
        except DamagedFile as exc:
            skip_damaged(exc)
            continue
        yield record
