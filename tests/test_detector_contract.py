"""The detector contract (bench_core/testing.py) on every registered detector and every view it reads, at its
``test_settings``: one finite score per window, same seed same results, save/load round trip, resume equals an
uninterrupted training, videos shorter than the window, and a view it lacks as a one-line usage error.

The cases come from the plugin registry when the tests are collected, so a detector installed later is checked
with no edit here. The second half proves that the contract can fail: deliberately broken toy detectors,
registered as an inline plugin, each fail the check they break.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from bench_core import Detector, InputSpec, hookimpl
from bench_core.cli import build_app
from bench_core.plugins import get_catalogue, pm
from bench_core.testing import DetectorContract, check_unsupported_views, supported_views
from bench_core.views import check_view, window_frames


def _registered_detectors() -> list[tuple[str, type[Detector]]]:
    return [(registration.name, registration.load()) for registration in get_catalogue().all("detector")]


DETECTORS = _registered_detectors()
CASES = [pytest.param(name, view, id=f"{name}-{view}") for name, cls in DETECTORS for view in supported_views(cls)]
_contracts: dict[tuple[str, str], DetectorContract] = {}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def contract(name: str, view: str) -> DetectorContract:
    """One contract per detector and view, so that its checks share the reference training."""
    if (name, view) not in _contracts:
        _contracts[name, view] = DetectorContract(dict(DETECTORS)[name], view, name=name)
    return _contracts[name, view]


def test_every_built_in_detector_is_covered():
    names = {name for name, _ in DETECTORS}
    assert {"conv-ae", "stgan", "lstm-vae", "ae", "vae", "srnn"} <= names
    assert {(p.values[0], p.values[1]) for p in CASES} >= {("conv-ae", "frames"), ("lstm-vae", "skeleton")}


@pytest.mark.parametrize("name, view", CASES)
def test_one_finite_score_per_window(name, view):
    contract(name, view).check_scores()


@pytest.mark.parametrize("name, view", CASES)
def test_same_seed_same_results(name, view):
    contract(name, view).check_deterministic()


@pytest.mark.parametrize("name, view", CASES)
def test_save_and_load_restore_identical_scores(name, view, tmp_path):
    contract(name, view).check_save_load(tmp_path)


@pytest.mark.parametrize("name, view", CASES)
def test_resume_after_an_interruption_equals_an_uninterrupted_training(name, view, tmp_path):
    if not dict(DETECTORS)[name].supports_resume:
        pytest.skip(f"{name} does not declare supports_resume")
    contract(name, view).check_resume(tmp_path)


@pytest.mark.parametrize("name, view", CASES)
def test_videos_shorter_than_the_window_get_one_score(name, view):
    contract(name, view).check_short_videos()


@pytest.mark.parametrize("name, cls", [pytest.param(name, cls, id=name) for name, cls in DETECTORS])
def test_a_view_the_detector_lacks_is_a_one_line_usage_error(name, cls):
    check_unsupported_views(cls, name)


def test_a_dataset_without_the_detectors_view_is_a_one_line_usage_error(toy_plugin, tmp_path):
    """The harness's side of views: a run stops before preparing anything when the dataset lacks the view."""
    result = CliRunner().invoke(build_app(), [
        "run", "--detector", "ae", "--dataset", "toy-dataset", "--out", str(tmp_path), "--set", "view=skeleton"])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "error: detector 'ae' needs view 'skeleton', which dataset 'toy-dataset' lacks (it offers: frames)"]


# -- the contract can fail: broken toy detectors -----------------------------------------------------------------


@dataclass(frozen=True)
class ToyConfig:
    view: str = "frames"
    window: int = 3
    epochs: int = 2

    def __post_init__(self):
        check_view(self.view)


