"""Planning and drawing the synthetic walkway: a static scene, walkers with a gait, and anomalous events.

Everything here is pure numpy and deterministic: a video is a function of the generator parameters (seed
included), its split and its index. Planning (who walks where, which frames are abnormal) is cheap and comes before
any pixel is drawn, so labels are known without rendering; the caller draws each video once and caches it.

Coordinates are pixels, with the centre of pixel (row i, column j) at (x=j, y=i); y grows downwards. People are
drawn as anti-aliased capsules (a line segment with a radius), so the exact extent of every shape is known, and a
test frame is labelled abnormal exactly when some shape of an anomalous actor reaches into it.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from statistics import NormalDist

import numpy as np

#: The anomaly kinds a test video can contain.
ANOMALY_KINDS = ("runner", "wrong-way", "throw", "loiter")

# Independent random streams, so that e.g. the crowd and the sensor noise stay the same when an event is left out.
_SPLIT_CODE = {"train": 1, "test": 2}
_STREAM_SCENE, _STREAM_CROWD, _STREAM_EVENTS, _STREAM_NOISE = 11, 12, 13, 14

# Walking at ~1.4 m/s is ~0.8 body heights per second, i.e. 0.032 heights per frame at 25 fps.
WALK_SPEED_PER_HEIGHT = 0.032
# One gait cycle (two steps) is ~0.82 body heights for a walker and ~1.6 for a runner.
WALK_CYCLE_PER_HEIGHT = 0.82
RUN_CYCLE_PER_HEIGHT = 1.6
# Figures start and end this many body heights outside the frame, so nobody pops into view.
ENTRY_MARGIN = 0.7
# How much the arrival rate of walkers drifts: the standard deviation of its logarithm.
BURSTINESS = 0.4
# Labelled spans of two events are at least this many frames apart, so that each event can be scored on its own.
EVENT_GAP = 8
# An event shorter than this (cut by the start or end of the video) is not placed.
MIN_EVENT_FRAMES = 16
# Frames drawn per batch before noise and quantisation are applied to the whole batch.
_BATCH = 16


@dataclass(frozen=True)
class Gait:
    """How a figure moves its limbs, in units of body height."""

    leg_swing: float  # forward/back excursion of a foot
    foot_lift: float  # how high the foot swinging forward is lifted
    arm_swing: float
    arm_drop: float  # how far below the shoulder the hand is (bent arms: less)
    lean: float  # forward lean of the shoulders
    bounce: float  # vertical bob per step
    stance: float = 0.0  # feet apart when standing

    def row(self) -> np.ndarray:
        return np.array(dataclasses.astuple(self), dtype=np.float64)


WALK = Gait(leg_swing=0.20, foot_lift=0.05, arm_swing=0.10, arm_drop=0.28, lean=0.02, bounce=0.012)
RUN = Gait(leg_swing=0.34, foot_lift=0.15, arm_swing=0.16, arm_drop=0.17, lean=0.10, bounce=0.035)
STAND = Gait(leg_swing=0.0, foot_lift=0.0, arm_swing=0.0, arm_drop=0.29, lean=0.0, bounce=0.0, stance=0.05)


@dataclass(frozen=True)
class GeneratorParams:
    """Everything the pixels of a video depend on, besides its split and index."""

    seed: int
    frames: int
    height: int
    width: int
    crowd: float
    noise: float
    anomalies: tuple[str, ...]


@dataclass(frozen=True)
class AnomalyEvent:
    """One anomalous event of a test video: frames ``start`` to ``stop`` (exclusive) are labelled abnormal."""

    kind: str
    start: int
    stop: int


@dataclass
class Scene:
    """The static background and where on it people can walk."""

    background: np.ndarray  # float32 (H, W, 3)
    walk_far: float  # feet y of the farthest walkers
    walk_near: float  # feet y of the nearest walkers

    @property
    def height(self) -> int:
        return self.background.shape[0]

    @property
    def width(self) -> int:
        return self.background.shape[1]

    def person_height(self, feet_y: float) -> float:
        """Apparent height of a person standing at ``feet_y`` (perspective: nearer is bigger)."""
        depth = (feet_y - self.walk_far) / (self.walk_near - self.walk_far)
        return self.height * (0.16 + 0.11 * depth)


def _rng(params: GeneratorParams, stream: int, split: str = "", index: int = 0) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([params.seed, stream, _SPLIT_CODE.get(split, 0), index]))


# ---------------------------------------------------------------------------------------------------------------
# Drawing primitives. An extent is (x_min, y_min, x_max, y_max): a shape covers no pixel centre outside it.


def _capsule_coverage(caps: np.ndarray, x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
    """Anti-aliased coverage (K, y1-y0, x1-x0) of K capsules given as rows (ax, ay, bx, by, radius)."""
    px = np.arange(x0, x1, dtype=np.float32)[None, None, :]
    py = np.arange(y0, y1, dtype=np.float32)[None, :, None]
    ax, ay, bx, by, radius = (caps[:, i, None, None] for i in range(5))
    dx, dy = bx - ax, by - ay
    length2 = np.maximum(dx * dx + dy * dy, np.float32(1e-6))
    t = np.clip(((px - ax) * dx + (py - ay) * dy) / length2, 0.0, 1.0)
    ex, ey = ax + t * dx - px, ay + t * dy - py
    return np.clip(radius + np.float32(0.5) - np.sqrt(ex * ex + ey * ey), 0.0, 1.0)


def capsule_extents(caps: np.ndarray) -> np.ndarray:
    """Extents (..., 4) of capsule sets (..., K, 5)."""
    reach = caps[..., 4] + 0.5
    x_lo = np.minimum(caps[..., 0], caps[..., 2]) - reach
    x_hi = np.maximum(caps[..., 0], caps[..., 2]) + reach
    y_lo = np.minimum(caps[..., 1], caps[..., 3]) - reach
    y_hi = np.maximum(caps[..., 1], caps[..., 3]) + reach
    return np.stack([x_lo.min(-1), y_lo.min(-1), x_hi.max(-1), y_hi.max(-1)], axis=-1).astype(np.float64)


def _window(extent, height: int, width: int) -> tuple[int, int, int, int] | None:
    """The pixel window [x0, x1) x [y0, y1) of the pixel centres strictly inside ``extent``, None if empty."""
    x0, y0 = max(math.floor(extent[0]) + 1, 0), max(math.floor(extent[1]) + 1, 0)
    x1, y1 = min(math.ceil(extent[2]), width), min(math.ceil(extent[3]), height)
    if x0 >= x1 or y0 >= y1:
        return None
    return x0, y0, x1, y1


def reaches_frame(extents: np.ndarray, height: int, width: int) -> np.ndarray:
    """Whether each extent (..., 4) holds a pixel centre of the frame: the same test ``_window`` applies."""
    x0 = np.maximum(np.floor(extents[..., 0]) + 1, 0)
    y0 = np.maximum(np.floor(extents[..., 1]) + 1, 0)
    x1 = np.minimum(np.ceil(extents[..., 2]), width)
    y1 = np.minimum(np.ceil(extents[..., 3]), height)
    return (x0 < x1) & (y0 < y1)


def paint_capsules(img: np.ndarray, caps: np.ndarray, colours: np.ndarray, extent) -> None:
    """Paint capsules (K, 5) back to front onto float32 ``img`` (H, W, 3); ``extent`` is theirs.

    Pixels the capsules do not cover are left bit-for-bit unchanged.
    """
    window = _window(extent, img.shape[0], img.shape[1])
    if window is None:
        return
    x0, y0, x1, y1 = window
    coverage = _capsule_coverage(caps, x0, y0, x1, y1)
    # Compositing K layers "over" each other in one go: layer k shows through the layers above it.
    seen_through = np.cumprod((1.0 - coverage)[::-1], axis=0)[::-1]  # [k]: product over layers k..K-1
    above = np.concatenate([seen_through[1:], np.ones_like(seen_through[:1])])
    weights = coverage * above
    patch = img[y0:y1, x0:x1]
    patch *= seen_through[0][..., None]
    patch += np.tensordot(weights, colours, axes=([0], [0]))


def shadow_extent(cx, cy, rx, ry):
    """Extent of the soft shadow ``_paint_shadow`` draws (its edge is one pixel wide); works on arrays too."""
    reach = 1.0 + 0.5 / ry
    return cx - rx * reach, cy - ry * reach, cx + rx * reach, cy + ry * reach


def _paint_shadow(img: np.ndarray, cx: float, cy: float, rx: float, ry: float, strength: float) -> None:
    window = _window(shadow_extent(cx, cy, rx, ry), img.shape[0], img.shape[1])
    if window is None:
        return
    x0, y0, x1, y1 = window
    gx = (np.arange(x0, x1, dtype=np.float32)[None, :] - np.float32(cx)) / np.float32(rx)
    gy = (np.arange(y0, y1, dtype=np.float32)[:, None] - np.float32(cy)) / np.float32(ry)
    coverage = np.clip((1.0 - np.sqrt(gx * gx + gy * gy)) * np.float32(ry) + np.float32(0.5), 0.0, 1.0)
    img[y0:y1, x0:x1] *= (1.0 - np.float32(strength) * coverage)[..., None]


def _fill_rect(img: np.ndarray, x0: float, y0: float, x1: float, y1: float, colour, alpha: float = 1.0) -> None:
    h, w = img.shape[:2]
    i0, i1 = max(int(round(y0)), 0), min(int(round(y1)), h)
    j0, j1 = max(int(round(x0)), 0), min(int(round(x1)), w)
    if i0 < i1 and j0 < j1:
        img[i0:i1, j0:j1] += alpha * (np.asarray(colour, dtype=np.float32) - img[i0:i1, j0:j1])


# ---------------------------------------------------------------------------------------------------------------
# The scene


def build_scene(params: GeneratorParams) -> Scene:
    """A walkway seen from the front and above: a building front with windows, a door, benches and pillars at the
    back; paving with seams in perspective; a kerb and a strip of grass at the bottom; some grime on everything."""
    h, w = params.height, params.width
    rng = _rng(params, _STREAM_SCENE)
    img = np.zeros((h, w, 3), dtype=np.float32)
    rows = np.arange(h, dtype=np.float32)[:, None, None]
    wall_base = 0.30 * h
    kerb = 0.93 * h

    tint = rng.uniform(-8, 8, size=3).astype(np.float32)
    wall = np.array([118, 108, 98], dtype=np.float32) + tint
    img[:] = wall * (0.80 + 0.20 * rows / wall_base)

    pitch = w / rng.integers(5, 8)
    for k in range(int(w / pitch) + 1):
        left = k * pitch + 0.18 * pitch
        _fill_rect(img, left - 1, 0.04 * h - 1, left + 0.64 * pitch + 1, 0.17 * h + 1, (175, 170, 160))
        _fill_rect(img, left, 0.04 * h, left + 0.64 * pitch, 0.17 * h, (52, 62, 74))
        _fill_rect(img, left, 0.04 * h, left + 0.64 * pitch, 0.07 * h, (80, 92, 104))  # sky reflection
    door = rng.uniform(0.2, 0.7) * w
    _fill_rect(img, door, 0.15 * h, door + 0.12 * w, wall_base, (40, 38, 36))
    _fill_rect(img, 0, wall_base - 0.025 * h, w, wall_base, (92, 86, 80))  # plinth

    # Paving: lighter far away, darker near, with seams converging on a vanishing point above the image.
    paving = (rows >= wall_base) & (rows < kerb)
    depth = np.clip((rows - wall_base) / (kerb - wall_base), 0, 1)
    stone = np.array([168, 162, 150], dtype=np.float32) + tint * 0.5
    img = np.where(paving, stone * (1.04 - 0.16 * depth), img).astype(np.float32)
    vanish_x, vanish_y = (0.5 + rng.uniform(-0.1, 0.1)) * w, -0.9 * h
    seams = [(-2, wall_base + (kerb - wall_base) * (k / 9) ** 1.5, w + 2,
              wall_base + (kerb - wall_base) * (k / 9) ** 1.5, 0.35) for k in range(1, 9)]
    towards_top = (wall_base - vanish_y) / (kerb - vanish_y)
    for k in range(-6, 13):
        bottom_x = k * w / 6
        seams.append((vanish_x + (bottom_x - vanish_x) * towards_top, wall_base, bottom_x, kerb, 0.35))
    coverage = _capsule_coverage(np.array(seams, dtype=np.float32), 0, int(wall_base), w, int(kerb)).max(axis=0)
    img[int(wall_base):int(kerb)] *= 1.0 - 0.18 * coverage[..., None]

    _fill_rect(img, 0, kerb, w, kerb + 0.02 * h, (196, 192, 184))
    _fill_rect(img, 0, kerb + 0.02 * h, w, h, (70, 96, 58))

    # Benches against the wall, then pillars in front of it, lit from the left.
    for _ in range(2):
        bx = rng.uniform(0.05, 0.8) * w
        seat_y = wall_base + 0.01 * h
        _fill_rect(img, bx, seat_y - 0.05 * h, bx + 0.14 * w, seat_y - 0.035 * h, (104, 74, 50))  # backrest
        _fill_rect(img, bx, seat_y - 0.02 * h, bx + 0.14 * w, seat_y, (122, 88, 60))  # seat
        for leg in (bx + 0.01 * w, bx + 0.12 * w):
            _fill_rect(img, leg, seat_y, leg + 0.012 * w, seat_y + 0.03 * h, (50, 44, 40))
    n_pillars = int(rng.integers(3, 5))
    pillar_w = 0.05 * w
    spacing = w / n_pillars
    shade = np.linspace(1.08, 0.72, max(int(round(pillar_w)), 1), dtype=np.float32)[None, :, None]
    for k in range(n_pillars):
        px = int(round((k + 0.5) * spacing + rng.uniform(-0.2, 0.2) * spacing - pillar_w / 2))
        j0, j1 = max(px, 0), min(px + shade.shape[1], w)
        if j0 < j1:
            img[: int(wall_base + 0.03 * h), j0:j1] = np.array([178, 172, 164], np.float32) * shade[:, j0 - px:j1 - px]
        _fill_rect(img, px + pillar_w, wall_base, px + 2.2 * pillar_w, wall_base + 0.03 * h, (120, 114, 104), 0.5)

    # Grime: a smooth random field, bilinearly upsampled from a coarse grid.
    coarse = rng.normal(0, 1, size=(h // 8 + 2, w // 8 + 2)).astype(np.float32)
    grid_y = np.linspace(0, coarse.shape[0] - 1.001, h)
    grid_x = np.linspace(0, coarse.shape[1] - 1.001, w)
    iy, ix = grid_y.astype(int), grid_x.astype(int)
    fy, fx = (grid_y - iy)[:, None].astype(np.float32), (grid_x - ix)[None, :].astype(np.float32)
    grime = ((coarse[iy][:, ix] * (1 - fx) + coarse[iy][:, ix + 1] * fx) * (1 - fy)
             + (coarse[iy + 1][:, ix] * (1 - fx) + coarse[iy + 1][:, ix + 1] * fx) * fy)
    img += 5.0 * grime[..., None]
    return Scene(np.clip(img, 0, 255).astype(np.float32), walk_far=0.38 * h, walk_near=0.90 * h)


# ---------------------------------------------------------------------------------------------------------------
# People


_SHIRTS = np.array([[180, 40, 40], [40, 70, 150], [230, 230, 225], [30, 30, 34], [90, 130, 70], [200, 160, 60],
                    [120, 60, 130], [150, 150, 155], [210, 110, 50], [60, 150, 170]], dtype=np.float32)
_TROUSERS = np.array([[40, 50, 80], [30, 30, 32], [90, 90, 95], [150, 130, 95], [60, 45, 35]], dtype=np.float32)
_SKINS = np.array([[235, 200, 170], [200, 150, 115], [150, 105, 75], [95, 65, 45]], dtype=np.float32)
_HAIR = np.array([[25, 20, 18], [80, 55, 35], [170, 140, 90], [120, 120, 120]], dtype=np.float32)
_FAR_SIDE_SHADE = 0.75


def _random_look(rng: np.random.Generator) -> np.ndarray:
    """The colours (9, 3) of a figure's capsules, in the order ``_figure_capsules`` draws them."""
    shirt = np.clip(_SHIRTS[rng.integers(len(_SHIRTS))] * rng.uniform(0.85, 1.1), 0, 255)
    trousers = _TROUSERS[rng.integers(len(_TROUSERS))]
    skin, hair = _SKINS[rng.integers(len(_SKINS))], _HAIR[rng.integers(len(_HAIR))]
    far_shirt, far_trousers = shirt * _FAR_SIDE_SHADE, trousers * _FAR_SIDE_SHADE
    return np.stack([far_shirt, far_trousers, far_trousers, shirt, trousers, trousers, shirt, skin, hair]
                    ).astype(np.float32)


