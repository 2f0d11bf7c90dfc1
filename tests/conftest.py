"""Shared fixtures: an isolated cache, and the toy plugin registered as an inline plugin object."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench_core.plugins import pm
from toy_plugin import ToyPlugin

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path_factory, monkeypatch):
    """No test reads or writes the user's ~/.cache/anobench."""
    monkeypatch.setenv("ANOBENCH_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "anobench-cache"))


@pytest.fixture
def toy_plugin():
    pm.register(ToyPlugin(), name="toy")
    try:
        yield
    finally:
        pm.unregister(name="toy")
