"""Shared fixtures: an isolated cache, the toy plugin registered as an inline plugin object, inline plugin objects
registered for one test (register_plugin), one torch thread."""

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


@pytest.fixture
def register_plugin():
    """Registers plugin objects on the process-wide manager and always unregisters them afterwards."""
    names = []

    def register(plugin, name):
        pm.register(plugin, name=name)
        names.append(name)
        return plugin

    try:
        yield register
    finally:
        for name in reversed(names):
            if pm.has_plugin(name):
                pm.unregister(name=name)


@pytest.fixture(scope="module")
def one_torch_thread():
    """Torch at one thread for a test module (``pytestmark = pytest.mark.usefixtures("one_torch_thread")``):
    results are reproducible only at a fixed thread count, tiny models gain nothing from a second thread, and on a
    busy machine the idle-waiting of torch's thread pool makes them several times slower."""
    from bench_core.testing import torch_threads

    with torch_threads(1):
        yield