@dataclass
class Figure:
    """A person over the frames ``t0 .. t0 + len(x) - 1`` of a video, with one state row per frame."""

    t0: int
    x: np.ndarray  # feet position
    y: np.ndarray
    facing: np.ndarray  # +1 walking right, -1 walking left
    phase: np.ndarray  # gait phase in radians
    gait: np.ndarray  # (T, 7): Gait.row() per frame (a loiterer switches gaits)
    height: float
    colours: np.ndarray  # (9, 3)
    #: Index into the plan's events when this figure is an event's actor; None for the normal crowd.
    event: int | None = None
    capsules: np.ndarray = field(init=False, repr=False)  # (T, 9, 5) float32
    body_extents: np.ndarray = field(init=False, repr=False)  # (T, 4)
    extents: np.ndarray = field(init=False, repr=False)  # (T, 4), shadow included

    def __post_init__(self):
        self.capsules = _figure_capsules(self)
        self.body_extents = body = capsule_extents(self.capsules)
        sx0, sy0, sx1, sy1 = shadow_extent(*self.shadow())
        self.extents = np.stack([np.minimum(body[:, 0], sx0), np.minimum(body[:, 1], sy0),
                                 np.maximum(body[:, 2], sx1), np.maximum(body[:, 3], sy1)], axis=-1)

    def active(self, t: int) -> bool:
        return self.t0 <= t < self.t0 + len(self.x)

    def shadow(self):
        """Centre (per frame) and radii of the soft shadow under the feet, the light being from the upper left."""
        h = self.height
        return self.x + 0.06 * h, self.y + 0.01 * h, 0.22 * h, 0.045 * h


