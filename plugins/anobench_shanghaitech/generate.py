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
from pathlib import Path

import numpy as np

from bench_core.dataset import GENERATED_MARKER
from bench_core.records import atomic_write_json

from anobench_shanghaitech.dataset import (FRAME_MASKS, PIXEL_MASKS, TEST_FRAMES, TRAIN_FRAMES, TRAIN_VIDEOS,
                                           ShanghaiTechGenerateOptions)

GENERATOR_NAME = "shanghaitech"
GENERATOR_VERSION = "1"
FPS = 24.0
JPEG_QUALITY = 95
#: The folders this generator owns under --out: a copy written again replaces them whole.
OWNED = ("training", "testing")


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
    from anobench_industrial.synthetic import clear_previous_copy
    from anobench_synthetic.export import anomaly_masks, encode_avi
    from anobench_synthetic.render import ANOMALY_KINDS, GeneratorParams, build_scene, plan_video, render_video

    out = Path(out)
    clear_previous_copy(out, GENERATOR_NAME, OWNED)
    out.mkdir(parents=True, exist_ok=True)
    marker = {"generator": GENERATOR_NAME, "generator_version": GENERATOR_VERSION, "seed": seed,
              "options": {k: v for k, v in vars(options).items() if k not in ("data_root", "label_convention")},
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
