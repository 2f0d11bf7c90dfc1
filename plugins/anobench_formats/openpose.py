"""Reading OpenPose ``--write_json`` output: one file per frame, each person's body keypoints as BODY_25.

OpenPose writes ``{"version": 1.3, "people": [{"pose_keypoints_2d": [x0, y0, c0, x1, y1, c1, ...], ...}]}`` per
frame, in pixels of the input video; a joint it did not find is written as ``0, 0, 0``. Versions 1.0 and 1.1 name
the array ``pose_keypoints``. Two keypoint models are read: BODY_25 (75 values per person, the default since
OpenPose 1.3) and COCO-18 (54 values, ``--model_pose COCO``), whose joints are moved to their BODY_25 places
(the mid-hip is the mean of the two hips; the feet stay missing). Any other model (MPI's 45 values) is refused
with an error naming the file, since its joints do not map onto BODY_25's.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np

from bench_core.errors import DataError

N_JOINTS = 25
BODY_25_NAMES = (
    "Nose", "Neck", "RShoulder", "RElbow", "RWrist", "LShoulder", "LElbow", "LWrist", "MidHip", "RHip", "RKnee",
    "RAnkle", "LHip", "LKnee", "LAnkle", "REye", "LEye", "REar", "LEar", "LBigToe", "LSmallToe", "LHeel",
    "RBigToe", "RSmallToe", "RHeel",
)
JOINT = {name: index for index, name in enumerate(BODY_25_NAMES)}
NECK = JOINT["Neck"]

#: The limbs OpenPose draws for BODY_25 (its POSE_BODY_25_PAIRS_RENDER), as pairs of joint indices.
BODY_25_LIMBS = (
    (1, 8), (1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (8, 9), (9, 10), (10, 11), (8, 12), (12, 13),
    (13, 14), (1, 0), (0, 15), (15, 17), (0, 16), (16, 18), (14, 19), (19, 20), (14, 21), (11, 22), (22, 23),
    (11, 24),
)

#: COCO-18 joint i sits at BODY_25 index COCO_18_TO_BODY_25[i] (BODY_25 inserted MidHip at 8 and added the feet).
COCO_18_TO_BODY_25 = (0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18)

_KEYS = ("pose_keypoints_2d", "pose_keypoints")  # version >= 1.2, then 1.0 / 1.1
_FILE_RE = re.compile(r"^(?P<name>.*?)_?(?P<frame>\d{12})_keypoints\.json$")


def pose_file_name(video_name: str, frame: int) -> str:
    """The name OpenPose gives frame ``frame`` (0-based) of ``video_name``:
    ``<name>_<12-digit frame>_keypoints.json``."""
    return f"{video_name}_{frame:012d}_keypoints.json"


def parse_pose_file_name(file_name: str) -> tuple[str, int] | None:
    """``("cut_01", 12)`` for ``cut_01_000000000012_keypoints.json``; None for a name OpenPose would not write."""
    match = _FILE_RE.match(file_name)
    if match is None:
        return None
    return match["name"], int(match["frame"])


def list_pose_files(folder: str | os.PathLike, video_name: str) -> tuple[dict[int, Path], list[str]]:
    """The pose files of ``video_name`` in ``folder`` by frame number, and the names of other files there."""
    frames: dict[int, Path] = {}
    others: list[str] = []
    with os.scandir(folder) as entries:
        for entry in entries:
            parsed = parse_pose_file_name(entry.name)
            if parsed is not None and parsed[0] == video_name and entry.is_file():
                frames[parsed[1]] = Path(entry.path)
            elif not entry.name.startswith("."):
                others.append(entry.name)
    return frames, sorted(others)


def people_from_json(document, source: str | os.PathLike = "<json>") -> np.ndarray:
    """Every person's keypoints in a decoded OpenPose frame document, as float32 of shape (people, 25, 3).

    People with an empty keypoint array (OpenPose run with the body model off) are left out."""
    if not isinstance(document, dict) or not isinstance(document.get("people"), list):
        raise DataError(f"{source}: not an OpenPose frame file (no 'people' list)",
                        hint="give the files OpenPose writes with --write_json")
    people = []
    for number, person in enumerate(document["people"]):
        if not isinstance(person, dict):
            raise DataError(f"{source}: person {number} is not a JSON object")
        key = next((k for k in _KEYS if k in person), None)
        if key is None:
            raise DataError(f"{source}: person {number} has neither 'pose_keypoints_2d' nor 'pose_keypoints'",
                            hint="re-run OpenPose with the body model on (it is by default)")
        values = person[key]
        if not isinstance(values, list):
            raise DataError(f"{source}: person {number}: '{key}' is not a list of numbers")
        if not values:
            continue
        try:
            flat = np.asarray(values, dtype=np.float32)
        except (TypeError, ValueError):
            raise DataError(f"{source}: person {number}: '{key}' holds values that are not numbers") from None
        if flat.ndim != 1 or not np.all(np.isfinite(flat)):
            raise DataError(f"{source}: person {number}: '{key}' holds values that are not finite numbers")
        if flat.size == 3 * N_JOINTS:
            people.append(flat.reshape(N_JOINTS, 3))
        elif flat.size == 3 * 18:
            people.append(coco_18_to_body_25(flat.reshape(18, 3)))
        else:
            raise DataError(
                f"{source}: person {number} has {flat.size} keypoint values; anobench reads BODY_25 (75) and "
                "COCO-18 (54)", hint="re-run OpenPose with --model_pose BODY_25")
    if not people:
        return np.zeros((0, N_JOINTS, 3), np.float32)
    return np.stack(people)


def read_people(path: str | os.PathLike) -> np.ndarray:
    """The people of one OpenPose JSON file, as float32 of shape (people, 25, 3); DataError naming the file when it
    is not valid OpenPose output."""
    path = Path(path)
    try:
        document = json.loads(path.read_bytes())
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: malformed JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})",
                        hint="the file may be truncated; re-run OpenPose on this video") from None
    except UnicodeDecodeError:
        raise DataError(f"{path}: not a text file", hint="re-run OpenPose on this video") from None
    except RecursionError:
        raise DataError(f"{path}: nested too deeply to be OpenPose output", hint="re-run OpenPose on this video") \
            from None
    except OSError as exc:
        raise DataError(f"{path}: cannot be read ({exc.strerror})") from None
    return people_from_json(document, path)


def coco_18_to_body_25(coco: np.ndarray) -> np.ndarray:
    """A COCO-18 skeleton (18, 3) in BODY_25 order (25, 3): the mid-hip is the mean of both hips when both were
    found (with the lower of their confidences), and the six foot joints are missing."""
    body = np.zeros((N_JOINTS, 3), np.float32)
    body[list(COCO_18_TO_BODY_25)] = coco
    right_hip, left_hip = body[JOINT["RHip"]], body[JOINT["LHip"]]
    if right_hip[2] > 0 and left_hip[2] > 0:
        body[JOINT["MidHip"], :2] = (right_hip[:2] + left_hip[:2]) / 2
        body[JOINT["MidHip"], 2] = min(right_hip[2], left_hip[2])
    return body


def frame_document(people: list[np.ndarray]) -> dict:
    """An OpenPose 1.3 frame document for ``people`` (each (25, 3)), written the way OpenPose writes it."""
    return {
        "version": 1.3,
        "people": [
            {
                "person_id": [-1],
                "pose_keypoints_2d": [round(float(v), 3 if i % 3 < 2 else 6) for i, v in
                                      enumerate(np.asarray(person, np.float64).reshape(-1))],
                "face_keypoints_2d": [], "hand_left_keypoints_2d": [], "hand_right_keypoints_2d": [],
                "pose_keypoints_3d": [], "face_keypoints_3d": [], "hand_left_keypoints_3d": [],
                "hand_right_keypoints_3d": [],
            }
            for person in people
        ],
    }
