"""Run records: atomic files, interrupted runs that never look complete, the record's contents."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from bench_core import records
from bench_core.run import RunRequest, run
from toy_plugin import ToyDetector


def toy_request(tmp_path, **kw):
    return RunRequest(detector="toy-detector", dataset="toy-dataset", out=tmp_path / "results", device="cpu", **kw)


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path):
    path = tmp_path / "r.json"
    records.atomic_write_json(path, {"a": 1})
    with pytest.raises(ValueError):
        records.atomic_write_json(path, {"a": float("nan")})  # NaN is not JSON: fails while serialising
    assert json.loads(path.read_text()) == {"a": 1}

    class Boom:
        def __len__(self):
            raise KeyboardInterrupt

    with pytest.raises(TypeError):
        records.atomic_write_bytes(path, Boom())
    assert json.loads(path.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]  # no temp files left behind


def test_an_interrupted_run_leaves_nothing_that_looks_complete(toy_plugin, tmp_path, monkeypatch):
    def interrupted_save(self, path):
        raise KeyboardInterrupt  # Ctrl-C while the checkpoint is written

    monkeypatch.setattr(ToyDetector, "save", interrupted_save)
    with pytest.raises(KeyboardInterrupt):
        run(toy_request(tmp_path))
    assert not list((tmp_path / "results").rglob("record.json"))
    leftovers = [p for p in (tmp_path / "results").rglob("*") if p.is_dir() and p.name.startswith(".")]
    assert leftovers == []
    assert list(records.iter_records(tmp_path / "results")) == []


def test_overwrite_replaces_a_complete_run_in_one_step(toy_plugin, tmp_path):
    first, reused = run(toy_request(tmp_path))
    assert not reused
    second, reused = run(toy_request(tmp_path, overwrite=True))
    assert not reused and second.path == first.path
    assert len(list(records.iter_records(tmp_path / "results"))) == 1


def test_the_record_holds_what_reproduces_the_run(toy_plugin, tmp_path):
    record, _ = run(toy_request(tmp_path, seed=3, settings=["scale=2"]))
    path = tmp_path / "results" / "toy-dataset" / "toy-detector" / record.run_id
    assert record.path == path
    assert record.run_id.startswith("cpu-seed3-")
    on_disk = records.load_record(path)
    assert on_disk == record  # what the run returned is what a reader reads back
    assert on_disk.detector.config == {"window": 3, "scale": 2.0}
    assert on_disk.detector.settings == ["scale=2"]
    assert on_disk.dataset.fingerprint["generator"] == "toy"
    assert on_disk.protocol.label_convention == "frame"
    assert set(on_disk.versions) >= {"anobench", "torch", "numpy", "plugins", "python"}
    assert on_disk.versions["plugins"]["conv-ae"]  # every plugin's version
    assert on_disk.device == "cpu"
    assert on_disk.schema == records.SCHEMA_VERSION
    assert (path / "checkpoint.pt").is_file() and (path / "config.json").is_file()
    assert len(on_disk.per_video) == 3
    for entry in on_disk.per_video:
        scores = np.load(path / entry.file)
        assert len(scores["raw"]) == len(scores["score"]) == len(scores["label"]) == entry.n_frames
        # frames before the first full window (window 3) take its score
        assert scores["raw"][0] == scores["raw"][1] == scores["raw"][2]
        assert scores["score"].min() == 0.0 and scores["score"].max() == 1.0  # min-max per video
        assert int(scores["label"].sum()) == entry.n_abnormal


def test_run_id_changes_with_anything_that_changes_results(toy_plugin, tmp_path):
    ids = {
        run(toy_request(tmp_path, **kw))[0].run_id
        for kw in ({}, {"seed": 1}, {"settings": ["scale=3"]}, {"smoothing_sigma": 2.0},
                   {"data_options": ["n_frames=30"]})
    }
    assert len(ids) == 5
    # and is the same for the same inputs
    assert run(toy_request(tmp_path))[0].run_id in ids


def test_iter_records_skips_staging_folders(tmp_path):
    minimal = {"detector": {"name": "m"}, "dataset": {"name": "d"}, "seed": 0, "preset": "cpu", "protocol": {},
               "metrics": {}, "timing": {}}
    complete = tmp_path / "d" / "m" / "r1"
    records.atomic_write_json(complete / "record.json", {"run_id": "r1", **minimal})
    staging = tmp_path / "d" / "m" / ".r2.partial-x"
    records.atomic_write_json(staging / "record.json", {"run_id": "r2", **minimal})
    assert [r.run_id for r in records.iter_records(tmp_path)] == ["r1"]
    assert os.path.basename(records.load_record(complete).path) == "r1"


def test_written_files_follow_the_umask_not_mkstemps_private_mode(tmp_path):
    records.atomic_write_json(tmp_path / "x.json", {"a": 1})
    assert (tmp_path / "x.json").stat().st_mode & 0o777 == 0o666 & ~records._UMASK


def test_a_setting_added_with_a_neutral_value_keeps_the_run_ids_of_earlier_runs(toy_plugin, tmp_path, monkeypatch):
    import dataclasses

    from bench_core.run import plan_run
    from toy_plugin import ToyConfig

    before = plan_run(toy_request(tmp_path)).run_id

    @dataclasses.dataclass
    class ToyConfigWithJitter(ToyConfig):
        #: A setting added after runs were published; 0 does what the detector did before it existed.
        jitter: float = 0.0

    monkeypatch.setattr(ToyDetector, "Config", ToyConfigWithJitter)
    monkeypatch.setattr(ToyDetector, "neutral_settings", {"jitter": 0.0})
    plan = plan_run(toy_request(tmp_path))
    assert plan.run_id == before and plan.detector_config.jitter == 0.0
    assert plan_run(toy_request(tmp_path, settings=["jitter=0.5"])).run_id != before
    # Without the declaration the new field would have changed every id.
    monkeypatch.setattr(ToyDetector, "neutral_settings", {})
    assert plan_run(toy_request(tmp_path)).run_id != before