def _figure_capsules(fig: Figure) -> np.ndarray:
    """Capsules (T, 9, 5) of a figure on each of its frames: far arm, far leg (thigh, shin), torso, near leg,
    near arm, head, hair. Legs alternate with the gait phase; the arms swing against the legs."""
    h = fig.height
    x, y, facing, phase = fig.x, fig.y, fig.facing, fig.phase
    leg_swing, foot_lift, arm_swing, arm_drop, lean, bounce, stance = (fig.gait[:, i] * h for i in range(7))
    sin, cos = np.sin(phase), np.cos(phase)
    lift = -bounce * np.abs(sin)
    hip_x, hip_y = x, y - 0.50 * h + lift
    neck_x, neck_y = x + facing * lean, y - 0.79 * h + lift
    head_x, head_y = x + facing * lean * 1.2, y - 0.90 * h + lift
    ones = np.ones_like(x)

    def capsule(ax, ay, bx, by, radius):
        return np.stack([ax, ay, bx, by, radius * ones], axis=-1)

    limbs = {}
    for side in (-1.0, 1.0):  # -1: the far side
        swing = side * sin
        raised = foot_lift * np.maximum(0.0, side * cos)  # the foot swinging forward is off the ground
        foot_x, foot_y = x + facing * (leg_swing * swing + side * stance), y - raised
        bend = 0.02 * h + 0.6 * raised
        knee_x, knee_y = (hip_x + foot_x) / 2 + facing * bend, (hip_y + foot_y) / 2
        shoulder_x, shoulder_y = neck_x, neck_y + 0.03 * h
        hand_x, hand_y = shoulder_x - facing * arm_swing * swing, shoulder_y + arm_drop
        limbs[side] = [capsule(shoulder_x, shoulder_y, hand_x, hand_y, 0.035 * h),
                       capsule(hip_x, hip_y, knee_x, knee_y, 0.055 * h),
                       capsule(knee_x, knee_y, foot_x, foot_y, 0.045 * h)]
    hair_x, hair_y = head_x - facing * 0.02 * h, head_y - 0.035 * h
    parts = [*limbs[-1.0], capsule(neck_x, neck_y, hip_x, hip_y, 0.10 * h), limbs[1.0][1], limbs[1.0][2],
             limbs[1.0][0], capsule(head_x, head_y, head_x, head_y, 0.085 * h),
             capsule(hair_x, hair_y, hair_x, hair_y, 0.06 * h)]
    return np.stack(parts, axis=1).astype(np.float32)


