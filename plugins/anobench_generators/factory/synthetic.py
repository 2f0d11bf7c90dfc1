"""``synthetic-industrial``: a generated copy of the industrial set, written in the layout ``industrial`` reads.

A camera 2.7 m up watches a worker on a shop floor with a table (left) and a trash box (right); one or two
bystanders walk or work at the back. Training videos hold the normal actions of the skeleton LSTM-VAE paper's Table 1
(carrying a chair or a box with both hands, cutting paper with both hands, discarding trash in front of the box) linked
by walks and pauses; test videos alternate them with the abnormal ones (the same with one hand, throwing the trash,
digging in the trash box, running), and label each abnormal action's frames.

The OpenPose-style JSON is what a pose estimator would write rather than the truth: joints jitter (correlated over
frames, more on fast limbs and far people), some go missing (0, 0, 0) for a few frames at a time (ears and feet
most, hands in the trash box often), the worker is occasionally missed altogether, arms are sometimes swapped left
for right, stray partial detections appear, and ``people`` is shuffled in every frame.

``anobench data generate synthetic-industrial --out DIR`` writes the files; as a dataset, ``synthetic-industrial``
generates them once into the anobench cache and reads them with the ``industrial`` loader.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from bench_core.dataset import GENERATED_MARKER
from bench_core.generator import Generator, clear_previous_copy
from bench_core.records import atomic_write_json
from bench_core.views import cache_dir

from anobench_formats.industrial import LABELS_FILE, POSES_DIR, SPLIT_FILE, VIDEOS_DIR
from anobench_formats.openpose import BODY_25_LIMBS, JOINT, N_JOINTS, frame_document, pose_file_name
from anobench_generators.factory.choreography import (ABNORMAL_ACTIONS, FPS, NORMAL_ACTIONS, Build, Choreographer,
                                                      Prop, bystander_poses, random_build)
from anobench_generators.factory.kinematics import F, Camera, joints_3d
# The generated dataset reads its files with the industrial loader, as a user's own recordings would be read.
from anobench_industrial.dataset import SKELETON_VERSION, Industrial, IndustrialOptions

#: Bump whenever a change to the generator changes any file it writes, so that stale caches are never read.
GENERATOR_VERSION = "1"
GENERATOR_NAME = "synthetic-industrial"

# Where things stand, in metres (x across the picture, z away from the camera; see kinematics.Camera).
TABLE_X, BOX_X = (-2.15, -1.55), (1.75, 2.15)
TABLE_HEIGHT, BOX_HEIGHT = 0.75, 0.6
BACK_WALL_Z = 12.0

# Joint groups for the pose-estimation error model: (jitter factor, missing rate per frame, base confidence).
_TORSO = ("Neck", "MidHip", "RHip", "LHip", "RShoulder", "LShoulder")
_LIMBS = ("RElbow", "LElbow", "RKnee", "LKnee")
_ENDS = ("RWrist", "LWrist", "RAnkle", "LAnkle")
_FACE = ("Nose", "REye", "LEye")
_EARS = ("REar", "LEar")
_FEET = ("LBigToe", "LSmallToe", "LHeel", "RBigToe", "RSmallToe", "RHeel")
_ERROR_MODEL = {names: model for names, model in (
    (_TORSO, (1.0, 0.008, 0.82)), (_LIMBS, (1.3, 0.02, 0.72)), (_ENDS, (1.7, 0.045, 0.62)),
    (_FACE, (0.7, 0.025, 0.85)), (_EARS, (0.8, 0.10, 0.6)), (_FEET, (1.5, 0.09, 0.5)))}
JITTER, MISSING, CONFIDENCE = (np.zeros(N_JOINTS) for _ in range(3))
for _names, (_jitter, _missing, _confidence) in _ERROR_MODEL.items():
    for _name in _names:
        JITTER[JOINT[_name]], MISSING[JOINT[_name]], CONFIDENCE[JOINT[_name]] = _jitter, _missing, _confidence
_MISSING_BURST = 4.0  # mean frames a joint stays missing
_SWAP = np.arange(N_JOINTS)
for _a, _b in (("RShoulder", "LShoulder"), ("RElbow", "LElbow"), ("RWrist", "LWrist")):
    _SWAP[JOINT[_a]], _SWAP[JOINT[_b]] = JOINT[_b], JOINT[_a]


@dataclass
class SyntheticIndustrialOptions(IndustrialOptions):
    """Options of ``synthetic-industrial`` (``--data-option key=value``). The defaults give 6 x 500 training
    frames and 3 x 500 test frames (about 40% abnormal) at 640x480 and 30 fps, generated in about 10 s."""

    #: The same seed (and options) writes the same files.
    seed: int = 0
    #: Training videos (normal actions only).
    n_train: int = 6
    #: Test videos (normal and abnormal actions, labelled per frame).
    n_test: int = 3
    #: Frames per video, at 30 fps.
    frames_per_video: int = 500
    #: Frame width and height in pixels (the skeleton LSTM-VAE paper's 640x480; smaller sizes are for quick tests).
    width: int = 640
    height: int = 480
    #: At most this many bystanders per video (0 to this many, drawn at random).
    bystanders: int = 2
    #: Standard deviation of the keypoint jitter, in pixels of a 480-pixel-high frame, for torso joints.
    joint_noise: float = 2.0
    #: Scales how often joints go missing (0: never; 1: the error model's rates).
    missing_rate: float = 1.0

    def __post_init__(self):
        super().__post_init__()
        check_least(self, ("n_train", 1), ("n_test", 1))
        check_video_size(self)
        if not isinstance(self.bystanders, int) or not 0 <= self.bystanders <= 6:
            raise ValueError(f"bystanders must be an integer from 0 to 6, not {self.bystanders!r}")
        if self.joint_noise < 0 or self.missing_rate < 0:
            raise ValueError("joint_noise and missing_rate must be >= 0")

    def generator_params(self) -> dict:
        return {name: getattr(self, name) for name in (
            "seed", "n_train", "n_test", "frames_per_video", "width", "height", "bystanders", "joint_noise",
            "missing_rate")}


def check_least(options, *least: tuple[str, int]) -> None:
    """ValueError (which --data-option reports, naming the option) unless each named field is an integer >= its
    least value."""
    for name, lowest in least:
        value = getattr(options, name)
        if not isinstance(value, int) or value < lowest:
            raise ValueError(f"{name} must be an integer >= {lowest}, not {value!r}")


def check_video_size(options) -> None:
    """The worker's footage needs 60 frames, and an even frame size of at least 64x48 (the videos are YUV 4:2:0)."""
    check_least(options, ("frames_per_video", 60), ("width", 64), ("height", 48))
    if options.width % 2 or options.height % 2:
        raise ValueError(f"width and height must be even (the videos are YUV 4:2:0), not {options.width}x"
                         f"{options.height}")


