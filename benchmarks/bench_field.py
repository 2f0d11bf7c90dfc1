"""Field use (issue 12): ``anobench score`` on a generated 640x360 25 fps video, for every detector's cpu preset.

Run with:
    .venv/bin/pytest benchmarks/bench_field.py --benchmark-only -s
    ANOBENCH_FIELD_SECONDS=600 .venv/bin/pytest benchmarks/bench_field.py --benchmark-only -s   # the 10-minute target
    ANOBENCH_FIELD_DETECTORS=conv-ae,stgan ...   # a subset
    ANOBENCH_FIELD_BATCH=8 ...                   # anobench score --batch-windows 8 (lower latency)

Targets: decode + prepare + score >= 30 frames/s on 2 threads (the seed camera's rate), the p95 latency from a
frame's arrival to its score (reported), and peak RSS growing < 10% when the video doubles. Each pass runs in a
fresh process (benchmarks/field_probe.py) so its peak RSS is its own. The weights come from a one-epoch training on
a tiny generated dataset: speed does not depend on what the weights learned, only on the preset's architecture.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

PROBE = Path(__file__).with_name("field_probe.py")
SECONDS = float(os.environ.get("ANOBENCH_FIELD_SECONDS", "60"))
DETECTORS = os.environ.get("ANOBENCH_FIELD_DETECTORS", "conv-ae,stgan,lstm-vae,ae,vae,srnn").split(",")
BATCH = os.environ.get("ANOBENCH_FIELD_BATCH")  # None: each detector's own scoring batch
THREADS = 2
FPS = 25


def write_video(path: Path, n_frames: int) -> None:
    """640x360 at 25 fps: walkers (bright bars) crossing a textured background, with sensor noise (MPEG-4)."""
    import av

    rng = np.random.default_rng(0)
    background = np.tile(np.linspace(40, 200, 640, dtype=np.uint8), (360, 1))
    background = np.clip(background + rng.integers(0, 20, (360, 640)), 0, 255).astype(np.uint8)
    noise = rng.integers(0, 6, (8, 360, 640), dtype=np.uint8)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("mpeg4", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = 640, 360, "yuv420p"
        stream.bit_rate = 2_000_000
        for t in range(n_frames):
            grey = background + noise[t % 8]
            for k in range(3):
                x = (t * (3 + 2 * k) + 200 * k) % 600
                grey[120 + 40 * k:260 + 40 * k, x:x + 30] = 250
            frame = av.VideoFrame.from_ndarray(np.repeat(grey[:, :, None], 3, 2), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def train_tiny(detector: str, out: Path) -> Path:
    """A run of ``detector``'s cpu preset, one epoch on a tiny generated dataset (with its normal hold-out)."""
    from bench_core.run import RunRequest, run

    request = RunRequest(detector=detector, dataset="synthetic-avenue", preset="cpu",
                         settings=["epochs=1", "view=frames"],
                         data_options=["n_train=2", "n_test=1", "frames_per_video=96"], out=out, device="cpu",
                         calibration_holdout=0.4)
    record, _ = run(request)
    return record.path


def probe(run: Path, video: Path, out: Path) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": str(THREADS)}
    done = subprocess.run([sys.executable, str(PROBE), str(run), str(video), str(out), str(THREADS),
                           *([BATCH] if BATCH else [])], env=env,
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.benchmark(group="field")
def test_score_keeps_up_with_a_camera_and_its_memory_stays_flat(benchmark, tmp_path):
    n_frames = int(SECONDS * FPS)
    videos = {n: tmp_path / f"camera-{n}.avi" for n in (n_frames, 2 * n_frames)}
    for n, path in videos.items():
        write_video(path, n)
    figures = {}

    def measure():
        for detector in DETECTORS:
            run = train_tiny(detector, tmp_path / "results")
            single, double = (probe(run, videos[n], tmp_path / f"out-{detector}-{n}") for n in sorted(videos))
            figures[detector] = {"fps": single["fps"], "latency_p50_ms": single["latency_p50_ms"],
                                 "latency_p95_ms": single["latency_p95_ms"],
                                 "peak_rss_mib": round(single["peak_rss_kib"] / 1024, 1),
                                 "peak_rss_mib_doubled": round(double["peak_rss_kib"] / 1024, 1),
                                 "rss_growth": round(double["peak_rss_kib"] / single["peak_rss_kib"], 3)}

    benchmark.pedantic(measure, rounds=1, iterations=1)
    benchmark.extra_info.update(figures)
    print(f"\n{n_frames} frames ({SECONDS:g} s) of 640x360 at {FPS} fps, {THREADS} threads, batch "
          f"{BATCH or 'of the detector'}, then twice as long:")
    for detector, f in figures.items():
        print(f"  {detector:9s} {f['fps']:8.1f} frames/s  p50 {f['latency_p50_ms']:7.1f} ms  "
              f"p95 {f['latency_p95_ms']:7.1f} ms  peak RSS {f['peak_rss_mib']:.0f} -> "
              f"{f['peak_rss_mib_doubled']:.0f} MiB (x{f['rss_growth']:.3f})")
    for detector, f in figures.items():
        assert f["fps"] >= 30, f"{detector}: {f['fps']} frames/s"
        assert f["rss_growth"] < 1.10, f"{detector}: peak RSS x{f['rss_growth']}"
