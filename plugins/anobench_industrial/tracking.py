"""Following the main person of a video through OpenPose's per-frame ``people`` lists.

OpenPose numbers people afresh in every frame, so ``people[0]`` hops from person to person (on the real sample in
``shared/data/openpose-fall-down`` its neck jumps by up to 735 px between consecutive frames). The rule here:

1. A *candidate* is a person with at least ``MIN_JOINTS`` joints whose confidence exceeds ``min_confidence``.
2. Acquire: the main person is the most *prominent* candidate: the diagonal of the bounding box of its found
   joints (its size in the picture) times the sum of their confidences over 25 (how completely it was found).
   The worker near the camera wins over smaller bystanders farther away and over partial detections.
3. Follow: in each later frame, the main person is the candidate nearest to where the main person is expected:
   their last seen pose moved on at their recent speed (so a worker running through frames where OpenPose missed
   them is found again). Nearness is the mean distance between the joints found in both, or between reference
   points (the neck, else the mean of the found joints) when they share fewer than three. The candidate must lie
   within ``GATE`` x frame height of the expectation, a bound widening by a quarter per frame since the main
   person was last seen, up to ``MAX_GATE_GROWTH`` times; a frame with no candidate within it has no main person
   (the worker was missed, not replaced by the bystander next to them).
4. Re-acquire: after ``REACQUIRE_AFTER`` frames without the main person, rule 2 picks one anew.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np

from anobench_formats.openpose import NECK, N_JOINTS

#: OpenPose's own rendering threshold (--render_threshold 0.05): joints at or below it are not drawn.
DEFAULT_MIN_CONFIDENCE = 0.05
#: Fewer found joints than this is a stray detection, not a person.
MIN_JOINTS = 4
#: How far (as a share of the frame height) the main person may be from where they were expected in the next frame.
#: A worker running at 4 m/s, 250 px tall in a 480 px frame, moves about 20 px (0.04) per frame at 30 fps, which
#: the speed estimate absorbs; the rest is pose change and OpenPose's jitter. Bystanders a few metres behind the
#: worker stand 0.15-0.3 frame heights away, joint for joint.
GATE = 0.1
#: How much the gate may widen while the main person is unseen: the speed estimate, not the gate, follows a worker
#: who keeps moving; a gate that kept widening would take the nearest bystander (on the real sample, the nearest
#: other person stands 0.18 frame heights away, joint for joint).
MAX_GATE_GROWTH = 1.5
#: Fastest believable motion of the main person, in frame heights per frame (a sprint seen side on, twice over).
MAX_SPEED = 0.08
#: Frames (1 s at 30 fps) after which a lost main person is given up and the most prominent person taken instead.
REACQUIRE_AFTER = 30


@dataclass
class Track:
    """The main person of every frame of a video."""

    #: float32 (n, 25, 3): the main person's keypoints, all zero in frames without one.
    poses: np.ndarray
    #: bool (n,): whether the frame has a main person.
    found: np.ndarray
    #: float32 (n, 2): the crop centre of each frame with a main person: its neck, or the last neck seen carried
    #: forward where the neck is missing (the first neck seen, before it first appears); the mean of the found
    #: joints in a video whose main person never shows a neck. Meaningless where ``found`` is False.
    centres: np.ndarray

    def __len__(self) -> int:
        return len(self.found)


def joints_found(people: np.ndarray, min_confidence: float) -> np.ndarray:
    """bool (people, 25): which joints each person has."""
    return people[..., 2] > min_confidence


def reference_point(pose: np.ndarray, found: np.ndarray) -> np.ndarray:
    if found[NECK]:
        return pose[NECK, :2]
    return pose[found, :2].mean(axis=0)


def prominence(pose: np.ndarray, found: np.ndarray) -> float:
    points = pose[found, :2]
    diagonal = float(np.hypot(*(points.max(axis=0) - points.min(axis=0))))
    return diagonal * float(pose[found, 2].sum()) / N_JOINTS


def pose_distance(a: np.ndarray, a_found: np.ndarray, b: np.ndarray, b_found: np.ndarray) -> float:
    shared = a_found & b_found
    if shared.sum() >= 3:
        return float(np.linalg.norm(a[shared, :2] - b[shared, :2], axis=1).mean())
    return float(np.linalg.norm(reference_point(a, a_found) - reference_point(b, b_found)))


class MainPersonTracker:
    """Feed it each frame's people (``update``); it answers the main person's keypoints, or None."""

    def __init__(self, frame_height: int, min_confidence: float = DEFAULT_MIN_CONFIDENCE):
        self.gate = GATE * frame_height
        self.min_confidence = min_confidence
        self._last_pose: np.ndarray | None = None
        self._last_found: np.ndarray | None = None
        self._frames_since_seen = 0
        self._velocity = np.zeros(2)
        self.max_speed = MAX_SPEED * frame_height

    def update(self, people) -> np.ndarray | None:
        people = np.asarray(people, np.float32).reshape(-1, N_JOINTS, 3)
        found = joints_found(people, self.min_confidence)
        candidates = [i for i in range(len(people)) if found[i].sum() >= MIN_JOINTS]
        self._frames_since_seen += 1
        gap = self._frames_since_seen
        if self._last_pose is not None and gap > REACQUIRE_AFTER:
            self._last_pose = self._last_found = None
        if not candidates:
            return None
        if self._last_pose is None:
            chosen = max(candidates, key=lambda i: prominence(people[i], found[i]))
            self._velocity = np.zeros(2)
        else:
            expected = self._last_pose.copy()
            expected[:, :2] += self._velocity * gap
            distances = [pose_distance(expected, self._last_found, people[i], found[i]) for i in candidates]
            nearest = int(np.argmin(distances))
            if distances[nearest] > self.gate * min(1 + 0.25 * (gap - 1), MAX_GATE_GROWTH):
                return None
            chosen = candidates[nearest]
            step = (reference_point(people[chosen], found[chosen])
                    - reference_point(self._last_pose, self._last_found)) / gap
            speed = float(np.hypot(*step))
            if speed > self.max_speed:
                step *= self.max_speed / speed
            self._velocity = 0.5 * self._velocity + 0.5 * step
        self._last_pose, self._last_found = people[chosen], found[chosen]
        self._frames_since_seen = 0
        return people[chosen]


def track_main_person(frames: Iterable[np.ndarray], frame_height: int,
                      min_confidence: float = DEFAULT_MIN_CONFIDENCE) -> Track:
    """The main person of each frame of ``frames`` (each the (people, 25, 3) array of one frame)."""
    tracker = MainPersonTracker(frame_height, min_confidence)
    poses, found = [], []
    for people in frames:
        pose = tracker.update(people)
        found.append(pose is not None)
        poses.append(np.zeros((N_JOINTS, 3), np.float32) if pose is None else pose.astype(np.float32))
    poses_array = np.stack(poses) if poses else np.zeros((0, N_JOINTS, 3), np.float32)
    found_array = np.asarray(found, dtype=bool)
    return Track(poses_array, found_array, crop_centres(poses_array, found_array, min_confidence))


def crop_centres(poses: np.ndarray, found: np.ndarray, min_confidence: float = DEFAULT_MIN_CONFIDENCE) -> np.ndarray:
    """Where each frame's crop is centred: see ``Track.centres``."""
    n = len(poses)
    has_neck = found & (poses[:, NECK, 2] > min_confidence)
    if not has_neck.any():
        centres = np.zeros((n, 2), np.float32)
        for i in np.flatnonzero(found):
            centres[i] = poses[i, poses[i, :, 2] > min_confidence, :2].mean(axis=0)
        return centres
    # The index of the last frame with a neck, for every frame; frames before the first neck take the first.
    last_neck = np.where(has_neck, np.arange(n), -1)
    np.maximum.accumulate(last_neck, out=last_neck)
    last_neck[last_neck < 0] = int(np.argmax(has_neck))
    return poses[last_neck, NECK, :2].astype(np.float32)
