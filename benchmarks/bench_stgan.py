"""STGAN inference speed on 2 CPU threads: the ``cpu`` preset must score at least 30 frames per second; the
``paper`` preset's speed is reported, not asserted.

Run with:
    .venv/bin/pytest benchmarks/bench_stgan.py --benchmark-only -s

A test video of 300 frames (synthetic-avenue's test videos have 240) at the preset's input size is scored through
``STGAN.score``, the same call the harness times for ``timing.inference_fps``. Frames per second counts every
frame of the video, as the harness does (the first window - 1 frames take the first window's score). Weights are
untrained: speed does not depend on their values.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bench_core.config import build_config
from bench_core.progress import Progress
from bench_core.views import PreparedVideo

from anobench_stgan.detector import STGAN, Config

THREADS = 2
CPU_MIN_FPS = 30.0


@pytest.fixture
def two_threads():
    threads = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    yield
    torch.set_num_threads(threads)


def _detector_and_video(preset: str, n_frames: int) -> tuple[STGAN, PreparedVideo]:
    config = build_config(Config, STGAN.presets, preset, {}, "--set", "stgan")
    detector = STGAN(config, device="cpu", seed=0)
    frames = np.random.default_rng(0).integers(0, 256, (n_frames, 1, config.input_size, config.input_size),
                                               dtype=np.uint8)
    return detector, PreparedVideo("bench", frames, fps=25.0)


def test_cpu_preset_scores_at_least_30_fps_on_2_threads(benchmark, two_threads):
    detector, video = _detector_and_video("cpu", 300)
    detector.score(video, Progress())  # warm-up: first-call allocations and kernel selection
    benchmark.pedantic(detector.score, args=(video, Progress()), rounds=5, iterations=1)
    fps = len(video) / benchmark.stats.stats.median
    benchmark.extra_info["inference_fps"] = round(fps, 1)
    print(f"\nstgan cpu preset: {fps:.0f} frames/s on {THREADS} threads "
          f"({detector.config.input_size}x{detector.config.input_size}, window {detector.config.window})")
    assert fps >= CPU_MIN_FPS, f"stgan cpu preset scores {fps:.1f} frames/s, below {CPU_MIN_FPS}"


def test_paper_preset_fps_is_reported(benchmark, two_threads):
    # One scoring batch of windows is enough to time a network this size on a CPU.
    detector, video = _detector_and_video("paper", 32)
    n_windows = len(video) - detector.config.window + 1
    benchmark.pedantic(detector.score, args=(video, Progress()), rounds=2, iterations=1, warmup_rounds=0)
    fps = n_windows / benchmark.stats.stats.median
    benchmark.extra_info["inference_fps"] = round(fps, 2)
    print(f"\nstgan paper preset: {fps:.2f} frames/s on {THREADS} threads "
          f"({detector.config.input_size}x{detector.config.input_size}, window {detector.config.window}; "
          "no target, reported only)")