# -- planning ----------------------------------------------------------------------------------------------------

@dataclass
class VideoPlan:
    name: str
    worker: Choreographer
    bystanders: list[tuple[Build, np.ndarray]]
    #: Abnormal frame intervals, [first, last] inclusive and 0-based, with the action's name.
    intervals: list[tuple[int, int, str]]
    rng: np.random.Generator


def plan_video(params: dict, split: str, index: int) -> VideoPlan:
    frames = params["frames_per_video"]
    rng = np.random.default_rng([params["seed"], 0 if split == "train" else 1, index])
    camera = Camera(params["width"], params["height"])
    worker = Choreographer(rng, random_build(rng, float(rng.uniform(4.7, 5.3))))
    # Test videos take the abnormal actions in turn, from a seed-chosen start, so a test set of six or more
    # abnormal actions holds all six kinds.
    abnormal_turn = int(np.random.default_rng(params["seed"]).integers(len(ABNORMAL_ACTIONS))) + 2 * index
    # Test videos alternate normal and abnormal actions; those too short for both (under 10 s) open with a pause,
    # then the abnormal action.
    normal_next = split == "train" or frames >= 300
    if not normal_next:
        worker.stand(int(rng.integers(15, 30)))
    while len(worker) < frames:
        if frames - len(worker) < 30:  # no room for an action: a pause ends the video
            worker.stand(frames - len(worker))
            break
        if rng.random() < 0.5:
            worker.stand(int(rng.integers(10, 35)))
        if normal_next:
            worker.perform(NORMAL_ACTIONS[int(rng.integers(len(NORMAL_ACTIONS)))])
        else:
            worker.perform(ABNORMAL_ACTIONS[abnormal_turn % len(ABNORMAL_ACTIONS)])
            abnormal_turn += 1
        if split == "test":
            normal_next = not normal_next
    for store in (worker.poses, worker.props, worker.hidden):
        del store[frames:]
    intervals = [(s.start, min(s.stop, frames) - 1, s.action) for s in worker.segments
                 if s.abnormal and s.start < frames]
    bystanders = []
    for _ in range(int(rng.integers(0, params["bystanders"] + 1))):
        build = random_build(rng, float(rng.uniform(7.5, 10.5)))
        bystanders.append((build, bystander_poses(rng, build, frames, camera.visible_x(build.z))))
    return VideoPlan(f"{split}_{index:02d}", worker, bystanders, intervals, rng)


