"""The third-party example plugin (examples/anobench-example-plugin): its detector, and its packaging.

The packaging test pip-installs the example into a scratch folder (``pip install --target``) and runs Python with
that folder on ``PYTHONPATH``: entry points are found there exactly as in site-packages, while the shared
virtual environment, and any test running beside this one, never sees the plugin, even if this test is killed.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from bench_core import DataError, Progress, UsageError, hookimpl
from bench_core.config import build_config
from bench_core.plugins import BLOCK_ENV, pm
from bench_core.views import PreparedVideo

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "anobench-example-plugin"
PLUGIN_NAME = "example"  # the key of its [project.entry-points.anobench] table
DISTRIBUTION = "anobench-example-plugin"


@pytest.fixture
def example_source(monkeypatch):
    """The example's package importable from its source folder (not installed, so no entry point)."""
    monkeypatch.syspath_prepend(str(EXAMPLE))
    yield
    for name in [m for m in sys.modules if m == "anobench_example" or m.startswith("anobench_example.")]:
        del sys.modules[name]


def noisy_video(video_id: str, n_frames: int, seed: int, lights_on_at: int | None = None) -> PreparedVideo:
    """A still gray scene with sensor noise; optionally every pixel brightens by 100 from frame ``lights_on_at``."""
    frames = np.random.default_rng(seed).integers(95, 105, size=(n_frames, 1, 64, 64), dtype=np.uint8)
    if lights_on_at is not None:
        frames[lights_on_at:] += 100
    return PreparedVideo(video_id, frames, 25.0)


def make_detector(**settings):
    from anobench_example.detector import FrameDifference

    config = build_config(FrameDifference.Config, FrameDifference.presets, "cpu",
                          {k: str(v) for k, v in settings.items()}, "--set", "detector 'frame-difference'")
    return FrameDifference(config)


def test_frame_difference_scores_one_value_per_window_and_peaks_at_the_change(example_source):
    detector = make_detector()
    spec = detector.input_spec
    assert (spec.view, spec.height, spec.width, spec.channels, spec.window) == ("frames", 64, 64, 1, 2)
    log = detector.fit([noisy_video("normal-a", 30, 1), noisy_video("normal-b", 20, 2)], Progress())
    assert log["train_windows"] == 29 + 19
    assert 2 < log["normal_difference_mean"] < 5  # |a - b| for a, b uniform on 95..104 averages 3.3

    scores = detector.score(noisy_video("test", 40, 3, lights_on_at=25), Progress())
    assert scores.shape == (40 - spec.window + 1,)
    assert scores.argmax() == 24  # the window ending on frame 25
    others = np.delete(scores, 24)
    assert scores[24] > 100 * np.abs(others).max()  # the change stands out by orders of magnitude, not by luck
    assert abs(others.mean()) < 3  # the normal windows sit near 0 standard deviations


def test_frame_difference_top_fraction_picks_out_a_small_moving_object(example_source):
    def gaussian_noise_video(n_frames, seed):
        # Unbounded noise, so the most-changed pixels of normal frames vary too (as in real footage).
        frames = np.random.default_rng(seed).normal(100, 4, size=(n_frames, 1, 64, 64)).round().astype(np.uint8)
        return PreparedVideo(f"noise{seed}", frames, 25.0)

    video = gaussian_noise_video(10, 5)
    video.frames[6:, :, 10:14, 10:14] += 60  # a 4x4 object (0.4% of the frame) appears at frame 6
    contrasts = {}
    for top_fraction in (1.0, 0.05):
        detector = make_detector(top_fraction=top_fraction)
        detector.fit([gaussian_noise_video(30, 4)], Progress())
        scores = detector.score(video, Progress())
        # How far the window ending on frame 6 stands above every other window, in normal standard deviations.
        contrasts[top_fraction] = scores[5] - np.delete(scores, 5).max()
    assert contrasts[0.05] > 10
    assert contrasts[0.05] > 5 * abs(contrasts[1.0])