class LevelDetector(Detector):
    """A numpy detector that keeps the contract: a brightness level learnt over epochs, checkpointed every epoch,
    with a random offset drawn from the (seeded) global numpy generator."""

    Config = ToyConfig
    supports_resume = True
    test_settings = {"epochs": 2}

    def __init__(self, config, device="cpu", seed=0):
        super().__init__(config, device, seed)
        self.offset = float(np.random.random())
        self.level = 0.0

    @property
    def input_spec(self):
        return InputSpec(view=self.config.view, height=8, width=8, channels=1, window=self.config.window)

    def first_epoch(self) -> tuple[int, dict]:
        saved = self.checkpoints.latest()
        if saved is None:
            return 1, {"level_per_epoch": []}
        self.level = saved["state"]["level"]
        return saved["epoch"] + 1, {"level_per_epoch": list(saved["log"]["level_per_epoch"])}

    def fit(self, train, progress):
        first, log = self.first_epoch()
        brightness = float(np.mean([video.frames.mean() for video in train]))
        for epoch in range(first, self.config.epochs + 1):
            self.level = 0.5 * self.level + 0.5 * brightness + self.noise()
            log["level_per_epoch"].append(self.level)
            self.checkpoints.save(epoch, {"level": self.level}, log)
        return log

    def noise(self) -> float:
        return self.offset

    def windows(self, video):
        return window_frames(video, self.config.window)

    def score(self, video, progress):
        per_frame = self.windows(video).reshape(-1, 64).mean(1)
        return np.abs(per_frame[self.config.window - 1:] - self.level)

    def save(self, path):
        Path(path).write_text(json.dumps({"level": self.level}))

    def load(self, path):
        self.level = json.loads(Path(path).read_text())["level"]


class Nondeterministic(LevelDetector):
    def noise(self):
        return float(np.random.default_rng().random())  # fresh entropy: ignores every seed


class LoadRestoresNothing(LevelDetector):
    def load(self, path):
        pass


class ResumeRestarts(LevelDetector):
    def first_epoch(self):
        return 1, {"level_per_epoch": []}


class NoScoreForShortVideos(LevelDetector):
    def windows(self, video):
        return video.frames


@dataclass(frozen=True)
class UncheckedViewConfig(ToyConfig):
    def __post_init__(self):
        pass


class AcceptsAnyView(LevelDetector):
    Config = UncheckedViewConfig


class BrokenDetectors:
    @hookimpl
    def register_detectors(self, register):
        for cls in (LevelDetector, Nondeterministic, LoadRestoresNothing, ResumeRestarts, NoScoreForShortVideos,
                    AcceptsAnyView):
            register(f"toy-{cls.__name__.lower()}", cls)


@pytest.fixture
def broken_detectors():
    pm.register(BrokenDetectors(), name="broken-detectors")
    try:
        yield lambda cls: get_catalogue().get("detector", f"toy-{cls.__name__.lower()}").load()
    finally:
        pm.unregister(name="broken-detectors")


def test_the_cases_come_from_the_registry_so_a_new_detector_needs_no_edit(broken_detectors):
    names = [name for name, _ in _registered_detectors()]
    assert "toy-leveldetector" in names and "toy-nondeterministic" in names


def test_a_detector_that_keeps_the_contract_passes_every_check(broken_detectors, tmp_path):
    DetectorContract(broken_detectors(LevelDetector), "frames").check_all(tmp_path)


@pytest.mark.parametrize("cls, check, message", [
    (Nondeterministic, lambda c, folder: c.check_deterministic(), "two trainings with seed 0"),
    (LoadRestoresNothing, lambda c, folder: c.check_save_load(folder), "load does not restore"),
    (ResumeRestarts, lambda c, folder: c.check_resume(folder), "did not restore the checkpoint of epoch 1"),
    (NoScoreForShortVideos, lambda c, folder: c.check_short_videos(), "expected \\(1,\\)"),
    (AcceptsAnyView, lambda c, folder: check_unsupported_views(c.detector_cls), "accepted view='no-such-view'"),
], ids=["nondeterministic", "load-restores-nothing", "resume-restarts", "no-score-for-short-videos",
        "accepts-any-view"])
def test_a_broken_detector_fails_the_check_it_breaks(broken_detectors, tmp_path, cls, check, message):
    with pytest.raises(AssertionError, match=message):
        check(DetectorContract(broken_detectors(cls), "frames"), tmp_path)
