"""Decoding and preprocessing speed through the dataset API, and the preprocessing cache.

Run with:
    .venv/bin/pytest benchmarks/bench_views.py --benchmark-only

Targets (issue 3), each a ratio against a baseline measured in the same run on the same file:
- decode + preprocess to a detector's input (grayscale, 64x64, through Dataset.videos and views.prepare) runs at
  >= 0.8x the frame rate of bare decord sequential decoding;
- a second pass, reading the prepared cache, is >= 5x faster than decoding.
The file is Avenue test video 17 (426 frames, 640x360, MPEG-4 part 2) from ../shared/data/avenue-mini.
"""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest

from bench_core.detector import InputSpec
from bench_core.plugins import get_catalogue
from bench_core.run import make_dataset
from bench_core.views import cache_dir, dataset_key, prepare
from conftest import AVENUE_MINI, need_avenue_mini

SPEC = InputSpec(view="frames", height=64, width=64, channels=1, window=10)
CHUNK = 128
medians: dict[str, float] = {}


def avenue_video(video_id="test_17"):
    need_avenue_mini()
    dataset = make_dataset("avenue", [], str(AVENUE_MINI), get_catalogue())
    video = next(v for v in dataset.videos("test") if v.id == video_id)
    return dataset, video


def bare_decord_decode(path):
    import decord

    reader = decord.VideoReader(str(path), num_threads=1)
    n = len(reader)
    total = 0
    for start in range(0, n, CHUNK):
        total += reader.get_batch(list(range(start, min(start + CHUNK, n)))).asnumpy().shape[0]
    return total


@pytest.mark.benchmark(group="decode")
def test_baseline_bare_decord_sequential_decode(benchmark):
    pytest.importorskip("decord")
    _, video = avenue_video()
    frames = benchmark.pedantic(bare_decord_decode, args=(video.path,), rounds=5, iterations=1, warmup_rounds=1)
    assert frames == len(video)
    medians["decord"] = benchmark.stats.stats.median


@pytest.mark.benchmark(group="decode")
def test_decode_and_prepare_through_the_dataset_api(benchmark):
    pytest.importorskip("decord")
    dataset, _ = avenue_video()
    key = dataset_key(dataset.fingerprint())

    def cold_prepare():
        shutil.rmtree(cache_dir() / "prepared", ignore_errors=True)
        video = next(v for v in dataset.videos("test") if v.id == "test_17")  # a fresh reader each round
        return prepare(video, SPEC, key, chunk=CHUNK)

    prepared = benchmark.pedantic(cold_prepare, rounds=5, iterations=1, warmup_rounds=1)
    assert prepared.frames.shape == (426, 1, 64, 64)
    medians["prepare"] = benchmark.stats.stats.median
    if "decord" in medians:
        ratio = medians["decord"] / medians["prepare"]
        benchmark.extra_info["throughput_ratio_vs_bare_decord"] = round(ratio, 3)
        print(f"\nprepare throughput / bare decord throughput = {ratio:.3f} (target >= 0.8)")


@pytest.mark.benchmark(group="decode")
def test_second_pass_reads_the_cache(benchmark):
    dataset, video = avenue_video()
    key = dataset_key(dataset.fingerprint())
    prepare(video, SPEC, key)

    def warm_pass():
        prepared = prepare(video, SPEC, key)
        return int(np.asarray(prepared.frames).sum(dtype=np.int64) >= 0)  # touch every byte

    benchmark.pedantic(warm_pass, rounds=20, iterations=1, warmup_rounds=1)
    reference = medians.get("prepare") or medians.get("decord")
    if reference:
        ratio = reference / benchmark.stats.stats.median
        benchmark.extra_info["speedup_vs_decoding"] = round(ratio, 1)
        print(f"\ncache pass is {ratio:.1f}x faster than decoding (target >= 5)")
    assert os.listdir(cache_dir() / "prepared")