# -- what OpenPose would see -------------------------------------------------------------------------------------

def true_keypoints(poses: np.ndarray, height: float, camera: Camera) -> np.ndarray:
    """Pixel positions (frames, 25, 2) of a person's joints; NaN in frames where the person is absent."""
    points = np.full((len(poses), N_JOINTS, 2), np.nan)
    for i, pose in enumerate(poses):
        if not np.isnan(pose[0]):
            points[i] = camera.project(joints_3d(pose, height))
    return points


def observe(points: np.ndarray, hidden: list[dict[int, float]], camera: Camera, params: dict,
            rng: np.random.Generator) -> np.ndarray:
    """What a pose estimator reports for one person: (frames, 25, 3) keypoints, 0,0,0 for a missing joint."""
    frames = len(points)
    size = camera.height / 480.0
    present = ~np.isnan(points[:, 0, 0])
    # Jitter correlated over frames (AR(1), correlation 0.7), larger on fast limbs (motion blur).
    white = rng.normal(size=(frames, N_JOINTS, 2))
    jitter = np.zeros_like(white)
    for i in range(frames):
        jitter[i] = (0.7 * jitter[i - 1] if i else 0) + np.sqrt(1 - 0.49) * white[i]
    speed = np.zeros((frames, N_JOINTS))
    speed[1:] = np.nan_to_num(np.linalg.norm(np.diff(points, axis=0), axis=2), nan=0.0)
    blur = np.clip((speed / size - 8.0) / 20.0, 0.0, 1.0)
    sigma = params["joint_noise"] * size * JITTER[None, :] * (1 + blur)
    observed = np.nan_to_num(points) + jitter * sigma[..., None]
    glitch = rng.random((frames, N_JOINTS)) < 0.002
    observed[glitch] += rng.normal(0, 25 * size, (int(glitch.sum()), 2))
    confidence = np.clip(CONFIDENCE[None, :] - 0.2 * blur + rng.normal(0, 0.07, (frames, N_JOINTS)), 0.08, 0.97)

    # Missing joints come in bursts: a two-state chain per joint whose long-run missing share is the model's rate.
    rate = np.clip(MISSING * params["missing_rate"], 0, 0.9)
    start_missing = rate / (_MISSING_BURST * (1 - rate))
    missing = np.zeros((frames, N_JOINTS), bool)
    state = rng.random(N_JOINTS) < rate
    draws = rng.random((frames, N_JOINTS))
    extra = rng.random((frames, N_JOINTS))
    for i in range(frames):
        state = np.where(state, draws[i] > 1 / _MISSING_BURST, draws[i] < start_missing)
        missing[i] = state
        for joint, share in hidden[i].items():
            missing[i, joint] |= extra[i, joint] < share
    inside = ((observed[..., 0] >= 0) & (observed[..., 0] < camera.width) & (observed[..., 1] >= 0)
              & (observed[..., 1] < camera.height))
    keep = present[:, None] & inside & ~missing
    keypoints = np.zeros((frames, N_JOINTS, 3), np.float32)
    keypoints[..., :2] = np.where(keep[..., None], observed, 0)
    keypoints[..., 2] = np.where(keep, confidence, 0)
    # Now and then the estimator swaps the arms, left for right.
    swapped = rng.random(frames) < 0.004
    keypoints[swapped] = keypoints[swapped][:, _SWAP]
    return keypoints