def test_frame_difference_save_and_load_restore_identical_scores(example_source, tmp_path):
    detector = make_detector(top_fraction=0.5)
    detector.fit([noisy_video("normal", 30, 1)], Progress())
    checkpoint = tmp_path / "run" / "checkpoint.pt"
    detector.save(checkpoint)
    assert json.loads(checkpoint.read_text())["config"] == {"top_fraction": 0.5}

    restored = make_detector(top_fraction=0.5)
    restored.load(checkpoint)
    test = noisy_video("test", 25, 9, lights_on_at=10)
    assert np.array_equal(detector.score(test, Progress()), restored.score(test, Progress()))

    with pytest.raises(DataError, match="fitted with settings"):
        make_detector(top_fraction=0.25).load(checkpoint)
    with pytest.raises(DataError, match="does not exist"):
        restored.load(tmp_path / "absent.pt")
    (tmp_path / "garbage.pt").write_bytes(b"\x80\x02not json")
    with pytest.raises(DataError, match="is not JSON"):
        restored.load(tmp_path / "garbage.pt")


def test_frame_difference_refuses_misuse_with_actionable_errors(example_source):
    with pytest.raises(UsageError, match="top_fraction must be in"):
        make_detector(top_fraction=0)
    with pytest.raises(UsageError, match="before it was fitted"):
        make_detector().score(noisy_video("test", 5, 0), Progress())
    with pytest.raises(DataError, match="at least one training video of 2 frames"):
        make_detector().fit([noisy_video("single-frame", 1, 0)], Progress())
    detector = make_detector()
    detector.fit([noisy_video("normal", 5, 0)], Progress())
    # A video shorter than the window still gets the one score the harness spreads over its frames.
    assert detector.score(noisy_video("single-frame", 1, 0), Progress()).shape == (1,)


def test_frame_difference_keeps_the_detector_contract(example_source, tmp_path):
    """A third-party detector runs the same contract checks as the built-ins, from bench_core.testing; without
    test_settings it is checked at its cpu preset."""
    from anobench_example.detector import FrameDifference

    from bench_core.testing import DetectorContract, supported_views

    assert supported_views(FrameDifference) == ["frames"]
    DetectorContract(FrameDifference, "frames", name="frame-difference").check_all(tmp_path)


def test_frame_difference_runs_through_the_harness(example_source, toy_plugin, tmp_path):
    from bench_core.run import RunRequest, run

    class ExampleUnderTest:
        @hookimpl
        def register_detectors(self, register):
            # Not "frame-difference": that would clash with the example's own entry point where it is installed.
            register("frame-difference-source", "anobench_example.detector:FrameDifference", summary="under test")

    pm.register(ExampleUnderTest(), name="example-under-test")
    try:
        record, reused = run(RunRequest(detector="frame-difference-source", dataset="toy-dataset", device="cpu",
                                        settings=["top_fraction=0.2"], out=tmp_path / "results"))
    finally:
        pm.unregister(name="example-under-test")
    assert not reused
    assert record["detector"]["plugin"] == "example-under-test"
    assert record["detector"]["config"] == {"top_fraction": 0.2}
    assert record["detector"]["input_spec"]["window"] == 2
    assert record["training"]["train_windows"] > 0
    run_dir = Path(record["_path"])
    for entry in record["per_video"]:
        raw = np.load(run_dir / entry["file"])["raw"]
        assert len(raw) == entry["n_frames"]
        assert raw[0] == raw[1]  # frame 0 precedes the first full window and takes its score
    assert json.loads((run_dir / "checkpoint.pt").read_text())["detector"] == "frame-difference"


# --- packaging: a real pip install, found through its entry point -----------------------------------------------

