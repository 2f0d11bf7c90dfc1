"""anobench cache: where it is, what each dataset holds there, and clearing it (all, one dataset, a size cap)."""

from __future__ import annotations

import json
import os

import pytest
from typer.testing import CliRunner

from bench_core import cache, schemas
from bench_core.cli import build_app

runner = CliRunner()


def invoke(*args):
    return runner.invoke(build_app(), list(args))


@pytest.fixture
def own_cache(tmp_path, monkeypatch):
    root = tmp_path / "cache"
    monkeypatch.setenv("ANOBENCH_CACHE_DIR", str(root))
    return root


def test_cache_shows_each_datasets_entries_and_clears_one(toy_plugin, own_cache, tmp_path):
    result = invoke("run", "--detector", "toy-detector", "--dataset", "toy-dataset", "--device", "cpu",
                    "--out", str(tmp_path / "r"))
    assert result.exit_code == 0, result.output
    generated = own_cache / "synthetic-avenue" / "abc"
    generated.mkdir(parents=True)
    (generated / "video.avi").write_bytes(b"x" * 1000)
    # a sidecar another part of the harness may add to an entry counts with its entry
    array = next((own_cache / "prepared").glob("*.npy"))
    array.with_name(array.name + ".sha256").write_text("0" * 64)
    found = json.loads(invoke("cache", "--json").stdout)
    assert found["schema"] == schemas.CACHE and found["path"] == str(own_cache)
    toy = found["datasets"]["toy-dataset"]
    assert toy["prepared_entries"] == 5 and toy["prepared_bytes"] > 0  # 2 train and 3 test videos
    assert found["datasets"]["synthetic-avenue"] == {"prepared_entries": 0, "prepared_bytes": 0, "own_bytes": 1000,
                                                     "total_bytes": 1000}
    assert "toy-dataset" in invoke("cache").stdout
    typo = invoke("cache", "clear", "--dataset", "toy-datset")
    assert typo.exit_code == 2 and "did you mean 'toy-dataset'" in typo.stderr
    cleared = json.loads(invoke("cache", "clear", "--dataset", "toy-dataset", "--json").stdout)
    assert cleared["removed_entries"] == 5 and cleared["left_bytes"] == 0
    assert not list((own_cache / "prepared").iterdir()) and generated.is_dir()
    assert json.loads(invoke("cache", "clear", "--json").stdout)["removed_entries"] == 1
    assert not generated.exists()


def test_a_size_cap_removes_the_oldest_entries_first(own_cache):
    prepared = own_cache / "prepared"
    prepared.mkdir(parents=True)
    for age, name in enumerate(("new", "middle", "old")):
        (prepared / f"{name}.npy").write_bytes(b"x" * 100)
        (prepared / f"{name}.owner.json").write_text(json.dumps({"dataset": "d"}))
        for path in prepared.glob(f"{name}.*"):
            os.utime(path, (1_000_000 - age * 1000, 1_000_000 - age * 1000))
    size = (prepared / "new.npy").stat().st_size + (prepared / "new.owner.json").stat().st_size
    result = invoke("cache", "clear", "--max-size", f"{2 * size}B")
    assert result.exit_code == 0 and "removed 1 cache entry" in result.stderr
    assert sorted(p.name for p in prepared.glob("*.npy")) == ["middle.npy", "new.npy"]
    assert invoke("cache", "clear", "--max-size", "lots").exit_code == 2
    assert cache.parse_size("1.5GB") == int(1.5 * 1024 ** 3) and cache.parse_size("0") == 0
