"""Run records on disk: ``<out>/<dataset>/<detector>/<run id>/`` holding ``record.json``, scores and checkpoint.

A run is written into a hidden staging folder and renamed into place only when complete, so an interrupted run
never leaves a folder that looks finished; ``record.json`` exists only in complete runs.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np

RECORD_FILE = "record.json"
#: Where a scores file keeps lstm-vae's per-window latent means (``Detector.last_outputs`` as ``window_<name>``).
LATENT_KEY = "window_latent_mean"


@dataclass
class VideoScores:
    """One test video's saved scores: the normalised frame scores, the labels and, if kept, the latent means."""

    id: str
    score: np.ndarray
    label: np.ndarray
    latent: np.ndarray | None


def _read_umask() -> int:
    mask = os.umask(0)  # the only portable way to read it; done once, at import, before any worker threads
    os.umask(mask)
    return mask


_UMASK = _read_umask()
SCHEMA_VERSION = 1


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
    """Hold an exclusive lock on ``path`` + '.lock' while a read-modify-write of ``path`` runs, so that two sweeps
    writing to one results folder do not drop each other's entries. Yields whether another holder had to be waited
    for. Without fcntl (Windows) it does not lock."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not on POSIX
        yield False
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a") as handle:
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
    return Path(out) / dataset / detector / run_id


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


def load_record(path: Path) -> dict:
    path = Path(path)
    if path.is_dir():
        path = path / RECORD_FILE
    with open(path, encoding="utf-8") as handle:
        record = json.load(handle)
    record["_path"] = str(path.parent)
    return record


def read_scores(record: dict) -> dict[str, VideoScores | None]:
    """Each test video's saved scores, in the record's order; None for a video whose scores file is missing."""
    run = Path(record["_path"])
    videos: dict[str, VideoScores | None] = {}
    for video in record.get("per_video", []):
        path = run / video["file"]
        if not path.is_file():
            videos[video["id"]] = None
            continue
        with np.load(path) as saved:
            latent = saved[LATENT_KEY] if LATENT_KEY in saved.files else None
            videos[video["id"]] = VideoScores(video["id"], saved["score"], saved["label"].astype(np.int8), latent)
    return videos


def iter_records(root: Path) -> Iterator[dict]:
    """Every complete run record below ``root`` (staging folders are hidden and skipped)."""
    root = Path(root)
    if (root / RECORD_FILE).is_file():
        yield load_record(root)
        return
    for path in sorted(root.rglob(RECORD_FILE)):
        if any(part.startswith(".") for part in path.relative_to(root).parts):
            continue
        yield load_record(path)
