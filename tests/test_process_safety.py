"""Process safety (issue 13): bounded sweep plans, an authenticated local Dask cluster, no orphaned workers, and a
per-run lock so that two sweeps never run the same job at once."""

from __future__ import annotations

import json
import tracemalloc

import pytest

from bench_core import sweep
from bench_core.errors import UsageError
from bench_core.run import plan_run
from test_sweep import invoke, toy_jobs

pytestmark = pytest.mark.usefixtures("toy_plugin")

TOY_SWEEP = ("sweep", "--detectors", "toy-detector", "--datasets", "toy-dataset", "--device", "cpu")


# -- bounded plans -----------------------------------------------------------------------------------------------

def test_a_huge_seed_range_is_refused_before_anything_is_listed(tmp_path):
    tracemalloc.start()
    try:
        with pytest.raises(UsageError, match=r"--seeds 0-99999999: 100,000,000 jobs, more than --max-jobs 10,000"):
            sweep.parse_seeds("0-99999999")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000, f"refusing the range allocated {peak:,} bytes"
    result = invoke(*TOY_SWEEP, "--seeds", "0-99999999", "--out", str(tmp_path))
    assert result.exit_code == 2 and "more than --max-jobs 10,000" in result.output
    assert "--max-jobs N" in result.output and not any(tmp_path.iterdir())


def test_seeds_are_counted_once_where_ranges_overlap():
    assert sweep.parse_seeds("0-9,5-14,3", max_jobs=15) == list(range(15))
    with pytest.raises(UsageError, match="16 jobs"):
        sweep.parse_seeds("0-9,5-14,3,20", max_jobs=15)


def test_the_whole_grid_is_counted_before_it_is_planned(tmp_path, monkeypatch):
    planned = []
    monkeypatch.setattr(sweep, "plan_run", lambda *args: planned.append(args) or pytest.fail("planned"))
    refused = invoke(*TOY_SWEEP, "--seeds", "0-1", "--grid", "scale=1,2", "--grid", "window=2,3", "--max-jobs", "7",
                     "--out", str(tmp_path))
    assert refused.exit_code == 2, refused.output
    assert "1 detectors × 1 datasets × 2 seeds × 4 --grid points: 8 jobs, more than --max-jobs 7" in refused.output
    assert not planned
    # a grid whose product is astronomically large is refused without building it
    with pytest.raises(UsageError, match="more than --max-jobs"):
        sweep.expand(sweep.RunRequest("", "", out=tmp_path), ["a"], ["b"], [0],
                     [(f"k{i}", [str(v) for v in range(10)]) for i in range(12)])


def test_max_jobs_allows_a_larger_sweep(tmp_path):
    result = invoke(*TOY_SWEEP, "--seeds", "0-1", "--grid", "scale=1,2", "--max-jobs", "4", "--out", str(tmp_path),
                    "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout[result.stdout.index("{"):])["done"] == 4


def test_jobs_on_one_dataset_share_one_checked_dataset(tmp_path):
    jobs = toy_jobs(tmp_path, seeds=range(5))
    assert len({id(job.plan.dataset) for job in jobs}) == 1
    # the same run ids as plans made one by one, each with its own dataset
    assert [plan_run(job.request).run_id for job in jobs] == [job.run_id for job in jobs]