FOUND_THROUGH_ENTRY_POINT = textwrap.dedent("""
    import json, sys
    import numpy as np
    from bench_core import Progress
    from bench_core.plugins import get_catalogue, manager
    from bench_core.views import PreparedVideo

    catalogue = get_catalogue()
    registration = catalogue.get("detector", "frame-difference")
    imported_by_listing = "anobench_example.detector" in sys.modules
    info = {i.name: i for i in manager.plugins()}[registration.plugin]
    detector_class = registration.load()

    rng = np.random.default_rng(0)
    normal = rng.integers(95, 105, size=(30, 1, 64, 64), dtype=np.uint8)
    test = rng.integers(95, 105, size=(12, 1, 64, 64), dtype=np.uint8)
    test[7:] += 100
    detector = detector_class(detector_class.Config())
    detector.fit([PreparedVideo("normal", normal, 25.0)], Progress())
    scores = detector.score(PreparedVideo("test", test, 25.0), Progress())
    print(json.dumps({
        "plugin": registration.plugin, "target": registration.target_path, "summary": registration.summary,
        "distribution": info.distribution, "version": info.version, "hooks": info.hooks, "error": info.error,
        "imported_by_listing": imported_by_listing, "module_file": sys.modules[detector_class.__module__].__file__,
        "n_scores": len(scores), "argmax": int(scores.argmax()),
    }))
""")


def pip_installed(example: Path, scratch: Path):
    """``example`` pip-installed into ``scratch``/site (yielded); ``scratch`` removed afterwards, whatever the
    test's outcome. For a module-scoped fixture of each example package."""
    for needed in ("pip", "setuptools"):
        if importlib.util.find_spec(needed) is None:
            pytest.skip(f"{needed} is not installed in {sys.prefix}; it is needed to build the example plugin")
    # pip builds in the source folder (build/, *.egg-info); a copy keeps the checkout clean.
    source = shutil.copytree(example, scratch / "source",
                             ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    site = scratch / "site"
    try:
        result = subprocess.run(
            [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index",
             "--disable-pip-version-check", "--quiet", "--target", str(site), str(source)],
            capture_output=True, text=True, timeout=180,
        )
        assert result.returncode == 0, f"pip install failed:\n{result.stdout}\n{result.stderr}"
        yield site
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


@pytest.fixture(scope="module")
def installed_example(tmp_path_factory):
    """The example pip-installed into a scratch folder."""
    yield from pip_installed(EXAMPLE, tmp_path_factory.mktemp("example-plugin"))


def run_with(site: Path, args: list[str], **env_changes) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != BLOCK_ENV}
    env["PYTHONPATH"] = os.pathsep.join([str(site), *filter(None, [os.environ.get("PYTHONPATH")])])
    env.update(env_changes)
    return subprocess.run(args, capture_output=True, text=True, env=env, timeout=120)


@pytest.mark.slow
def test_the_installed_example_is_found_through_its_entry_point(installed_example):
    result = run_with(installed_example, [sys.executable, "-c", FOUND_THROUGH_ENTRY_POINT])
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert found["plugin"] == PLUGIN_NAME
    assert found["target"] == "anobench_example.detector:FrameDifference"
    assert found["summary"].startswith("Mean absolute difference")
    assert (found["distribution"], found["version"]) == (DISTRIBUTION, "0.1.0")
    assert found["hooks"] == ["register_detectors"] and found["error"] is None
    assert found["imported_by_listing"] is False
    assert Path(found["module_file"]).is_relative_to(installed_example)  # the installed copy, not the source
    assert (found["n_scores"], found["argmax"]) == (11, 6)


@pytest.mark.slow
def test_the_installed_example_shows_in_anobench_list_and_can_be_blocked(installed_example):
    anobench = Path(sys.executable).with_name("anobench")
    if not anobench.exists():
        pytest.skip(f"the anobench command is not installed next to {sys.executable}")
    listed = run_with(installed_example, [str(anobench), "list", "--kind", "detector", "--json"])
    assert listed.returncode == 0, listed.stderr
    rows = {row["name"]: row for row in json.loads(listed.stdout)["registrations"]}
    assert rows["frame-difference"]["plugin"] == PLUGIN_NAME
    assert rows["conv-ae"]["plugin"] == "conv-ae"

    blocked = run_with(installed_example, [str(anobench), "plugins", "--json"], **{BLOCK_ENV: PLUGIN_NAME})
    assert blocked.returncode == 0, blocked.stderr
    plugins = {p["name"]: p for p in json.loads(blocked.stdout)["plugins"]}
    assert plugins[PLUGIN_NAME]["blocked"] is True and plugins[PLUGIN_NAME]["hooks"] == []
    assert plugins[PLUGIN_NAME]["distribution"] == DISTRIBUTION
