"""The worker's actions of the skeleton LSTM-VAE paper's Table 1 as pose sequences, and bystanders walking or working
behind.

A ``Choreographer`` appends frames to one worker's performance, action after action, each starting where the last
one ended (the angles of the first frames of an action are blended from the previous pose, so nothing teleports).
Every frame also says what the worker holds (a ``Prop``) and which joints are hidden (hands in the trash box).

In skeleton terms the abnormal actions are: one-handed carrying, one arm hanging straight with the load and the
body leaning away from it while the other arm swings; one-handed cutting, the paper hand hanging idle; throwing, a
wind-up and a fast overarm swing (about 0.2 s) from two metres off the box; digging, a deep bend with both arms
rummaging below the box's rim; running, fast strides (about 3.5 m/s, knees high, arms pumping) back and forth.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from anobench_generators.factory.kinematics import F, N_FIELDS, neutral_pose
from anobench_formats.openpose import JOINT

FPS = 30.0
NORMAL_ACTIONS = ("carry-chair", "cut-paper", "discard-trash", "carry-box")
ABNORMAL_ACTIONS = ("carry-chair-one-hand", "cut-paper-one-hand", "throw-trash", "carry-box-one-hand",
                    "dig-in-trash", "run")
#: Frames over which an action's angles blend in from the previous pose; longer for a turn, which goes no faster
#: than MAX_TURN per frame (a brisk 360 degrees a second).
BLEND = 6
MAX_TURN = np.radians(12.0)
#: How far either side of the picture's centre the worker walks (metres; the frame shows about 2.3 m each side).
WALK_LIMIT = 1.5
TABLE_STATION, BOX_STATION = -1.3, 1.35
_ANGLES = slice(F["yaw"], N_FIELDS)
_HIDDEN_WHEN_DIGGING = {JOINT["RWrist"]: 0.6, JOINT["LWrist"]: 0.6, JOINT["RElbow"]: 0.25, JOINT["LElbow"]: 0.25}


def radians(*degrees: float):
    values = np.radians(degrees)
    return float(values[0]) if len(degrees) == 1 else values


@dataclass
class Prop:
    """What the worker holds (kind: chair, box, paper, trash) and in which hands; thrown trash has no hands and
    counts the frames since it left the hand."""

    kind: str
    hands: tuple[str, ...] = ()
    flight: int | None = None


@dataclass
class Segment:
    """An action's frames [start, stop); abnormal actions label exactly these frames."""

    action: str
    start: int
    stop: int

    @property
    def abnormal(self) -> bool:
        return self.action in ABNORMAL_ACTIONS


@dataclass
class Build:
    """One person's body and habits."""

    height: float
    walk_speed: float  # m/s
    stride_rate: float  # strides (two steps) per second
    arm_swing: float  # radians
    hand: str  # dominant hand, "r" or "l"
    z: float  # metres from the camera along the floor


def random_build(rng: np.random.Generator, z: float) -> Build:
    return Build(
        height=float(rng.uniform(1.58, 1.86)),
        walk_speed=float(rng.uniform(1.0, 1.35)),
        stride_rate=float(rng.uniform(0.85, 1.0)),
        arm_swing=float(rng.uniform(0.22, 0.38)),
        hand="r" if rng.random() < 0.85 else "l",
        z=z,
    )


def _smooth(t):
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3 - 2 * t)


