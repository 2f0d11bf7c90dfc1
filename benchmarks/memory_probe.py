"""Peak RSS of preparing and scoring one long video; run as a subprocess by bench_memory.py.

    python benchmarks/memory_probe.py N_FRAMES  ->  prints the process's peak RSS in KiB
"""

from __future__ import annotations

import resource
import sys

import numpy as np

from bench_core.dataset import Video, VideoInfo
from bench_core.progress import Progress
from bench_core.views import prepare


class MovingBarVideo(Video):
    """640x360 RGB frames made on demand (a bar sweeping across a gradient): a long video that is never on disk."""

    def __init__(self, n_frames: int):
        self.info = VideoInfo(f"bar-{n_frames}", 25.0, 360, 640, n_frames)
        self._background = np.tile(np.linspace(0, 200, 640, dtype=np.uint8), (360, 1))

    def read(self, start, stop):
        frames = np.repeat(self._background[None, :, :, None], stop - start, 0).repeat(3, 3)
        for i, t in enumerate(range(start, stop)):
            x = (t * 7) % 600
            frames[i, 100:260, x:x + 40] = 255
        return frames


def main(n_frames: int) -> int:
    from anobench_convae.detector import ConvAE

    detector = ConvAE(ConvAE.Config(**ConvAE.presets["cpu"]), device="cpu", seed=0)
    prepared = prepare(MovingBarVideo(n_frames), detector.input_spec, dataset_key=f"memory-probe-{n_frames}")
    scores = detector.score(prepared, Progress())
    assert len(scores) == n_frames - detector.config.window + 1
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


if __name__ == "__main__":
    print(main(int(sys.argv[1])))
