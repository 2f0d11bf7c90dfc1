"""What the cache holds and clearing it: ``anobench cache`` (where, size per dataset) and ``anobench cache clear``.

The cache (``~/.cache/anobench``, or ``$ANOBENCH_CACHE_DIR``) holds two kinds of thing:

- ``prepared/``: the videos at a detector's input size (bench_core/views.py). An *entry* is every file there that
  shares a stem (the name up to its first dot: the array, and whatever sidecars go with it), so this module need not
  know what the sidecars are. Which dataset an entry belongs to is kept beside it in ``<stem>.owner.json``, written
  by the run that prepared it; entries prepared before that sidecar existed are counted as ``(unknown)``.
- every other top-level folder is a dataset plugin's own (generated videos, parsed labels), named after the dataset.

Nothing here is needed for correctness: a cleared entry is prepared again by the next run that needs it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from bench_core import schemas
from bench_core.errors import UsageError, did_you_mean
from bench_core.views import cache_dir

PREPARED = "prepared"
OWNER_SUFFIX = ".owner.json"
UNKNOWN = "(unknown)"
_UNITS = {"": 1, "B": 1, "K": 1024, "KB": 1024, "M": 1024 ** 2, "MB": 1024 ** 2, "G": 1024 ** 3, "GB": 1024 ** 3,
          "T": 1024 ** 4, "TB": 1024 ** 4}


@dataclass
class Entry:
    """One prepared video (all files sharing a stem) or one dataset's own folder."""

    dataset: str
    files: list[Path] = field(default_factory=list)
    size: int = 0
    last_used: float = 0.0  # newest mtime among its files


def stem(path: Path) -> str:
    return path.name.lstrip(".").split(".", 1)[0]


def remember_owner(prepared: list, dataset: str) -> None:
    """Write ``<stem>.owner.json`` beside every prepared array (numpy memmaps know their file) that has none yet."""
    for frames in prepared:
        filename = getattr(frames, "filename", None)
        if not filename:
            continue
        path = Path(filename)
        owner = path.with_name(stem(path) + OWNER_SUFFIX)
        if owner.exists():
            continue
        tmp = owner.with_name(f".{owner.name}.{os.getpid()}.tmp")
        try:
            tmp.write_text(json.dumps({"dataset": dataset}))
            os.replace(tmp, owner)
        except OSError:  # a read-only cache still serves its arrays; only the accounting is lost
            tmp.unlink(missing_ok=True)


def _owner(files: list[Path]) -> str:
    for path in files:
        if path.name.endswith(OWNER_SUFFIX):
            try:
                return str(json.loads(path.read_text())["dataset"])
            except (OSError, ValueError, KeyError, TypeError):
                return UNKNOWN
    return UNKNOWN


def _files_size(files: list[Path]) -> tuple[int, float]:
    size, newest = 0, 0.0
    for path in files:
        try:
            stat = path.stat()
        except OSError:
            continue
        size += stat.st_size
        newest = max(newest, stat.st_mtime)
    return size, newest


def entries(root: Path | None = None) -> list[Entry]:
    """Every prepared entry and every dataset folder in the cache."""
    root = root or cache_dir()
    if not root.is_dir():
        return []
    found: list[Entry] = []
    prepared = root / PREPARED
    if prepared.is_dir():
        by_stem: dict[str, list[Path]] = {}
        for path in prepared.iterdir():
            if path.is_file():
                by_stem.setdefault(stem(path), []).append(path)
        for files in by_stem.values():
            size, newest = _files_size(files)
            found.append(Entry(_owner(files), sorted(files), size, newest))
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and p.name != PREPARED):
        files = [p for p in folder.rglob("*") if p.is_file()]
        size, newest = _files_size(files)
        found.append(Entry(folder.name, [folder], size, newest))
    return found


def summary(root: Path | None = None) -> dict:
    """``{"schema", "path", "total_bytes", "datasets": {name: {"prepared_entries", "prepared_bytes",
    "own_bytes", "total_bytes"}}}`` for ``anobench cache``."""
    root = root or cache_dir()
    datasets: dict[str, dict] = {}
    for entry in entries(root):
        row = datasets.setdefault(entry.dataset, {"prepared_entries": 0, "prepared_bytes": 0, "own_bytes": 0,
                                                  "total_bytes": 0})
        if entry.files and entry.files[0].is_dir():
            row["own_bytes"] += entry.size
        else:
            row["prepared_entries"] += 1
            row["prepared_bytes"] += entry.size
        row["total_bytes"] += entry.size
    return {"schema": schemas.CACHE, "path": str(root), "total_bytes": sum(r["total_bytes"] for r in datasets.values()),
            "datasets": dict(sorted(datasets.items()))}


def parse_size(text: str) -> int:
    """``500MB``, ``2G``, ``1.5GB``, ``0`` → bytes (binary units)."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([A-Za-z]*)\s*", text)
    unit = match.group(2).upper() if match else None
    if not match or unit not in _UNITS:
        raise UsageError(f"--max-size {text!r} is not a size", hint="e.g. 500MB, 2GB or 0")
    return int(float(match.group(1)) * _UNITS[unit])


def human(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"


def _remove(entry: Entry) -> None:
    for path in entry.files:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def clear(dataset: str | None = None, max_size: int | None = None, root: Path | None = None) -> dict:
    """Remove entries: all of them, or only ``dataset``'s; with ``max_size`` only the least recently written until
    the cache (or that dataset's part of it) fits. Returns ``{"removed_entries", "freed_bytes", "left_bytes"}``."""
    found = entries(root)
    if dataset is not None:
        names = {e.dataset for e in found}
        if dataset not in names:
            raise UsageError(f"the cache holds nothing of dataset '{dataset}'",
                             hint=did_you_mean(dataset, names) if names else "the cache is empty")
        found = [e for e in found if e.dataset == dataset]
    total = sum(e.size for e in found)
    removed = freed = 0
    for entry in sorted(found, key=lambda e: e.last_used):  # oldest first
        if max_size is not None and total - freed <= max_size:
            break
        _remove(entry)
        removed += 1
        freed += entry.size
    return {"schema": schemas.CACHE, "removed_entries": removed, "freed_bytes": freed, "left_bytes": total - freed}