@dataclass
class Choreographer:
    rng: np.random.Generator
    build: Build
    poses: list[np.ndarray] = field(default_factory=list)
    props: list[Prop | None] = field(default_factory=list)
    hidden: list[dict[int, float]] = field(default_factory=list)
    segments: list[Segment] = field(default_factory=list)

    def __post_init__(self):
        start_x = float(self.rng.uniform(-1.0, 1.0))
        self._last = neutral_pose(start_x, self.build.z, radians(float(self.rng.uniform(-30, 30))))
        self._blend_from = self._last.copy()
        self._blend_step, self._blend_frames = 0, 0
        self._phase = float(self.rng.uniform(0, 2 * np.pi))

    # -- bookkeeping ---------------------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.poses)

    @property
    def x(self) -> float:
        return float(self._last[F["x"]])

    def _begin(self) -> None:
        self._blend_from = self._last.copy()
        self._blend_step, self._blend_frames = 0, None

    def _emit(self, pose: np.ndarray, prop: Prop | None = None, hidden: dict[int, float] | None = None) -> None:
        pose = pose.copy()
        if self._blend_frames is None:
            turn = abs(pose[F["yaw"]] - self._blend_from[F["yaw"]])
            self._blend_frames = max(BLEND, int(np.ceil(turn / MAX_TURN)))
        if self._blend_step < self._blend_frames:
            weight = 1 - (self._blend_step + 1) / (self._blend_frames + 1)
            pose[_ANGLES] = weight * self._blend_from[_ANGLES] + (1 - weight) * pose[_ANGLES]
            self._blend_step += 1
        self.poses.append(pose)
        self.props.append(prop)
        self.hidden.append(hidden or {})
        self._last = pose

    def _labelled(self, action: str, body) -> None:
        start = len(self.poses)
        body()
        self.segments.append(Segment(action, start, len(self.poses)))

    def _base(self, yaw: float | None = None) -> np.ndarray:
        pose = neutral_pose(self.x, self.build.z, self._last[F["yaw"]] if yaw is None else yaw)
        return pose

    # -- gait ----------------------------------------------------------------------------------------------------

    def _gait(self, pose: np.ndarray, running: bool, free_arms: tuple[str, ...]) -> None:
        phase = self._phase
        for side, offset in (("r", 0.0), ("l", np.pi)):
            angle = phase + offset
            if running:
                pose[F[f"{side}_hip"]] = 0.15 + 0.75 * np.sin(angle)
                pose[F[f"{side}_knee"]] = 0.35 + 1.3 * max(0.0, np.sin(angle + 1.1))
            else:
                pose[F[f"{side}_hip"]] = 0.38 * np.sin(angle)
                pose[F[f"{side}_knee"]] = 0.08 + 0.65 * max(0.0, np.sin(angle + 0.9))
        for side, offset in (("r", np.pi), ("l", 0.0)):
            if side not in free_arms:
                continue
            swing = np.sin(phase + offset)
            if running:
                pose[F[f"{side}_flex"]] = 0.25 + 0.65 * swing
                pose[F[f"{side}_elbow"]] = 1.45
                pose[F[f"{side}_abd"]] = 0.12
            else:
                pose[F[f"{side}_flex"]] = 0.03 + self.build.arm_swing * swing
                pose[F[f"{side}_elbow"]] = 0.12 + 0.15 * max(0.0, swing)
        if running:
            pose[F["pitch"]] = 0.22
            pose[F["head_pitch"]] = -0.1

    def _stride(self, direction: float, running: bool, speed: float) -> None:
        # Running strides are faster and longer; a slower walk (carrying) takes slower strides.
        rate = self.build.stride_rate * (1.55 if running else speed / self.build.walk_speed)
        self._phase += 2 * np.pi * rate / FPS
        self._last = self._last.copy()
        self._last[F["x"]] += direction * speed / FPS

    def _travel(self, target_x: float, running: bool = False, speed: float | None = None, arms=None,
                prop=None) -> None:
        """Walk (or run) to ``target_x``; ``arms(pose)`` poses arms that are not swinging freely."""
        speed = speed or self.build.walk_speed
        direction = 1.0 if target_x > self.x else -1.0
        yaw = direction * radians(float(self.rng.uniform(65, 82)))
        self._begin()
        while (target_x - self.x) * direction > speed / FPS:
            self._stride(direction, running, speed)
            pose = self._base(yaw)
            held = arms(pose) if arms else ()
            self._gait(pose, running, tuple(s for s in ("r", "l") if s not in held))
            if not running and held:
                pose[F["pitch"]] += 0.04
            self._emit(pose, prop)

    def _far_side(self) -> float:
        side = -1.0 if self.x > 0 else 1.0
        return side * float(self.rng.uniform(WALK_LIMIT - 0.3, WALK_LIMIT))

    # -- idle ----------------------------------------------------------------------------------------------------

    def stand(self, frames: int) -> None:
        yaw = radians(float(self.rng.uniform(-35, 35)))
        sway = float(self.rng.uniform(0, 2 * np.pi))
        self._begin()
        for i in range(frames):
            pose = self._base(yaw)
            t = i / FPS
            pose[F["roll"]] = 0.03 * np.sin(0.9 * t + sway)
            pose[F["r_flex"]] = 0.05 + 0.03 * np.sin(1.3 * t)
            pose[F["l_flex"]] = 0.05 + 0.03 * np.sin(1.1 * t + 1)
            pose[F["head_pitch"]] = 0.05 * np.sin(0.7 * t + sway)
            self._emit(pose)

    def walk_to(self, target_x: float) -> None:
        self._travel(target_x)

    def turn_to(self, yaw: float) -> None:
        """A short pause while turning towards ``yaw`` (the blend does the turning)."""
        self._begin()
        turn = abs(yaw - self._last[F["yaw"]])
        for _ in range(max(BLEND, int(np.ceil(turn / MAX_TURN))) + 2):
            self._emit(self._base(yaw))

    # -- Table 1 -------------------------------------------------------------------------------------------------

    def carry(self, thing: str, one_hand: bool) -> None:
        """Carry a chair or a box to the other side of the floor, with both hands or (abnormal) with one."""
        action = f"carry-{thing}" + ("-one-hand" if one_hand else "")
        hand = self.build.hand if self.rng.random() < 0.7 else ("l" if self.build.hand == "r" else "r")
        bob = float(self.rng.uniform(0.02, 0.05))

        def arms(pose):
            if one_hand:
                pose[F[f"{hand}_flex"]] = 0.04 + 0.04 * np.sin(self._phase)
                pose[F[f"{hand}_abd"]] = 0.22 if thing == "chair" else 0.34
                pose[F[f"{hand}_elbow"]] = 0.05
                # Leaning away from the load.
                pose[F["roll"]] = 0.11 if hand == "r" else -0.11
                return (hand,)
            flex, abd, elbow = (0.55, -0.22, 0.9) if thing == "chair" else (0.78, -0.28, 1.25)
            for side in ("r", "l"):
                pose[F[f"{side}_flex"]] = flex + bob * np.sin(2 * self._phase)
                pose[F[f"{side}_abd"]] = abd
                pose[F[f"{side}_elbow"]] = elbow
            pose[F["pitch"]] = -0.03 if thing == "box" else 0.03
            return ("r", "l")

        prop = Prop(thing, (hand,) if one_hand else ("r", "l"))
        self._labelled(action, lambda: self._travel(self._far_side(), speed=0.85 * self.build.walk_speed,
                                                    arms=arms, prop=prop))

    def cut_paper(self, one_hand: bool) -> None:
        """Walk to the table and cut paper: the other hand holds the sheet, or (abnormal) hangs idle."""
        self.walk_to(TABLE_STATION + float(self.rng.uniform(-0.1, 0.1)))
        self.turn_to(radians(float(self.rng.uniform(-72, -58))))
        frames = int(self.rng.integers(90, 150))
        cutter = self.build.hand
        holder = "l" if cutter == "r" else "r"
        rate = float(self.rng.uniform(2.0, 3.0))

        def work():
            yaw = self._last[F["yaw"]]
            self._begin()
            for i in range(frames):
                t = i / FPS
                pose = self._base(yaw)
                pose[F["pitch"]], pose[F["head_pitch"]] = 0.3, 0.35
                pose[F[f"{cutter}_flex"]] = 0.85 + 0.04 * np.sin(0.5 * t)
                pose[F[f"{cutter}_abd"]] = -0.15
                pose[F[f"{cutter}_elbow"]] = 0.8 + 0.14 * np.sin(2 * np.pi * rate * t)
                if one_hand:
                    pose[F[f"{holder}_flex"]] = 0.07 + 0.03 * np.sin(0.8 * t)
                    pose[F[f"{holder}_abd"]] = 0.08
                    pose[F[f"{holder}_elbow"]] = 0.1
                else:
                    pose[F[f"{holder}_flex"]] = 0.8 + 0.05 * np.sin(0.4 * t)
                    pose[F[f"{holder}_abd"]] = -0.3
                    pose[F[f"{holder}_elbow"]] = 0.7
                self._emit(pose, Prop("paper", (cutter,) if one_hand else (cutter, holder)))

        self._labelled("cut-paper-one-hand" if one_hand else "cut-paper", work)

    def discard_trash(self) -> None:
        """Walk to the trash box, lean over it and drop the trash in."""
        self.walk_to(BOX_STATION + float(self.rng.uniform(-0.08, 0.05)))
        self.turn_to(radians(float(self.rng.uniform(62, 78))))
        frames = int(self.rng.integers(60, 85))
        hand = self.build.hand

        def work():
            yaw = self._last[F["yaw"]]
            self._begin()
            for i in range(frames):
                t = i / frames
                reach = _smooth(t / 0.35) * (1 - _smooth((t - 0.6) / 0.35))
                pose = self._base(yaw)
                pose[F["pitch"]] = 0.45 * reach
                pose[F[f"{hand}_flex"]] = 0.05 + 1.05 * reach
                pose[F[f"{hand}_elbow"]] = 0.3 - 0.15 * reach
                self._emit(pose, Prop("trash", (hand,)) if t < 0.5 else None)

        self._labelled("discard-trash", work)

    def throw_trash(self) -> None:
        """From two metres off the box, throw the trash at it: wind-up, a fast overarm swing, follow-through."""
        self.walk_to(float(self.rng.uniform(-0.45, 0.1)))
        self.turn_to(radians(float(self.rng.uniform(65, 80))))
        hand = self.build.hand
        throws = int(self.rng.integers(1, 3))

        def work():
            base_yaw = self._last[F["yaw"]]
            for _ in range(throws):
                wind, swing, follow = int(self.rng.integers(12, 18)), int(self.rng.integers(3, 6)), 24
                self._begin()
                release = None
                for i in range(wind + swing + follow):
                    pose = self._base(base_yaw)
                    if i < wind:
                        s = _smooth(i / wind)
                        flex, elbow, pitch, twist = 0.2 - 0.9 * s, 0.3 + 1.1 * s, -0.12 * s, 0.25 * s
                    elif i < wind + swing:
                        s = (i - wind + 1) / swing
                        flex, elbow, pitch, twist = -0.7 + 3.1 * s, 1.4 - 1.35 * s, -0.12 + 0.5 * s, 0.25 - 0.6 * s
                    else:
                        s = _smooth((i - wind - swing) / follow)
                        flex, elbow, pitch, twist = 2.4 - 2.3 * s, 0.05 + 0.15 * s, 0.38 - 0.38 * s, -0.35 + 0.35 * s
                    pose[F[f"{hand}_flex"]], pose[F[f"{hand}_elbow"]] = flex, elbow
                    pose[F[f"{hand}_abd"]] = 0.35
                    pose[F["pitch"]] = pitch
                    pose[F["yaw"]] = base_yaw + (twist if hand == "r" else -twist)
                    pose[F["r_hip" if hand == "l" else "l_hip"]] = 0.25  # the step forward
                    if i < wind + swing - 1:
                        prop = Prop("trash", (hand,))
                    else:
                        release = release if release is not None else i
                        prop = Prop("trash", flight=i - release)
                    self._emit(pose, prop)
                self._begin()
                for _ in range(int(self.rng.integers(8, 15))):
                    self._emit(self._base(base_yaw))

        self._labelled("throw-trash", work)

    def dig_in_trash(self) -> None:
        """Walk to the trash box, bend deep into it and rummage with both hands."""
        self.walk_to(BOX_STATION + float(self.rng.uniform(-0.08, 0.05)))
        self.turn_to(radians(float(self.rng.uniform(62, 78))))
        frames = int(self.rng.integers(90, 150))
        phases = self.rng.uniform(0, 2 * np.pi, 4)
        rates = self.rng.uniform(1.0, 2.0, 4)

        def work():
            yaw = self._last[F["yaw"]]
            self._begin()
            for i in range(frames):
                t = i / FPS
                bend = _smooth(i / 15) * (1 - _smooth((i - frames + 15) / 15))
                pose = self._base(yaw)
                pose[F["pitch"]] = 1.2 * bend
                pose[F["head_pitch"]] = -0.25 * bend
                pose[F["r_hip"]] = pose[F["l_hip"]] = 0.15 * bend
                pose[F["r_knee"]] = pose[F["l_knee"]] = 0.03 + 0.3 * bend
                for k, side in enumerate(("r", "l")):
                    rummage = 0.35 * np.sin(2 * np.pi * rates[k] * t + phases[k])
                    pose[F[f"{side}_flex"]] = bend * (1.45 + rummage) + (1 - bend) * 0.05
                    pose[F[f"{side}_elbow"]] = 0.1 + bend * (0.3 + 0.3 * np.sin(2 * np.pi * rates[k + 2] * t
                                                                              + phases[k + 2]))
                    pose[F[f"{side}_abd"]] = 0.05 + 0.1 * bend
                self._emit(pose, hidden=_HIDDEN_WHEN_DIGGING if bend > 0.7 else None)

        self._labelled("dig-in-trash", work)

    def run(self) -> None:
        """Run back and forth across the floor, free or carrying the box with both hands."""
        frames = int(self.rng.integers(75, 120))
        speed = float(self.rng.uniform(3.0, 3.8))
        carrying = self.rng.random() < 0.5

        def arms(pose):
            if not carrying:
                return ()
            for side in ("r", "l"):
                pose[F[f"{side}_flex"]], pose[F[f"{side}_abd"]], pose[F[f"{side}_elbow"]] = 0.78, -0.28, 1.25
            return ("r", "l")

        def work():
            end = len(self.poses) + frames
            while len(self.poses) < end:
                self._travel(self._far_side(), running=True, speed=speed, arms=arms,
                             prop=Prop("box", ("r", "l")) if carrying else None)
            del self.poses[end:], self.props[end:], self.hidden[end:]
            self._last = self.poses[-1]

        self._labelled("run", work)

    def perform(self, action: str) -> None:
        {
            "carry-chair": lambda: self.carry("chair", False),
            "carry-box": lambda: self.carry("box", False),
            "carry-chair-one-hand": lambda: self.carry("chair", True),
            "carry-box-one-hand": lambda: self.carry("box", True),
            "cut-paper": lambda: self.cut_paper(False),
            "cut-paper-one-hand": lambda: self.cut_paper(True),
            "discard-trash": self.discard_trash,
            "throw-trash": self.throw_trash,
            "dig-in-trash": self.dig_in_trash,
            "run": self.run,
        }[action]()


