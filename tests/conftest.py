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


@pytest.fixture(scope="module")
def one_torch_thread():
    """For tests of tiny models (``pytestmark = pytest.mark.usefixtures("one_torch_thread")``): a second thread
    gains them nothing, and on a busy machine the idle-waiting of torch's thread pool makes them several times
    slower."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def interrupted_and_resumed(monkeypatch):
    """``interrupted_and_resumed(run, stop_after=2)``, for a detector that supports ``--resume``: runs
    ``run()`` (a function of extra CLI arguments returning a CliRunner result) uninterrupted, then again interrupted
    as Ctrl-C would be once epoch ``stop_after`` is checkpointed, then resumed; returns the uninterrupted and the
    resumed run records."""
    import json

    from bench_core.training import TrainingCheckpoints

    def check(run, stop_after: int = 2) -> tuple[dict, dict]:
        whole = run()
        assert whole.exit_code == 0, whole.output
        real_save = TrainingCheckpoints.save

        def save_then_stop(self, epoch, state, log):
            real_save(self, epoch, state, log)
            if epoch == stop_after:
                raise KeyboardInterrupt

        monkeypatch.setattr(TrainingCheckpoints, "save", save_then_stop)
        assert run("--overwrite").exit_code != 0
        monkeypatch.setattr(TrainingCheckpoints, "save", real_save)
        resumed = run("--overwrite", "--resume")
        assert resumed.exit_code == 0, resumed.output
        got = json.loads(resumed.stdout)
        assert got["resumed_from_epoch"] == stop_after
        return json.loads(whole.stdout), got

    return check


@pytest.fixture
def seeding_and_checkpoint_checks():
    """Checks every trainable detector owes: ``.seeded(make, train, video, loss_key)`` -- ``make(seed)`` builds a
    detector; the same seed gives identical losses and scores, another seed other scores -- and
    ``.round_trip(trained, untrained, video, path)`` -- a checkpoint restores identical scores into a detector
    that scored differently before."""
    import types

    import numpy as np

    from bench_core.progress import Progress

    def seeded(make, train, video, loss_key: str) -> None:
        results = []
        for seed in (0, 0, 1):
            detector = make(seed)
            log = detector.fit(train, Progress())
            results.append((log[loss_key], detector.score(video, Progress())))
        assert results[0][0] == results[1][0]
        np.testing.assert_array_equal(results[0][1], results[1][1])
        assert not np.array_equal(results[0][1], results[2][1])

    def round_trip(trained, untrained, video, path) -> None:
        trained.save(path)
        assert not np.array_equal(untrained.score(video, Progress()), trained.score(video, Progress()))
        untrained.load(path)
        np.testing.assert_array_equal(untrained.score(video, Progress()), trained.score(video, Progress()))

    return types.SimpleNamespace(seeded=seeded, round_trip=round_trip)