def _stray_detection(rng: np.random.Generator, camera: Camera) -> np.ndarray:
    """A partial false detection: two to five joints of low confidence around one spot."""
    person = np.zeros((N_JOINTS, 3), np.float32)
    joints = rng.choice(N_JOINTS, size=int(rng.integers(2, 6)), replace=False)
    centre = rng.uniform([0, 0], [camera.width, camera.height])
    person[joints, :2] = np.clip(centre + rng.normal(0, 0.04 * camera.height, (len(joints), 2)), 0,
                                 [camera.width - 1, camera.height - 1])
    person[joints, 2] = rng.uniform(0.08, 0.35, len(joints))
    return person


def frame_people(plan: VideoPlan, camera: Camera, params: dict) -> tuple[list[list[np.ndarray]], dict]:
    """Per frame, the shuffled list of people OpenPose would report; also the true 2D points for drawing, and the
    worker's reported keypoints with the frames where the worker is among the people (for tests)."""
    rng = plan.rng
    frames = params["frames_per_video"]
    worker_points = true_keypoints(np.asarray(plan.worker.poses), plan.worker.build.height, camera)
    worker = observe(worker_points, plan.worker.hidden, camera, params, rng)
    # The estimator misses the worker altogether for a frame or two now and then.
    dropped = np.zeros(frames, bool)
    for start in np.flatnonzero(rng.random(frames) < 0.004):
        dropped[start:start + int(rng.integers(1, 4))] = True
    others_points = [true_keypoints(poses, build.height, camera) for build, poses in plan.bystanders]
    others = [observe(points, [{}] * frames, camera, params, rng) for points in others_points]
    people_per_frame = []
    reported = np.zeros(frames, bool)
    for i in range(frames):
        people = [] if dropped[i] else [worker[i]]
        people += [person[i] for person in others]
        if rng.random() < 0.015:
            people.append(_stray_detection(rng, camera))
        # OpenPose leaves out people with fewer than a handful of joints found.
        people = [p for p in people if (p[:, 2] > 0).sum() >= 3]
        reported[i] = not dropped[i] and (worker[i][:, 2] > 0).sum() >= 3
        rng.shuffle(people)
        people_per_frame.append(people)
    return people_per_frame, {"worker": worker_points, "bystanders": others_points, "worker_keypoints": worker,
                              "worker_reported": reported}


# -- drawing the video -------------------------------------------------------------------------------------------

_HEAD = {JOINT[name] for name in ("Nose", "REye", "LEye", "REar", "LEar")}
_LEGS = {JOINT[name] for name in ("MidHip", "RHip", "RKnee", "RAnkle", "LHip", "LKnee", "LAnkle")}
WORKER_COLOUR, SKIN, HAIR = (38, 58, 120), (214, 172, 140), (60, 45, 35)
BYSTANDER_COLOURS = ((92, 110, 88), (120, 104, 82), (80, 84, 96))
CHAIR, BOX, PAPER, TRASH = (122, 78, 42), (184, 142, 92), (244, 244, 236), (150, 150, 150)


