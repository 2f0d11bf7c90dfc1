"""``anobench data generate video-folder --out DIR``: a small generated copy in the ``video-folder`` layout, to look
at (it shows every kind of file the layout takes) and to test with.

The footage is ``synthetic-industrial``'s worker (its choreography, renderer and OpenPose-style pose generator), so
the video, the poses and the labels tell one story: the skeleton view sees the same anomalies the frames show.
(``synthetic-avenue``'s walkway has no poses to give.) Written:

    train/train_00.avi                          a video file (MPEG-4)
    train/train_01/000000.png ...               a folder of frame images
    test/test_00.mp4                            a video file
    test/test_01/000000.jpg ...                 a folder of frame images
    labels.csv                                  video,start,stop,kind: each abnormal action of the test videos
    poses/<video>/...json                       OpenPose JSON per frame, named as OpenPose names them: for a
                                                video, <video>_<12-digit frame>_keypoints.json; for images,
                                                <image>_keypoints.json
    .anobench-generated.json                    what wrote the folder
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path

from bench_core.dataset import GENERATED_MARKER
from bench_core.generator import Generator, GeneratorOptions, clear_previous_copy
from bench_core.records import atomic_write_bytes, atomic_write_json

from anobench_formats.openpose import frame_document, pose_file_name
from anobench_formats.video_folder import LABEL_FILES, POSES, SPLITS
from anobench_generators.factory.kinematics import Camera
from anobench_generators.factory.synthetic import (check_video_size, frame_people, plan_video, render_frames,
                                                   write_video)

GENERATOR_NAME = "video-folder"
GENERATOR_VERSION = "1"
#: What the generator writes into ``out``; on a second run into a folder it wrote, these are replaced.
LABELS = LABEL_FILES[0]
WRITTEN = (*SPLITS, LABELS, POSES)
#: Per split, how each video is stored: a video file's extension, or a frame folder's image extension.
LAYOUT = {"train": ((".avi", None), (None, ".png")), "test": ((".mp4", None), (None, ".jpg"))}
#: Small enough to write in a few seconds and look at frame by frame; tests pass smaller sizes.
DEFAULTS = {"frames_per_video": 150, "width": 128, "height": 96}


def write_video_folder(out: Path, seed: int, frames_per_video: int | None = None, width: int | None = None,
                       height: int | None = None) -> list[str]:
    """Write the generated copy to ``out`` (missing, empty, or written here before); returns the files written.
    Sizes left out are ``DEFAULTS``'."""
    frames_per_video = frames_per_video or DEFAULTS["frames_per_video"]
    width, height = width or DEFAULTS["width"], height or DEFAULTS["height"]
    out = Path(out)
    clear_previous_copy(out, GENERATOR_NAME, WRITTEN)
    out.mkdir(parents=True, exist_ok=True)
    params = {"seed": seed, "n_train": len(LAYOUT["train"]), "n_test": len(LAYOUT["test"]),
              "frames_per_video": frames_per_video, "width": width, "height": height, "bystanders": 1,
              "joint_noise": 2.0, "missing_rate": 1.0}
    marker = {"generator": GENERATOR_NAME, "generator_version": GENERATOR_VERSION, "format": "video-folder",
              "read_with": f"anobench data check video-folder --data-root {out}", "options": params,
              "complete": False}
    atomic_write_json(out / GENERATED_MARKER, marker)
    camera = Camera(width, height)
    written: list[str] = []
    rows = []
    for split, layout in LAYOUT.items():
        (out / split).mkdir()
        for index, (video_extension, image_extension) in enumerate(layout):
            plan = plan_video(params, split, index)
            people_per_frame, truth = frame_people(plan, camera, params)
            frames = render_frames(plan, truth, camera)
            poses = out / POSES / plan.name
            poses.mkdir(parents=True)
            if video_extension:
                path = out / split / f"{plan.name}{video_extension}"
                write_video(path, frames, width, height)
                written.append(str(path))
                pose_names = [pose_file_name(plan.name, frame) for frame in range(frames_per_video)]
            else:
                folder = out / split / plan.name
                folder.mkdir()
                image_names = [f"{frame:06d}{image_extension}" for frame in range(frames_per_video)]
                for name, image in zip(image_names, frames):
                    image.save(folder / name)
                    written.append(str(folder / name))
                # OpenPose run with --image_dir names each file after its image.
                pose_names = [f"{Path(name).stem}_keypoints.json" for name in image_names]
            for name, people in zip(pose_names, people_per_frame):
                (poses / name).write_text(json.dumps(frame_document(people), separators=(",", ":")))
                written.append(str(poses / name))
            rows += [(plan.name, first, last + 1, action) for first, last, action in plan.intervals]
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["video", "start", "stop", "kind"])
    writer.writerows(rows)
    atomic_write_bytes(out / LABELS, text.getvalue().encode())
    written.append(str(out / LABELS))
    marker["complete"] = True
    atomic_write_json(out / GENERATED_MARKER, marker)
    written.append(str(out / GENERATED_MARKER))
    return written


@dataclass
class VideoFolderGenerateOptions(GeneratorOptions):
    """What ``anobench data generate video-folder`` writes (``--data-option key=value``)."""

    #: Frames per video, at 30 fps.
    frames_per_video: int = DEFAULTS["frames_per_video"]
    #: Frame width and height in pixels (even: the videos are YUV 4:2:0).
    width: int = DEFAULTS["width"]
    height: int = DEFAULTS["height"]

    def __post_init__(self):
        check_video_size(self)


class VideoFolderGenerator(Generator):
    """A small copy in the ``video-folder`` layout showing every kind of file it takes: video files and frame
    folders, labels.csv and OpenPose JSON (the ``synthetic-industrial`` worker's footage)."""

    Options = VideoFolderGenerateOptions
    reads_with = "video-folder"
    version = GENERATOR_VERSION

    def write(self, out: Path, seed: int, options: VideoFolderGenerateOptions) -> list[str]:
        return write_video_folder(Path(out), seed, options.frames_per_video, options.width, options.height)