def _crossing_figure(rng: np.random.Generator, scene: Scene, t_enter: float, n_frames: int, facing: float,
                     speed_factor: float, gait: Gait, cycle: float, event: int | None = None,
                     feet_y: float | None = None) -> Figure | None:
    """A figure crossing the whole frame at constant speed, entering at time ``t_enter`` (possibly before frame 0)
    at ``feet_y`` (random when None); None when it is not in view during the video."""
    if feet_y is None:
        feet_y = rng.uniform(scene.walk_far, scene.walk_near)
    h = scene.person_height(feet_y)
    speed = WALK_SPEED_PER_HEIGHT * h * speed_factor
    margin = ENTRY_MARGIN * h
    t_exit = t_enter + (scene.width + 2 * margin) / speed
    colours = _random_look(rng)
    phase0 = rng.uniform(0, 2 * math.pi)
    first, last = max(math.ceil(t_enter), 0), min(math.floor(t_exit), n_frames - 1)
    if first > last:
        return None
    distance = speed * (np.arange(first, last + 1, dtype=np.float64) - t_enter)
    x = -margin + distance if facing > 0 else scene.width - 1 + margin - distance
    n = len(x)
    return Figure(t0=first, x=x, y=np.full(n, feet_y), facing=np.full(n, facing),
                  phase=phase0 + 2 * math.pi * distance / (cycle * h), gait=np.tile(gait.row(), (n, 1)), height=h,
                  colours=colours, event=event)