def _box_faces(camera: Camera, xs, y_top, zs):
    """Screen polygons of a box on the floor: its front face and its top."""
    (x0, x1), (z0, z1) = xs, zs
    front = camera.project(np.array([[x0, 0, z0], [x1, 0, z0], [x1, y_top, z0], [x0, y_top, z0]]))
    top = camera.project(np.array([[x0, y_top, z0], [x1, y_top, z0], [x1, y_top, z1], [x0, y_top, z1]]))
    return [tuple(p) for p in front.tolist()], [tuple(p) for p in top.tolist()]


def draw_background(camera: Camera, worker_z: float, rng: np.random.Generator) -> tuple[Image.Image, list]:
    """The empty shop floor, and the trash box's polygons (drawn again over the worker, who stands behind it)."""
    w, h = camera.width, camera.height
    shade = rng.uniform(-10, 10)
    image = Image.new("RGB", (w, h), tuple(int(c + shade) for c in (178, 180, 176)))
    draw = ImageDraw.Draw(image)
    horizon = float(camera.project(np.array([0.0, 0.0, BACK_WALL_Z]))[1])
    draw.rectangle((0, horizon, w, h), fill=tuple(int(c + shade) for c in (120, 118, 112)))
    for z in (6.0, 8.0, 10.0):
        v = float(camera.project(np.array([0.0, 0.0, z]))[1])
        draw.line((0, v, w, v), fill=(110, 108, 102), width=max(1, h // 240))
    for x in np.arange(-4.0, 4.5, 1.0):
        a, b = camera.project(np.array([[x, 0.0, 3.0], [x, 0.0, BACK_WALL_Z]]))
        draw.line((tuple(a), tuple(b)), fill=(110, 108, 102), width=max(1, h // 240))
    shelf_top = camera.project(np.array([[-1.0, 1.6, BACK_WALL_Z], [1.2, 1.2, BACK_WALL_Z]]))
    draw.rectangle((*shelf_top[0], *shelf_top[1]), fill=(140, 120, 96))
    front, top = _box_faces(camera, TABLE_X, TABLE_HEIGHT, (worker_z - 0.4, worker_z + 0.4))
    draw.polygon(top, fill=(150, 112, 70))
    draw.polygon(front, fill=(112, 80, 48))
    trash = _box_faces(camera, BOX_X, BOX_HEIGHT, (worker_z - 0.4, worker_z))
    return image, trash


def _draw_person(draw: ImageDraw.ImageDraw, points: np.ndarray, scale: float, colour) -> None:
    """A body in overalls: thick limbs, a torso quad, a head."""
    p = [tuple(q) for q in points.tolist()]
    limb = max(2, int(round(0.1 * scale)))
    leg = max(2, int(round(0.13 * scale)))
    torso = [p[JOINT["RShoulder"]], p[JOINT["LShoulder"]], p[JOINT["LHip"]], p[JOINT["RHip"]]]
    draw.polygon(torso, fill=colour)
    for a, b in BODY_25_LIMBS:
        if a in _HEAD or b in _HEAD:
            continue  # the head is drawn whole
        width = leg if a in _LEGS and b in _LEGS else limb
        draw.line((p[a], p[b]), fill=colour, width=width, joint="curve")
    for wrist in (JOINT["RWrist"], JOINT["LWrist"]):
        x, y = p[wrist]
        r = 0.045 * scale
        draw.ellipse((x - r, y - r, x + r, y + r), fill=SKIN)
    head = (points[JOINT["REar"]] + points[JOINT["LEar"]]) / 2
    r = 0.11 * scale
    draw.ellipse((head[0] - r, head[1] - r, head[0] + r, head[1] + r), fill=SKIN)
    draw.chord((head[0] - r, head[1] - r, head[0] + r, head[1] + r), 180, 360, fill=HAIR)


def _draw_prop(draw: ImageDraw.ImageDraw, prop: Prop, points: np.ndarray, scale: float, release: np.ndarray | None,
               box_target: np.ndarray) -> None:
    if prop.flight is not None:
        if release is None:
            return
        t = min(prop.flight / 14.0, 1.0)
        if t >= 1.0:
            return
        centre = release + (box_target - release) * t - np.array([0.0, 0.6 * scale * 4 * t * (1 - t)])
    else:
        wrists = [points[JOINT[f"{side.upper()}Wrist"]] for side in prop.hands]
        centre = np.mean(wrists, axis=0)
        if len(prop.hands) == 1 and prop.kind in ("box", "chair"):
            centre = centre + np.array([0.0, 0.15 * scale])  # hanging from one hand by its edge
    x, y = centre
    s = scale
    if prop.kind == "box":
        draw.rectangle((x - 0.22 * s, y - 0.22 * s, x + 0.22 * s, y + 0.12 * s), fill=BOX, outline=(120, 90, 60))
    elif prop.kind == "chair":
        draw.rectangle((x - 0.2 * s, y, x + 0.2 * s, y + 0.05 * s), fill=CHAIR)
        draw.rectangle((x + 0.14 * s, y - 0.4 * s, x + 0.2 * s, y), fill=CHAIR)
        for dx in (-0.18, 0.16):
            draw.line((x + dx * s, y, x + dx * s, y + 0.42 * s), fill=CHAIR, width=max(1, int(0.03 * s)))
    elif prop.kind == "paper":
        draw.rectangle((x - 0.1 * s, y - 0.03 * s, x + 0.1 * s, y + 0.04 * s), fill=PAPER)
    elif prop.kind == "trash":
        r = 0.05 * s
        draw.ellipse((x - r, y - r, x + r, y + r), fill=TRASH)


def render_frames(plan: VideoPlan, truth: dict, camera: Camera):
    """Yield the video's RGB frames (PIL images) in order."""
    background, (trash_front, trash_top) = draw_background(camera, plan.worker.build.z, plan.rng)
    worker_points = truth["worker"]
    box_target = camera.project(np.array([np.mean(BOX_X), BOX_HEIGHT, plan.worker.build.z - 0.2]))
    order = np.argsort([-build.z for build, _ in plan.bystanders])
    release = None
    for i in range(len(worker_points)):
        image = background.copy()
        draw = ImageDraw.Draw(image)
        for k in order:
            points = truth["bystanders"][k][i]
            if not np.isnan(points[0, 0]):
                build, poses = plan.bystanders[k]
                scale = camera.pixels_per_metre(np.array([poses[i, F["x"]], 1.0, build.z]))
                _draw_person(draw, points, scale, BYSTANDER_COLOURS[k % len(BYSTANDER_COLOURS)])
        pose = plan.worker.poses[i]
        scale = camera.pixels_per_metre(np.array([pose[F["x"]], 1.0, pose[F["z"]]]))
        _draw_person(draw, worker_points[i], scale, WORKER_COLOUR)
        # The trash box stands in front of the worker: hands that dig in it disappear.
        draw.polygon(trash_top, fill=(30, 60, 40))
        draw.polygon(trash_front, fill=(46, 96, 62))
        prop = plan.worker.props[i]
        if prop is not None:
            if prop.flight == 0:
                hand = "RWrist" if plan.worker.build.hand == "r" else "LWrist"
                release = worker_points[i][JOINT[hand]]
            _draw_prop(draw, prop, worker_points[i], scale, release, box_target)
        yield image


def write_video(path: Path, frames, width: int, height: int) -> None:
    import av

    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("mpeg4", rate=int(FPS))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.bit_rate = int(2_500_000 * width * height / (640 * 480))
        stream.codec_context.thread_count = 1  # one thread: the same frames give the same bytes
        for image in frames:
            for packet in stream.encode(av.VideoFrame.from_image(image)):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


# -- writing the dataset -----------------------------------------------------------------------------------------

MARKER_FORMAT = "industrial"
#: What this generator writes into a folder; on a second run into a folder it wrote, these are replaced.
WRITTEN = (VIDEOS_DIR, POSES_DIR, SPLIT_FILE, LABELS_FILE)


def write_dataset(out: Path, params: dict) -> list[str]:
    """Write videos, OpenPose JSON, split.json and labels.json to ``out`` (missing, empty, or written by this
    generator before), and the marker that says it is a generated copy; returns the files written."""
    clear_previous_copy(out, GENERATOR_NAME, WRITTEN)
    out.mkdir(parents=True, exist_ok=True)
    camera = Camera(params["width"], params["height"])
    marker = {"generator": GENERATOR_NAME, "generator_version": GENERATOR_VERSION, "format": MARKER_FORMAT,
              "read_with": f"anobench data check industrial --data-root {out}", "options": params,
              # Written first and marked incomplete, so that a run cut short leaves a folder that may be rewritten.
              "complete": False}
    atomic_write_json(out / GENERATED_MARKER, marker)
    written: list[str] = []
    (out / VIDEOS_DIR).mkdir()
    (out / POSES_DIR).mkdir()
    split = {"train": [], "test": []}
    labels: dict[str, list] = {}
    for split_name, count in (("train", params["n_train"]), ("test", params["n_test"])):
        for index in range(count):
            plan = plan_video(params, split_name, index)
            people_per_frame, truth = frame_people(plan, camera, params)
            folder = out / POSES_DIR / plan.name
            folder.mkdir()
            for frame, people in enumerate(people_per_frame):
                path = folder / pose_file_name(plan.name, frame)
                path.write_text(json.dumps(frame_document(people), separators=(",", ":")))
                written.append(str(path))
            video = out / VIDEOS_DIR / f"{plan.name}.avi"
            write_video(video, render_frames(plan, truth, camera), params["width"], params["height"])
            written.append(str(video))
            split[split_name].append(plan.name)
            labels[plan.name] = [[first, last, action] for first, last, action in plan.intervals]
    for name, document in ((SPLIT_FILE, split), (LABELS_FILE, labels)):
        (out / name).write_text(json.dumps(document, indent=1) + "\n")
        written.append(str(out / name))
    marker["complete"] = True
    atomic_write_json(out / GENERATED_MARKER, marker)
    written.append(str(out / GENERATED_MARKER))
    return written


class SyntheticIndustrial(Industrial):
    """The industrial set, generated: runs anywhere with no files to bring. Reads like ``industrial``."""

    real_footage = False  # generated, though it reads Industrial's layout

    Options = SyntheticIndustrialOptions

    @property
    def root(self) -> Path:
        """The generated files in the anobench cache, written on first use."""
        params = self.options.generator_params()
        key = json.dumps([GENERATOR_NAME, GENERATOR_VERSION, params], sort_keys=True)
        path = cache_dir() / GENERATOR_NAME / hashlib.sha256(key.encode()).hexdigest()[:16]
        if not path.is_dir():
            path.parent.mkdir(parents=True, exist_ok=True)
            # Written under a temporary name and renamed, so that an interrupted or concurrent run never sees half.
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir()
            try:
                write_dataset(tmp, params)
                os.replace(tmp, path)
            except OSError:
                if not path.is_dir():
                    raise
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
        return path

    def fingerprint(self) -> dict:
        o = self.options
        return {
            "generator": GENERATOR_NAME,
            "generator_version": GENERATOR_VERSION,
            **self.options.generator_params(),
            "fps": FPS,
            "skeleton": {"version": SKELETON_VERSION, "line_width": o.line_width, "threshold": o.threshold,
                         "min_confidence": o.min_confidence},
            "label_convention": self.label_convention,
        }


class SyntheticIndustrialGenerator(Generator):
    """The generated worker written in the layout ``industrial`` reads: AVI videos, OpenPose-style JSON per frame,
    split.json and labels.json."""

    Options = SyntheticIndustrialOptions
    reads_with = "industrial"
    version = GENERATOR_VERSION

    def write(self, out: Path, seed: int, options: SyntheticIndustrialOptions) -> list[str]:
        return write_dataset(Path(out), dataclasses.replace(options, seed=seed).generator_params())
