"""The example dataset plugin (examples/anobench-example-dataset): a folder of your own videos, read through
bench_core.video_io, checked, and run end to end with the toy detector."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import av
import numpy as np
import pytest
from typer.testing import CliRunner

from bench_core.cli import build_app
from bench_core.plugins import pm

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "anobench-example-dataset"
runner = CliRunner()


@pytest.fixture
def example_dataset(monkeypatch):
    """The example's plugin module registered as its entry point would (imported from the source folder)."""
    monkeypatch.syspath_prepend(str(EXAMPLE))
    import anobench_example_dataset.plugin as plugin

    pm.register(plugin, name="example-dataset")
    yield
    pm.unregister(name="example-dataset")
    for name in [m for m in sys.modules if m.startswith("anobench_example_dataset")]:
        del sys.modules[name]


def write_video(path: Path, n_frames: int, bright: range = range(0)) -> None:
    """A dark noisy clip; frames in ``bright`` hold a bright square (the anomaly)."""
    rng = np.random.default_rng(len(path.name) + n_frames)
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=25)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        for index in range(n_frames):
            frame = rng.integers(0, 30, size=(32, 32, 3), dtype=np.uint8)
            if index in bright:
                frame[8:24, 8:24] = 250
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "footage"
    write_video(root / "train" / "day1.mp4", 30)
    write_video(root / "test" / "cam1.mp4", 30, range(10, 20))
    write_video(root / "test" / "cam2.avi", 30, range(5, 9))
    (root / "test" / "labels.json").write_text(json.dumps(
        {"cam1": [[10, 19]], "cam2": [{"kind": "flash", "first": 5, "last": 8}]}))
    return root


def test_the_example_dataset_checks_lists_and_runs(example_dataset, toy_plugin, folder, tmp_path):
    info = json.loads(runner.invoke(build_app(), ["info", "example-clips", "--json"]).stdout)
    assert {o["name"]: o["doc"] for o in info["options"]}["extensions"].startswith("File extensions")
    check = runner.invoke(build_app(), ["data", "check", "example-clips", "--data-root", str(folder), "--json"])
    assert check.exit_code == 0, check.output
    report = json.loads(check.stdout)
    assert report["splits"]["train"] == {"videos": 1, "frames": 30, "abnormal_frames": None}
    assert report["splits"]["test"] == {"videos": 2, "frames": 60, "abnormal_frames": 14}
    run = runner.invoke(build_app(), ["run", "--detector", "toy-detector", "--dataset", "example-clips",
                                      "--data-root", str(folder), "--device", "cpu", "--out", str(tmp_path / "r"),
                                      "--json"])
    assert run.exit_code == 0, run.output
    record = json.loads(run.stdout)
    assert record["metrics"]["frame_auroc_micro"] > 0.9  # the bright square is the brightest thing there is
    assert record["dataset"]["extras"]["events"]["cam2"] == [{"kind": "flash", "start": 5, "stop": 9}]


def test_the_example_dataset_names_every_problem(example_dataset, folder):
    (folder / "test" / "labels.json").write_text(json.dumps({"cam9": [[0, 3]]}))
    (folder / "train" / "day1.mp4").unlink()
    result = runner.invoke(build_app(), ["data", "check", "example-clips", "--data-root", str(folder)])
    assert result.exit_code == 2
    assert f"{folder / 'train'}: no videos" in result.stderr
    assert "names 'cam9', which test/ does not hold" in result.stderr