def plan_crowd(params: GeneratorParams, scene: Scene, split: str, index: int) -> list[Figure]:
    """The normal crowd: people walking left to right at walking speed (+-15%), alone or in groups of two or three.

    Arrivals are bursty, as at a station exit: a Poisson process whose rate drifts slowly (a random smooth
    function, from about x0.35 to x2.5 of its mean). So the number of people in view varies a lot in normal footage
    too, and one extra person (an anomaly's actor) is not much of a give-away. Arrivals start one crossing before
    frame 0, so that the first frame is as busy as the rest.
    """
    rng = _rng(params, _STREAM_CROWD, split, index)
    if params.crowd <= 0:
        return []
    # Frames a walker spends in view (with about half a body height of arms and shadow reaching out), averaged
    # over depths: so that `crowd` is the mean number of people actually in view.
    heights = np.array([scene.person_height(y) for y in np.linspace(scene.walk_far, scene.walk_near, 33)])
    mean_crossing = float(np.mean((scene.width + 0.5 * heights) / (WALK_SPEED_PER_HEIGHT * heights)))
    slowest = WALK_SPEED_PER_HEIGHT * scene.person_height(scene.walk_far) * 0.85
    warm_up = (scene.width + 2 * ENTRY_MARGIN * scene.person_height(scene.walk_near)) / slowest
    group_sizes, group_odds = np.array([1, 2, 3]), np.array([0.75, 0.20, 0.05])
    mean_rate = params.crowd / mean_crossing / float(group_sizes @ group_odds)  # groups per frame
    periods = rng.uniform(100, 500, size=3)
    offsets = rng.uniform(0, 2 * math.pi, size=3)
    # The log of the rate factor is a sum of three sinusoids scaled to a standard deviation of BURSTINESS.
    amplitude = BURSTINESS * math.sqrt(2 / 3)

    def rate_factor(t: float) -> float:
        return math.exp(amplitude * float(np.sin(2 * math.pi * t / periods + offsets).sum()) - BURSTINESS ** 2 / 2)

    peak = math.exp(3 * amplitude - BURSTINESS ** 2 / 2)
    figures = []
    t = -warm_up
    while True:
        t += rng.exponential(1 / (mean_rate * peak))
        if t >= params.frames:
            break
        if rng.uniform() * peak > rate_factor(t):  # thinning: keeps arrivals at the current rate
            continue
        size = int(rng.choice(group_sizes, p=group_odds))
        speed_factor = rng.uniform(0.85, 1.15)
        depth = rng.uniform(scene.walk_far, scene.walk_near)
        for member in range(size):
            # Walking together: the same pace, side by side or one just behind the other.
            feet_y = float(np.clip(depth + rng.normal(0, 0.04) * scene.height, scene.walk_far, scene.walk_near))
            fig = _crossing_figure(rng, scene, t + member * rng.uniform(0, 12), params.frames, +1.0,
                                   speed_factor * rng.uniform(0.98, 1.02), WALK, WALK_CYCLE_PER_HEIGHT,
                                   feet_y=feet_y)
            if fig is not None:
                figures.append(fig)
    return figures


