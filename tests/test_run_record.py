"""The typed run record (bench_core/run_record.py) and the results folder's state (bench_core/results.py)."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench_core import records, schemas
from bench_core.errors import DamagedFile
from bench_core.results import ResultsFolder, job_state, load_failure, write_failure
from bench_core.run_record import LEGACY_SCHEMA_VERSION, SCHEMA_VERSION, RunRecord
from test_sweep import invoke

ROOT = Path(__file__).resolve().parents[1]
PUBLISHED = sorted((ROOT / "leaderboards").rglob(records.RECORD_FILE))


def minimal(**overrides) -> dict:
    """The fields every reader needs, nothing else (a hand-written or very old record)."""
    return {"detector": {"name": "ae"}, "dataset": {"name": "toy-dataset"}, "seed": 0, "preset": "cpu",
            "protocol": {"normalization": "minmax-per-video"}, "metrics": {"frame_auroc_micro": 0.7},
            "timing": {"inference_fps": 10.0}, **overrides}


def write(folder: Path, data) -> Path:
    records.atomic_write_json(folder / records.RECORD_FILE, data)
    return folder / records.RECORD_FILE


def test_every_published_record_reads_and_writes_back_byte_for_byte(tmp_path):
    assert len(PUBLISHED) > 100
    for path in PUBLISHED:
        record = RunRecord.read(path)
        assert record.path == path.parent and record.schema == SCHEMA_VERSION
        assert record.detector.name and record.dataset.name and record.per_video
        assert record.write(tmp_path).read_bytes() == path.read_bytes(), path


def test_a_record_without_a_schema_is_read_as_the_legacy_version_and_never_rewritten(tmp_path):
    path = write(tmp_path / "old", minimal())
    before = path.read_bytes()
    record = RunRecord.read(path.parent)
    assert record.schema == LEGACY_SCHEMA_VERSION and record.metrics == {"frame_auroc_micro": 0.7}
    assert record.holdout == 0.0 and record.detector.settings == [] and record.timing.torch_threads is None
    assert path.read_bytes() == before  # upgraded in memory only


def test_a_newer_or_odd_schema_version_is_one_line_naming_the_file(tmp_path):
    for version in (SCHEMA_VERSION + 1, 0, "1", True):
        path = write(tmp_path / f"v{version}", minimal(schema=version))
        with pytest.raises(DamagedFile) as caught:
            RunRecord.read(path)
        assert caught.value.path == path and f"schema version {version!r}" in caught.value.message
        assert "\n" not in str(caught.value)


def test_missing_and_wrong_fields_are_named_with_their_dotted_path(tmp_path):
    missing = write(tmp_path / "a", {k: v for k, v in minimal().items() if k != "seed"} | {"dataset": {}})
    with pytest.raises(DamagedFile, match=r"is not a complete run record \(no dataset\.name, seed\)"):
        RunRecord.read(missing)
    wrong = write(tmp_path / "b", minimal(metrics=[0.7], timing={"torch_threads": "one"},
                                          per_video=[{"id": "v", "n_frames": "ten"}]))
    with pytest.raises(DamagedFile, match=r"\(metrics, timing\.torch_threads, per_video\[0\]\.n_frames of the "
                                          r"wrong kind\)"):
        RunRecord.read(wrong)
    with pytest.raises(DamagedFile, match=r"\(detector\.settings, per_video of the wrong kind\)"):
        RunRecord.read(write(tmp_path / "d", minimal(per_video=None, detector={"name": "ae", "settings": None})))
    with pytest.raises(DamagedFile, match="not a JSON object"):
        RunRecord.read(write(tmp_path / "c", [1, 2]))


def test_keys_this_version_does_not_know_are_kept_in_place(tmp_path):
    data = minimal(schema=SCHEMA_VERSION, future={"x": 1})
    data["detector"]["added_later"] = [1, 2]
    record = RunRecord.read(write(tmp_path, data))
    assert record.extra == {"future": {"x": 1}} and record.detector.extra == {"added_later": [1, 2]}
    again = record.to_json()
    assert again["future"] == {"x": 1} and again["detector"]["added_later"] == [1, 2]


def test_the_mapping_view_reads_like_the_json_and_refuses_changes(tmp_path):
    record = RunRecord.read(write(tmp_path, minimal()))
    assert record["metrics"]["frame_auroc_micro"] == 0.7 and record["_path"] == str(tmp_path)
    assert record.get("absent") is None and "metrics" in record and dict(record)["seed"] == 0
    with pytest.raises(TypeError, match="read-only"):
        record["dataset"]["extras"] = {}
    with pytest.raises(TypeError, match="read-only"):
        record["detector"]["settings"].append("x=1")
    record.dataset.extras = {"events": {}}  # the typed fields are the record
    assert record["dataset"]["extras"] == {"events": {}}


def test_a_newer_record_in_a_results_folder_is_named_and_skipped_by_the_leaderboard(tmp_path):
    from test_leaderboard import fake_record

    fake_record(tmp_path, "avenue", "ae", 0, 0.7)
    newer = write(tmp_path / "avenue" / "ae" / "later", minimal(schema=SCHEMA_VERSION + 1))
    result = invoke("leaderboard", str(tmp_path))
    assert result.exit_code == 1, result.output
    damaged = [line for line in result.stderr.splitlines() if line.startswith("damaged:")]
    assert len(damaged) == 1 and str(newer) in " ".join(result.stderr.split())
    assert "| ae " in result.stdout  # the rest of the table is there


def test_the_folder_logs_sweeps_and_lists_failures_by_dataset(tmp_path):
    folder = ResultsFolder(tmp_path)
    assert folder.sweep_log() == [] and folder.failures() == []
    folder.log_sweep("anobench sweep --seeds 0", ["b", "a"])
    folder.log_sweep("anobench sweep --seeds 1", ["c"])
    folder.log_sweep("anobench sweep --seeds 0", ["a"])  # the same command again: logged once, last
    assert [(e.command, e.run_ids) for e in folder.sweep_log()] == [
        ("anobench sweep --seeds 1", ("c",)), ("anobench sweep --seeds 0", ("a",))]
    on_disk = json.loads(folder.sweep_log_file.read_text())
    assert all(entry["schema"] == schemas.SWEEP_LOG_ENTRY for entry in on_disk)

    request = dataclasses.make_dataclass("Request", [("dataset", str)])  # a job's request is a dataclass
    job = tmp_path / "avenue" / "ae" / "cpu-seed0-x"
    assert job_state(job) == "missing"
    write_failure(job, "cpu-seed0-x", "ae / avenue / seed 0", ValueError("no\nluck"), request("avenue"))
    assert job_state(job) == "failed" and load_failure(job).message == "no luck"
    assert [f.job for f in folder.failures({"avenue"})] == ["ae / avenue / seed 0"]
    assert folder.failures({"other"}) == []
    write(job, minimal())  # a job run again since: complete, no longer a failure
    assert job_state(job) == "complete" and folder.failures() == []


def test_a_newer_sweep_log_is_named_not_misread(tmp_path):
    (tmp_path / "sweeps.json").write_text(json.dumps([{"schema": 9, "command": "x", "run_ids": []}]))
    with records.collect_damage() as damaged:
        assert ResultsFolder(tmp_path).sweep_log() == []
    assert len(damaged) == 1 and "schema version 9" in str(damaged[0])


def test_kinds_of_anomaly_come_from_the_record_or_from_the_function_the_caller_gives(tmp_path):
    events = {"v": [{"kind": "run", "start": 0, "stop": 3}]}
    with_kinds = RunRecord.read(write(tmp_path / "a", minimal(dataset={"name": "d", "extras": {"events": events}})))
    older = RunRecord.read(write(tmp_path / "b", minimal(dataset={"name": "d", "options": {"seed": 1}})))
    asked = []

    def ask(record):
        asked.append(record.run_id)
        return {"v": []}

    assert ResultsFolder(tmp_path).events(with_kinds) == events and ResultsFolder(tmp_path).events(older) is None
    folder = ResultsFolder(tmp_path, dataset_events=ask)
    assert folder.events(with_kinds) == events and asked == []
    assert folder.events(older) == {"v": []} and folder.events(older) == {"v": []}
    assert len(asked) == 1  # once per dataset, options and view


def test_the_leaderboard_imports_neither_the_sweep_nor_any_plugin():
    """Importing bench_core.leaderboard, and building a by-kind table of published records (which hold their
    kinds), loads no detector or dataset module of any plugin (only the scorers', whose metric declarations are
    its columns) and not bench_core.sweep."""
    script = f"""
import sys
from importlib.metadata import entry_points
from pathlib import Path
from bench_core.leaderboard import collect, render_markdown
rows = collect(Path({str(ROOT / 'leaderboards' / 'results')!r}), {{}}, ["synthetic-avenue"], by_kind=True)
assert any(row.by_kind for row in rows)
render_markdown(rows, Path({str(ROOT / 'leaderboards' / 'results')!r}), None, "anobench leaderboard")
plugins = {{point.value.split(":")[0].split(".")[0] for point in entry_points(group="anobench")}}
# The scorers' modules are read for their metric declarations (bench_core.metrics), and plugin discovery imports
# every plugin's import-cheap hook module; nothing else of any plugin.
loaded = sorted(name for name in sys.modules if name == "bench_core.sweep" or name.split(".")[0] in plugins
                and name not in plugins and not name.endswith((".plugin", ".scorer")))
print(loaded)
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