def bystander_poses(rng: np.random.Generator, build: Build, frames: int, half_width: float) -> np.ndarray:
    """A bystander's pose per frame (NaN rows while out of the picture): walking across the back of the room,
    or standing at a bench working with both hands."""
    poses = np.full((frames, N_FIELDS), np.nan)
    if rng.random() < 0.6:
        direction = 1.0 if rng.random() < 0.5 else -1.0
        start = int(rng.integers(-frames // 2, frames // 2))
        phase = float(rng.uniform(0, 2 * np.pi))
        yaw = direction * radians(float(rng.uniform(60, 90)))
        for i in range(max(start, 0), frames):
            x = -direction * (half_width + 0.5) + direction * build.walk_speed * (i - start) / FPS
            if abs(x) > half_width + 0.6:
                continue
            angle = phase + 2 * np.pi * build.stride_rate * (i - start) / FPS
            pose = neutral_pose(x, build.z, yaw)
            pose[F["r_hip"]], pose[F["l_hip"]] = 0.38 * np.sin(angle), -0.38 * np.sin(angle)
            pose[F["r_knee"]] = 0.08 + 0.65 * max(0.0, np.sin(angle + 0.9))
            pose[F["l_knee"]] = 0.08 + 0.65 * max(0.0, np.sin(angle + 0.9 + np.pi))
            pose[F["r_flex"]], pose[F["l_flex"]] = -build.arm_swing * np.sin(angle), build.arm_swing * np.sin(angle)
            poses[i] = pose
    else:
        x = float(rng.uniform(-0.8, 0.8) * half_width)
        yaw = radians(float(rng.uniform(-40, 40)))
        rate = float(rng.uniform(0.5, 1.2))
        for i in range(frames):
            t = i / FPS
            pose = neutral_pose(x, build.z, yaw)
            pose[F["pitch"]] = 0.2
            for side, shift in (("r", 0.0), ("l", 1.7)):
                pose[F[f"{side}_flex"]] = 0.7 + 0.15 * np.sin(2 * np.pi * rate * t + shift)
                pose[F[f"{side}_elbow"]] = 0.9 + 0.2 * np.sin(2 * np.pi * rate * 1.3 * t + shift)
                pose[F[f"{side}_abd"]] = -0.1
            poses[i] = pose
    return poses