# ---------------------------------------------------------------------------------------------------------------
# Anomalous events. Each planner returns (figures, projectiles, labelled frames) or None when it cannot be placed.


@dataclass
class Projectile:
    """A small thrown object, with its centre per frame over ``t0 .. t0 + len(x) - 1``."""

    t0: int
    x: np.ndarray
    y: np.ndarray
    radius: float
    colour: np.ndarray  # (1, 3)
    event: int
    capsules: np.ndarray = field(init=False, repr=False)  # (T, 1, 5) float32
    extents: np.ndarray = field(init=False, repr=False)  # (T, 4)

    def __post_init__(self):
        discs = np.stack([self.x, self.y, self.x, self.y, np.full(len(self.x), self.radius)], axis=-1)
        self.capsules = discs[:, None, :].astype(np.float32)
        self.extents = capsule_extents(self.capsules)

    def active(self, t: int) -> bool:
        return self.t0 <= t < self.t0 + len(self.x)


def _frames_in_view(t0: int, extents: np.ndarray, scene: Scene) -> np.ndarray:
    return t0 + np.flatnonzero(reaches_frame(extents, scene.height, scene.width))


def _plan_runner(rng, scene, params, event_index, crowd):
    """Someone running the normal way at 3-4x walking speed, with a longer stride and a forward lean."""
    crossing = scene.width / (WALK_SPEED_PER_HEIGHT * scene.person_height(scene.walk_far) * 3.0)
    t_enter = rng.uniform(-0.6 * crossing, params.frames - MIN_EVENT_FRAMES)
    fig = _crossing_figure(rng, scene, t_enter, params.frames, +1.0, rng.uniform(3.0, 4.0), RUN,
                           RUN_CYCLE_PER_HEIGHT, event=event_index)
    if fig is None:
        return None
    return [fig], [], _frames_in_view(fig.t0, fig.extents, scene)


def _plan_wrong_way(rng, scene, params, event_index, crowd):
    """Someone walking at normal speed against the flow (right to left)."""
    crossing = scene.width / (WALK_SPEED_PER_HEIGHT * scene.person_height(scene.walk_far))
    t_enter = rng.uniform(-crossing, params.frames - MIN_EVENT_FRAMES)
    fig = _crossing_figure(rng, scene, t_enter, params.frames, -1.0, rng.uniform(0.85, 1.15), WALK,
                           WALK_CYCLE_PER_HEIGHT, event=event_index)
    if fig is None:
        return None
    return [fig], [], _frames_in_view(fig.t0, fig.extents, scene)


