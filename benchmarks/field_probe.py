"""One ``anobench score`` pass over a video file, measured; run as a subprocess by bench_field.py.

    python benchmarks/field_probe.py RUN_DIR VIDEO OUT_DIR THREADS [BATCH_WINDOWS]  ->  prints one JSON line:
    {"frames", "seconds", "fps", "latency_p50_ms", "latency_p95_ms", "peak_rss_kib"}

The pipeline is the command's own (bench_core.field.score_source: decode, prepare, ring buffer, detector, CSV); a
frame's latency runs from the moment its decoded chunk arrived to the moment its score was written.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from array import array
from pathlib import Path


def main(run_dir: str, video: str, out: str, threads: int, batch_windows: int | None = None) -> dict:
    import torch

    from bench_core import field

    torch.set_num_threads(threads)
    run = field.load_run(Path(run_dir))
    source = field.Source(Path(video).stem, video, "file")
    options = field.ScoreOptions(batch_windows=batch_windows)
    level, _ = field.threshold_of(run, options)
    latencies = array("f")  # 4 bytes a frame: 60 KiB per 10 minutes, nothing next to the process's RSS

    def on_scored(frame: int, arrived: float) -> None:
        latencies.append(time.perf_counter() - arrived)

    started = time.perf_counter()
    result = field.score_source(run, source, Path(out), level, options, on_scored=on_scored)
    seconds = time.perf_counter() - started
    ordered = sorted(latencies)
    return {"frames": result.n_frames, "seconds": round(seconds, 3), "fps": round(result.n_frames / seconds, 1),
            "latency_p50_ms": round(1000 * ordered[len(ordered) // 2], 1),
            "latency_p95_ms": round(1000 * ordered[int(0.95 * (len(ordered) - 1))], 1),
            "peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}


if __name__ == "__main__":
    batch = int(sys.argv[5]) if len(sys.argv) > 5 else None
    print(json.dumps(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), batch)))
