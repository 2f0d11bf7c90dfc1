"""Memory: peak RSS of preparing and scoring a long video stays flat as the video grows.

Run with:
    .venv/bin/pytest benchmarks/bench_memory.py --benchmark-only -s

Target (issue 3): doubling the video's length raises peak RSS by under 10%. Each length runs in a fresh process
(benchmarks/memory_probe.py: conv-ae cpu preset, 640x360 frames decoded-on-demand, prepared into the cache and
scored), so the figure is that process's own peak.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

PROBE = Path(__file__).with_name("memory_probe.py")
LENGTHS = (2_000, 4_000)


def peak_rss_kib(n_frames: int, cache: Path) -> int:
    env = {**os.environ, "ANOBENCH_CACHE_DIR": str(cache)}
    out = subprocess.run([sys.executable, str(PROBE), str(n_frames)], env=env, capture_output=True, text=True,
                         check=True)
    return int(out.stdout.strip().splitlines()[-1])


@pytest.mark.benchmark(group="memory")
def test_peak_rss_is_flat_when_the_video_doubles(benchmark, tmp_path):
    peaks = {}

    def measure():
        for n in LENGTHS:
            peaks[n] = peak_rss_kib(n, tmp_path / f"cache-{n}")

    benchmark.pedantic(measure, rounds=1, iterations=1)
    growth = peaks[LENGTHS[1]] / peaks[LENGTHS[0]]
    benchmark.extra_info.update({f"peak_rss_mib_{n}": round(p / 1024, 1) for n, p in peaks.items()})
    benchmark.extra_info["growth_ratio"] = round(growth, 3)
    print(f"\npeak RSS {peaks[LENGTHS[0]] / 1024:.0f} MiB at {LENGTHS[0]} frames, "
          f"{peaks[LENGTHS[1]] / 1024:.0f} MiB at {LENGTHS[1]}: x{growth:.3f} (target < 1.10)")
    assert growth < 1.10