def _plan_loiter(rng, scene, params, event_index, crowd):
    """Someone walks in, stands about (shifting their weight, looking back the way they came) for 40-90 frames,
    then walks on. Only the standing about is abnormal: arriving and leaving look like any walker."""
    feet_y = rng.uniform(scene.walk_far, scene.walk_near)
    h = scene.person_height(feet_y)
    speed = WALK_SPEED_PER_HEIGHT * h * rng.uniform(0.85, 1.15)
    stop_x = rng.uniform(0.25, 0.75) * scene.width
    margin = ENTRY_MARGIN * h
    dwell = int(rng.integers(40, 90))
    t_stop = int(rng.integers(-dwell // 2, params.frames - MIN_EVENT_FRAMES))
    t_enter = t_stop - (stop_x + margin) / speed
    t_leave = t_stop + dwell + (scene.width - 1 + margin - stop_x) / speed
    colours = _random_look(rng)
    phase0 = rng.uniform(0, 2 * math.pi)
    turn_at = int(rng.integers(dwell // 4, 3 * dwell // 4))
    first, last = max(math.ceil(t_enter), 0), min(math.floor(t_leave), params.frames - 1)
    if first > last:
        return None
    t = np.arange(first, last + 1)
    standing = (t >= t_stop) & (t < t_stop + dwell)
    walked = np.where(t < t_stop, speed * (t - t_enter), speed * (t - t_stop - dwell))
    since_stop = t - t_stop
    x = np.where(t < t_stop, -margin + walked,
                 np.where(standing, stop_x + 0.03 * h * np.sin(2 * math.pi * since_stop / 37), stop_x + walked))
    facing = np.where(standing & (since_stop >= turn_at), -1.0, 1.0)
    phase = np.where(standing, 0.0, phase0 + 2 * math.pi * walked / (WALK_CYCLE_PER_HEIGHT * h))
    gait = np.where(standing[:, None], STAND.row(), WALK.row())
    fig = Figure(t0=first, x=x, y=np.full(len(t), feet_y), facing=facing, phase=phase, gait=gait, height=h,
                 colours=colours, event=event_index)
    return [fig], [], t[standing & reaches_frame(fig.extents, scene.height, scene.width)]


def _plan_throw(rng, scene, params, event_index, crowd):
    """A walker of the crowd throws a small object: it flies in a parabola, bounces, and rolls out of view."""
    t_throw = int(rng.integers(0, params.frames - MIN_EVENT_FRAMES))
    throwers = [f for f in crowd if f.active(t_throw) and 0.15 * scene.width < f.x[t_throw - f.t0] < 0.85 * scene.width]
    if not throwers:
        return None
    thrower = throwers[int(rng.integers(len(throwers)))]
    i = t_throw - thrower.t0
    h = thrower.height
    ground = float(thrower.y[i])
    x, y = float(thrower.x[i] + thrower.facing[i] * 0.15 * h), ground - 0.55 * h
    radius = max(1.2, 0.02 * scene.height)
    rise = min(rng.uniform(0.12, 0.30) * scene.height, y - 2 * radius - 1)  # the top of the arc stays in view
    # Thrown towards the farther side, landing first in view (so the whole arc is seen), then bouncing away.
    direction = 1.0 if x < scene.width / 2 else -1.0
    room = scene.width - 1 - x if direction > 0 else x
    vx = direction * rng.uniform(2.5, 4.5) * scene.height / 120
    flight = min(rng.uniform(26, 40), 0.9 * room / abs(vx))  # frames until it first lands
    gravity = ((math.sqrt(2 * rise) + math.sqrt(2 * rise + 2 * (ground - y))) / flight) ** 2
    vy = -math.sqrt(2 * gravity * rise)
    xs, ys = [], []
    for _ in range(params.frames - t_throw):
        xs.append(x)
        ys.append(y)
        if not -radius - 1 < x < scene.width + radius:
            break
        x, y, vy = x + vx, y + vy + gravity / 2, vy + gravity
        if y >= ground:  # bounce, and roll once the bounces die down
            y = ground
            vy = -0.45 * vy if vy > 1.0 else 0.0
    colour = np.array([[235, 215, 40], [220, 40, 40], [245, 245, 245], [20, 20, 20]][int(rng.integers(4))],
                      dtype=np.float32)[None]
    projectile = Projectile(t0=t_throw, x=np.array(xs), y=np.array(ys), radius=radius, colour=colour,
                            event=event_index)
    return [], [projectile], _frames_in_view(t_throw, projectile.extents, scene)


_PLANNERS = {"runner": _plan_runner, "wrong-way": _plan_wrong_way, "loiter": _plan_loiter, "throw": _plan_throw}


@dataclass
class VideoPlan:
    split: str
    index: int
    n_frames: int
    figures: list[Figure]
    projectiles: list[Projectile] = field(default_factory=list)
    events: list[AnomalyEvent] = field(default_factory=list)

    def labels(self) -> np.ndarray:
        labels = np.zeros(self.n_frames, dtype=np.int8)
        for event in self.events:
            labels[event.start:event.stop] = 1
        return labels


def plan_video(params: GeneratorParams, scene: Scene, split: str, index: int) -> VideoPlan:
    """Who is where on every frame of one video, and (on the test split) the anomalous events and their spans.

    Each test video draws a target share of abnormal frames from 20-36%, then adds events until the target is
    about met; the first event is of kind ``anomalies[index % len(anomalies)]``, so that every kind occurs.
    """
    crowd = plan_crowd(params, scene, split, index)
    plan = VideoPlan(split, index, params.frames, crowd)
    if split != "test":
        return plan
    rng = _rng(params, _STREAM_EVENTS, split, index)
    target = rng.uniform(0.20, 0.36) * params.frames
    labelled = 0
    for attempt in range(400):
        if plan.events and labelled >= 0.85 * target:
            break
        # The video's own kind first, unless it cannot be placed (a throw needs a walker in view).
        if not plan.events and attempt < 100:
            kind = params.anomalies[index % len(params.anomalies)]
        else:
            kind = params.anomalies[int(rng.integers(len(params.anomalies)))]
        planned = _PLANNERS[kind](rng, scene, params, len(plan.events), crowd)
        if planned is None:
            continue
        figures, projectiles, frames = planned
        if len(frames) < MIN_EVENT_FRAMES:
            continue
        start, stop = int(frames[0]), int(frames[-1]) + 1
        # One event, one span: an actor that left the view and came back would be two events.
        if stop - start != len(frames) or labelled + stop - start > 1.15 * target:
            continue
        if any(start < e.stop + EVENT_GAP and e.start < stop + EVENT_GAP for e in plan.events):
            continue
        plan.figures += figures
        plan.projectiles += projectiles
        plan.events.append(AnomalyEvent(kind, start, stop))
        labelled += stop - start
    return plan


# ---------------------------------------------------------------------------------------------------------------
# Rendering


def _noise_table(std: float) -> np.ndarray:
    """256 equiprobable Gaussian quantiles: noise is drawn as random bytes and looked up, ~4x faster than normals."""
    normal = NormalDist(0.0, std)
    return np.array([normal.inv_cdf((k + 0.5) / 256) for k in range(256)], dtype=np.float32)


def render_video(plan: VideoPlan, scene: Scene, params: GeneratorParams, out: np.ndarray | None = None,
                 events: set[int] | None = None) -> np.ndarray:
    """Draw every frame of ``plan`` into ``out`` (uint8, (n, H, W, 3); allocated when None) and return it.

    ``events`` limits which events' actors are drawn (None: all of them). The crowd and the sensor noise are the
    same whichever are drawn, so the pixels that differ are exactly those of the events left out.
    """
    n, h, w = plan.n_frames, scene.height, scene.width
    if out is None:
        out = np.empty((n, h, w, 3), dtype=np.uint8)
    # Painter's order: the farther away (higher in the image) first; everyone keeps their distance while in view.
    figures = sorted((f for f in plan.figures if f.event is None or events is None or f.event in events),
                     key=lambda f: f.y[0])
    projectiles = [p for p in plan.projectiles if events is None or p.event in events]
    shadows = {id(f): f.shadow() for f in figures}
    noise_rng = _rng(params, _STREAM_NOISE, plan.split, plan.index)
    noise_table = _noise_table(params.noise) if params.noise > 0 else None
    batch = np.empty((_BATCH, h, w, 3), dtype=np.float32)
    for start in range(0, n, _BATCH):
        stop = min(start + _BATCH, n)
        for t in range(start, stop):
            frame = batch[t - start]
            frame[:] = scene.background
            in_view = [f for f in figures if f.active(t)]
            for fig in in_view:  # shadows first: nobody's shadow falls on someone else
                cx, cy, rx, ry = shadows[id(fig)]
                i = t - fig.t0
                _paint_shadow(frame, cx[i], cy[i], rx, ry, strength=0.35)
            for fig in in_view:
                i = t - fig.t0
                paint_capsules(frame, fig.capsules[i], fig.colours, fig.body_extents[i])
            # A thrown object is in the air, above everyone.
            for proj in projectiles:
                if proj.active(t):
                    paint_capsules(frame, proj.capsules[t - proj.t0], proj.colour, proj.extents[t - proj.t0])
        frames = batch[:stop - start]
        if noise_table is not None:
            noise_bytes = np.frombuffer(noise_rng.bytes(frames.size), dtype=np.uint8).reshape(frames.shape)
            frames += np.take(noise_table, noise_bytes)
        np.clip(frames, 0, 255, out=frames)
        np.rint(frames, out=frames)
        out[start:stop] = frames
    return out
