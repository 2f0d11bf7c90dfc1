"""Benchmarks read real files from ../shared/data where present and keep their caches out of ~/.cache."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
AVENUE_MINI = SHARED_DATA / "avenue-mini"


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ANOBENCH_CACHE_DIR", str(tmp_path / "cache"))


def need_avenue_mini():
    if not AVENUE_MINI.is_dir():
        pytest.skip(f"{AVENUE_MINI} is absent: these benchmarks decode real Avenue files")
