"""Writing ``synthetic-avenue`` in CUHK Avenue's on-disk format, so that the ``avenue`` dataset reads it unchanged.

``anobench data generate synthetic-avenue --out DIR --seed N`` writes, under DIR::

    Avenue Dataset/training_videos/01.avi ...              MPEG-4 part 2 (XVID tag) in AVI, 25 fps, the options' size
    Avenue Dataset/testing_videos/01.avi ...
    ground_truth_demo/testing_label_mask/1_label.mat ...   'volLabel': a 1xN cell of HxW uint8 0/1 masks
    .anobench-generated.json                               what wrote the folder: options, seed, files and sha256

A mask marks the pixels that the anomalous events labelled on that frame draw (their actors' bodies and shadows,
and thrown objects), whether or not someone in front hides them; so a frame's mask has a pixel set exactly when the
generated dataset labels the frame abnormal.

The same seed and options write byte-identical files (with the same PyAV, FFmpeg and scipy builds), so a
regenerated copy has the same ``avenue`` fingerprint and run ids.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import re
from fractions import Fraction
from pathlib import Path
from typing import Iterable

import numpy as np

from bench_core.dataset import GENERATED_MARKER
from bench_core.generator import Generator, not_written_by, own_marker
from bench_core.records import atomic_write_bytes, atomic_write_json
from bench_core.video_io import open_video

from anobench_formats.avenue import AVENUE_DIR, MASK_DIR, SPLIT_DIRS
from anobench_generators.walkway.dataset import (FPS, GENERATOR_NAME, GENERATOR_VERSION, SyntheticAvenue,
                                                 SyntheticAvenueOptions)
from anobench_generators.walkway.render import (Scene, VideoPlan, _paint_shadow, _window, capsule_extents,
                                                paint_capsules, plan_video, render_video, shadow_extent)

#: The file that marks a folder as written by this generator; only such a non-empty folder is written into again.
MARKER_NAME = GENERATED_MARKER
MARKER_FORMAT = "cuhk-avenue"
#: MPEG-4 part 2 with the XVID tag, as the official files are; decord and PyAV decode it everywhere.
VIDEO_CODEC = "mpeg4"
CODEC_TAG = "XVID"
#: Fixed quantiser 2 (of MPEG-4's 1-31): on the default 160x120 walkway the decoded frames are within ~3 grey levels
#: (mean absolute, RGB) of the rendered ones at ~1.5 KB a frame, about the official files' bits per pixel; most of
#: that error is the 4:2:0 chroma subsampling. Quantiser 1 takes 2.6x the bytes to gain 0.4 grey levels.
QUANTISER = 2
#: A keyframe every 12 frames and no B-frames, as in the official files: a seek decodes at most 11 frames too many.
KEYFRAME_INTERVAL = 12
#: The text of the 116-byte MAT-file header. scipy writes the time of writing there; a fixed text keeps the bytes,
#: and with them the ``avenue`` fingerprint, the same for the same seed.
MAT_HEADER_TEXT = b"MATLAB 5.0 MAT-file, Platform: anobench, Created by: anobench data generate synthetic-avenue"

# The files this generator writes, relative to --out: only these are ever deleted when a copy is written again.
_GENERATED_FILE = re.compile(rf"{re.escape(AVENUE_DIR)}/({'|'.join(SPLIT_DIRS.values())})/\d+\.avi"
                             rf"|{re.escape('/'.join(MASK_DIR))}/\d+_label\.mat")


def video_relpath(split: str, index: int) -> str:
    """Where video ``index`` (0-based) of ``split`` goes: official numbers start at 01, zero-padded to two digits."""
    return f"{AVENUE_DIR}/{SPLIT_DIRS[split]}/{index + 1:02d}.avi"


def mask_relpath(index: int) -> str:
    """Where the masks of test video ``index`` (0-based) go: ``1_label.mat``, with no zero padding, as officially."""
    return "/".join(MASK_DIR) + f"/{index + 1}_label.mat"


# --------------------------------------------------------------------------------------------- masks


def anomaly_masks(plan: VideoPlan, scene: Scene) -> np.ndarray:
    """Boolean pixel masks (n_frames, H, W) of the anomalous events of ``plan``, on their labelled frames.

    Each labelled event's actors are drawn alone onto a blank canvas with the renderer's own routines (the same
    shapes, extents and anti-aliasing as in the video); a pixel is in the mask where the drawing changes it. The
    label rule counts a shape as in view when its extent (its bounding box, widened by the half pixel of
    anti-aliasing) holds a pixel centre. On about 1 in 1,000 labelled frames an actor entering or leaving the view
    has such a box reaching one pixel column or row in, while the rounded shape itself covers no pixel centre; there
    the mask marks the pixels inside those boxes instead (a sliver at the frame edge), so that every labelled frame
    has a mask and no other frame has one.
    """
    n, height, width = plan.n_frames, scene.height, scene.width
    masks = np.zeros((n, height, width), dtype=bool)
    for event_index, event in enumerate(plan.events):
        figures = [f for f in plan.figures if f.event == event_index]
        projectiles = [p for p in plan.projectiles if p.event == event_index]
        for t in range(event.start, event.stop):
            # Painting black with full shadow strength onto white: every pixel a shape touches drops below 1.
            canvas = np.ones((height, width, 1), dtype=np.float32)
            extents = []
            for fig in figures:
                if not fig.active(t):
                    continue
                i = t - fig.t0
                cx, cy, rx, ry = fig.shadow()
                _paint_shadow(canvas, cx[i], cy[i], rx, ry, strength=1.0)
                paint_capsules(canvas, fig.capsules[i], np.zeros((fig.capsules.shape[1], 1), np.float32),
                               fig.body_extents[i])
                extents.append(shadow_extent(cx[i], cy[i], rx, ry))
                extents.extend(capsule_extents(fig.capsules[i][:, None, :]))
            for proj in projectiles:
                if proj.active(t):
                    i = t - proj.t0
                    paint_capsules(canvas, proj.capsules[i], np.zeros((1, 1), np.float32), proj.extents[i])
                    extents.append(proj.extents[i])
            drawn = canvas[..., 0] < 1.0
            if not drawn.any():
                for extent in extents:
                    window = _window(extent, height, width)
                    if window is not None:
                        x0, y0, x1, y1 = window
                        drawn[y0:y1, x0:x1] = True
            masks[t] |= drawn
    return masks


def mat_file_bytes(masks: np.ndarray) -> bytes:
    """A MATLAB 5 file holding ``volLabel``, a 1xN cell of HxW uint8 0/1 masks, as in ``ground_truth_demo.zip``."""
    import scipy.io

    cell = np.empty((1, len(masks)), dtype=object)
    as_uint8 = masks.view(np.uint8) if masks.dtype == bool else masks.astype(np.uint8)
    for index in range(len(masks)):
        cell[0, index] = as_uint8[index]
    buffer = io.BytesIO()
    # The 128-byte header: text padded with spaces as MATLAB does, 8 bytes of subsystem offset, the version and the
    # endian mark in native order, as scipy writes them (savemat writes the data in native order too).
    buffer.write(MAT_HEADER_TEXT.ljust(116, b" ") + bytes(8) + np.uint16(0x0100).tobytes()
                 + np.uint16(0x4D49).tobytes())
    # savemat writes no header of its own into a stream that is not at its start.
    scipy.io.savemat(buffer, {"volLabel": cell}, format="5", do_compression=True)
    return buffer.getvalue()


# --------------------------------------------------------------------------------------------- files


def _temp_path(path: Path) -> Path:
    # A dot name, as atomic_write_bytes uses: the avenue loader skips files starting with '.', so a temporary file
    # left by a crash is never read.
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def encode_avi(path: Path, frame_chunks: Iterable[np.ndarray], height: int, width: int, fps: float,
               n_frames: int) -> None:
    """Encode RGB uint8 frames (chunks of (n, H, W, 3)) to an MPEG-4 AVI at ``path``, through a temporary file that
    is renamed only once a reader counts ``n_frames`` frames in it."""
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_path(path)
    try:
        with av.open(str(tmp), mode="w", format="avi") as container:
            stream = container.add_stream(VIDEO_CODEC, rate=Fraction(fps).limit_denominator(1001))
            stream.width, stream.height = width, height
            stream.pix_fmt = "yuv420p"
            codec = stream.codec_context
            codec.codec_tag = CODEC_TAG
            # One thread: slice threading would make the bitstream depend on the machine's core count.
            codec.thread_count = 1
            codec.max_b_frames = 0
            codec.gop_size = KEYFRAME_INTERVAL
            codec.qscale = True
            codec.qmin = codec.qmax = QUANTISER
            for chunk in frame_chunks:
                for frame in chunk:
                    for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                        container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
        counted = open_video(tmp).n_frames
        if counted != n_frames:
            raise RuntimeError(f"{path}: encoded {n_frames} frames, but the reader counts {counted}")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _file_entry(out: Path, relative: str) -> dict:
    data = (out / relative).read_bytes()
    return {"path": relative, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def previous_copy_files(out: Path) -> list[str]:
    """The files a previous run of this generator wrote into ``out`` (nothing when ``out`` is missing or empty).
    Raises UsageError naming ``out`` when it is a file, or a non-empty folder this generator did not write."""
    marker = own_marker(out, GENERATOR_NAME)
    if marker is None:
        return []
    try:
        if marker.get("format") != MARKER_FORMAT:
            raise ValueError(marker.get("format"))
        return [entry["path"] for entry in marker["files"] if _GENERATED_FILE.fullmatch(entry["path"])]
    except (ValueError, KeyError, TypeError, AttributeError):
        raise not_written_by(out, GENERATOR_NAME) from None


def write_avenue_layout(dataset: SyntheticAvenue, out: Path) -> list[Path]:
    """Write ``dataset`` under ``out`` in the official Avenue layout and return the paths written, the marker last.

    ``out`` may be missing, empty, or a copy this generator wrote before (even one cut short): its files that the
    new options no longer produce (e.g. with fewer videos) are deleted, so the ``avenue`` loader never reads them.
    """
    out = Path(out)
    previous = previous_copy_files(out)
    options = dataset.options
    counts = {"train": options.n_train, "test": options.n_test}
    planned = [video_relpath(split, index) for split in ("train", "test") for index in range(counts[split])]
    planned += [mask_relpath(index) for index in range(options.n_test)]
    for relative in sorted(set(previous) - set(planned)):
        (out / relative).unlink(missing_ok=True)
    fingerprint = dataset.fingerprint()
    marker = {
        "generator": GENERATOR_NAME,
        "generator_version": GENERATOR_VERSION,
        "format": MARKER_FORMAT,
        "read_with": f"anobench data check avenue --data-root {out}",
        "options": {key: value for key, value in fingerprint.items()
                    if key not in ("generator", "generator_version", "label_convention")},
        "video": {"codec": VIDEO_CODEC, "codec_tag": CODEC_TAG, "quantiser": QUANTISER, "fps": FPS},
        # Written first and marked incomplete, so that a run cut short leaves a folder that may be written again.
        "complete": False,
        "files": [{"path": relative} for relative in planned],
    }
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / MARKER_NAME, marker)

    params, scene = dataset.generator_params, dataset.scene
    for split in ("train", "test"):
        for index in range(counts[split]):
            plan = plan_video(params, scene, split, index)
            # Drawn into memory rather than through the dataset's cache: the raw frames are ~100x the size of the
            # encoded video, and a copy on disk is what the user asked for.
            frames = render_video(plan, scene, params)
            encode_avi(out / video_relpath(split, index), [frames], params.height, params.width, FPS, len(frames))
            del frames
            if split == "test":
                masks = anomaly_masks(plan, scene)
                if not np.array_equal(masks.any(axis=(1, 2)), plan.labels().astype(bool)):
                    raise RuntimeError(f"synthetic-avenue: the masks of test video {index + 1} disagree with its "
                                       "labels; this is a bug in anobench_generators.walkway.export")
                atomic_write_bytes(out / mask_relpath(index), mat_file_bytes(masks))

    marker["complete"] = True
    marker["files"] = [_file_entry(out, relative) for relative in planned]
    atomic_write_json(out / MARKER_NAME, marker)
    return [out / relative for relative in planned] + [out / MARKER_NAME]


class SyntheticAvenueGenerator(Generator):
    """``synthetic-avenue`` written in CUHK Avenue's official layout, which the ``avenue`` dataset reads unchanged:
    MPEG-4 AVI videos and ``N_label.mat`` pixel masks of the anomalies (datasets/synthetic-avenue.md)."""

    Options = SyntheticAvenueOptions
    reads_with = "avenue"
    version = GENERATOR_VERSION

    def write(self, out: Path, seed: int, options: SyntheticAvenueOptions) -> list[str]:
        dataset = SyntheticAvenue(GENERATOR_NAME, dataclasses.replace(options, seed=seed))
        return [str(path) for path in write_avenue_layout(dataset, Path(out))]
