"""``anobench data generate shanghaitech --out DIR``: generated footage written in ShanghaiTech Campus's layout, so
that the ``shanghaitech`` loader (and its checks) can be exercised anywhere::

    DIR/training/videos/01_001.avi ...         MPEG-4 AVI (training=videos or both)
    DIR/training/frames/01_001/000.jpg ...     JPEG frames (training=frames or both)
    DIR/testing/frames/01_0001/000.jpg ...
    DIR/testing/test_frame_mask/01_0001.npy    uint8, one 0/1 per frame
    DIR/testing/test_pixel_mask/01_0001.npy    uint8 0/1, (frames, height, width)
    DIR/.anobench-generated.json               what wrote the folder: options, seed and files

Each scene is a synthetic-avenue walkway drawn from its own seed (another building, paving and crowd), at
ShanghaiTech's 856x480 unless ``height``/``width`` say otherwise; test anomalies are synthetic-avenue's (runners,
wrong-way walkers, throws, loiterers), and a pixel mask marks the pixels their actors draw. Test ids start at
``SS_0001`` (the official ones are not consecutive). Only a folder this generator wrote is written into again.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench_core.dataset import GENERATED_MARKER
from bench_core.generator import Generator, GeneratorOptions, clear_previous_copy
from bench_core.records import atomic_write_json

from anobench_formats.shanghaitech import (FRAME_MASKS, OFFICIAL_SIZE, PIXEL_MASKS, TEST_FRAMES, TRAIN_FRAMES,
                                          TRAIN_VIDEOS)

GENERATOR_NAME = "shanghaitech"
GENERATOR_VERSION = "1"
FPS = 24.0
JPEG_QUALITY = 95
#: The folders this generator owns under --out: a copy written again replaces them whole.
OWNED = ("training", "testing")
TRAINING_WRITES = ("videos", "frames", "both")


@dataclass
class ShanghaiTechGenerateOptions(GeneratorOptions):
    """What ``anobench data generate shanghaitech`` writes (``--data-option key=value``)."""

    #: Number of scenes (01, 02, ...).
    scenes: int = 3
    #: Training videos per scene (normal footage).
    train_per_scene: int = 2
    #: Test videos per scene (with anomalies, frame and pixel masks).
    test_per_scene: int = 2
    #: Frames per video.
    frames_per_video: int = 96
    #: Frame size; ShanghaiTech's is 480x856.
    height: int = OFFICIAL_SIZE[0]
    width: int = OFFICIAL_SIZE[1]
    #: Training footage as ``videos`` (AVI), extracted ``frames`` (JPEG), or ``both``.
    training: str = "videos"

    def __post_init__(self):
        for name, least in (("scenes", 1), ("train_per_scene", 1), ("test_per_scene", 1), ("frames_per_video", 64),
                            ("height", 48), ("width", 64)):
            value = getattr(self, name)
            if not isinstance(value, int) or value < least:
                raise ValueError(f"{name} must be an integer >= {least}, not {value!r}")
        if self.scenes > 99:
            raise ValueError(f"scenes must be at most 99 (two-digit scene numbers), not {self.scenes}")
        if self.training not in TRAINING_WRITES:
            raise ValueError(f"training must be one of {', '.join(TRAINING_WRITES)}, not {self.training!r}")


def write_jpegs(folder: Path, frames: np.ndarray) -> list[Path]:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, frame in enumerate(frames):
        path = folder / f"{index:03d}.jpg"
        Image.fromarray(frame).save(path, quality=JPEG_QUALITY)
        paths.append(path)
    return paths


def _save_npy(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.npy")
    try:
        np.save(tmp, array, allow_pickle=False)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_shanghaitech_layout(out: Path, seed: int, options: ShanghaiTechGenerateOptions) -> list[Path]:
    """Write the generated copy and return the files written, the marker last."""
    from anobench_generators.walkway.export import anomaly_masks, encode_avi
    from anobench_generators.walkway.render import ANOMALY_KINDS, GeneratorParams, build_scene, plan_video, render_video

    out = Path(out)
    clear_previous_copy(out, GENERATOR_NAME, OWNED)
    out.mkdir(parents=True, exist_ok=True)
    marker = {"generator": GENERATOR_NAME, "generator_version": GENERATOR_VERSION, "seed": seed,
              "options": dict(vars(options)),
              "read_with": f"anobench data check shanghaitech --data-root {out}", "complete": False}
    atomic_write_json(out / GENERATED_MARKER, marker)
    written: list[Path] = []
    for scene_index in range(1, options.scenes + 1):
        scene_id = f"{scene_index:02d}"
        params = GeneratorParams(seed=seed * 1000 + scene_index, frames=options.frames_per_video,
                                 height=options.height, width=options.width, crowd=4.0, noise=2.0,
                                 anomalies=ANOMALY_KINDS)
        scene = build_scene(params)
        for index in range(options.train_per_scene):
            video_id = f"{scene_id}_{index + 1:03d}"
            frames = render_video(plan_video(params, scene, "train", index), scene, params)
            if options.training in ("videos", "both"):
                path = out / TRAIN_VIDEOS / f"{video_id}.avi"
                encode_avi(path, [frames], options.height, options.width, FPS, len(frames))
                written.append(path)
            if options.training in ("frames", "both"):
                written += write_jpegs(out / TRAIN_FRAMES / video_id, frames)
            del frames
        for index in range(options.test_per_scene):
            video_id = f"{scene_id}_{index + 1:04d}"
            plan = plan_video(params, scene, "test", index)
            frames = render_video(plan, scene, params)
            written += write_jpegs(out / TEST_FRAMES / video_id, frames)
            del frames
            masks = anomaly_masks(plan, scene)
            labels = masks.any(axis=(1, 2)).astype(np.uint8)
            for folder, array in ((FRAME_MASKS, labels), (PIXEL_MASKS, masks.view(np.uint8))):
                path = out / folder / f"{video_id}.npy"
                _save_npy(path, array)
                written.append(path)
    marker["complete"] = True
    marker["files"] = len(written)
    atomic_write_json(out / GENERATED_MARKER, marker)
    return written + [out / GENERATED_MARKER]


class ShanghaiTechGenerator(Generator):
    """Generated walkway scenes in ShanghaiTech Campus's layout: AVI or JPEG training footage, JPEG test frames,
    frame and pixel masks."""

    Options = ShanghaiTechGenerateOptions
    reads_with = "shanghaitech"
    version = GENERATOR_VERSION

    def write(self, out: Path, seed: int, options: ShanghaiTechGenerateOptions) -> list[str]:
        return [str(p) for p in write_shanghaitech_layout(Path(out), seed, options)]
