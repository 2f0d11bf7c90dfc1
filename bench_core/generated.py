"""Writing generated copies of datasets (``anobench data generate``) without ever touching someone's real files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Iterable

from bench_core.dataset import GENERATED_MARKER
from bench_core.errors import UsageError


def clear_generated_copy(out: Path, generator: str, written: Iterable[str]) -> None:
    """Make ``out`` ready to write into: missing, empty, or a copy ``generator`` wrote (whose ``written`` entries,
    files or folders relative to ``out``, are removed). Anything else is refused, which keeps a generator off a
    folder of real recordings."""
    hint = "pass --out a new or empty folder; nothing was written"
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out}: exists and is not a folder", hint=hint)
    if not out.is_dir() or not any(out.iterdir()):
        return
    try:
        marker = json.loads((out / GENERATED_MARKER).read_text())
        if marker.get("generator") != generator:
            raise ValueError(marker.get("generator"))
    except (OSError, ValueError, AttributeError):
        raise UsageError(f"{out}: is not empty, and is not a folder written by 'anobench data generate "
                         f"{generator}'", hint=hint) from None
    for name in written:
        path = out / name
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
