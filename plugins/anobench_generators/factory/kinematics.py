"""A 3D stick body with BODY_25's joints, posed by a handful of angles, and the camera of the skeleton LSTM-VAE paper's
set-up.

Lengths are fractions of the body height (Winter's anthropometric tables, rounded). A pose is a vector of
``POSE_FIELDS``: where the person stands on the floor (metres), which way they face (yaw: 0 faces the camera,
+90 degrees faces the right of the picture), how the torso bends (pitch forward, roll to the person's left), the
head's pitch, each arm (flexion forward from hanging, abduction outward, elbow flexion) and each leg (hip flexion
forward, knee flexion backward). The feet rest on the floor: the hip height follows from the straighter leg.

The camera hangs 2.7 m above the floor (as in the skeleton LSTM-VAE paper), tilted 15 degrees down, with a focal length
of 1.62 frame heights: a 1.7 m worker 5 m away is about 235 px tall in a 480 px frame, feet near the bottom.
"""

from __future__ import annotations

import numpy as np

from anobench_formats.openpose import JOINT, N_JOINTS

POSE_FIELDS = (
    "x", "z", "yaw", "pitch", "roll", "head_pitch",
    "r_flex", "r_abd", "r_elbow", "l_flex", "l_abd", "l_elbow",
    "r_hip", "r_knee", "l_hip", "l_knee",
)
F = {name: index for index, name in enumerate(POSE_FIELDS)}
N_FIELDS = len(POSE_FIELDS)

CAMERA_HEIGHT = 2.7
CAMERA_TILT = np.radians(15.0)
FOCAL = 1.62  # in frame heights

UPPER_ARM, FOREARM = 0.186, 0.146
THIGH, SHANK = 0.245, 0.246
TORSO = 0.29
HALF_SHOULDERS, HALF_HIPS = 0.115, 0.055
ANKLE_HEIGHT = 0.039
_UP = np.array([0.0, 1.0, 0.0])


def neutral_pose(x: float = 0.0, z: float = 5.0, yaw: float = 0.0) -> np.ndarray:
    pose = np.zeros(N_FIELDS)
    pose[F["x"]], pose[F["z"]], pose[F["yaw"]] = x, z, yaw
    pose[F["r_elbow"]] = pose[F["l_elbow"]] = np.radians(8)
    pose[F["r_abd"]] = pose[F["l_abd"]] = np.radians(6)
    pose[F["r_knee"]] = pose[F["l_knee"]] = np.radians(3)
    return pose


def joints_3d(pose: np.ndarray, height: float) -> np.ndarray:
    """World coordinates (25, 3) in metres: x to the right of the picture, y up, z away from the camera."""
    p = pose
    yaw = p[F["yaw"]]
    forward = np.array([np.sin(yaw), 0.0, -np.cos(yaw)])
    left = np.array([np.cos(yaw), 0.0, np.sin(yaw)])
    up = _UP
    out = np.zeros((N_JOINTS, 3))

    def leg_drop(hip, knee):
        return THIGH * np.cos(hip) + SHANK * np.cos(hip - knee)

    hip_height = height * (ANKLE_HEIGHT + max(leg_drop(p[F["r_hip"]], p[F["r_knee"]]),
                                              leg_drop(p[F["l_hip"]], p[F["l_knee"]])))
    root = np.array([p[F["x"]], hip_height, p[F["z"]]])
    out[JOINT["MidHip"]] = root

    for side, sign in (("R", -1.0), ("L", 1.0)):
        s = side.lower()
        hip = root + sign * left * HALF_HIPS * height
        thigh_angle, shank_angle = p[F[f"{s}_hip"]], p[F[f"{s}_hip"]] - p[F[f"{s}_knee"]]
        knee = hip + height * THIGH * (-up * np.cos(thigh_angle) + forward * np.sin(thigh_angle))
        ankle = knee + height * SHANK * (-up * np.cos(shank_angle) + forward * np.sin(shank_angle))
        out[JOINT[f"{side}Hip"]], out[JOINT[f"{side}Knee"]], out[JOINT[f"{side}Ankle"]] = hip, knee, ankle
        out[JOINT[f"{side}Heel"]] = ankle + height * (-0.04 * forward - 0.03 * up)
        big_toe = ankle + height * (0.12 * forward - 0.035 * up - 0.01 * sign * left)
        out[JOINT[f"{side}BigToe"]] = big_toe
        out[JOINT[f"{side}SmallToe"]] = big_toe + height * (-0.025 * forward + 0.03 * sign * left)

    pitch, roll = p[F["pitch"]], p[F["roll"]]
    torso_up = up * np.cos(pitch) + forward * np.sin(pitch)
    torso_forward = forward * np.cos(pitch) - up * np.sin(pitch)
    torso_up, torso_left = torso_up * np.cos(roll) + left * np.sin(roll), left * np.cos(roll) - torso_up * np.sin(roll)
    neck = root + torso_up * TORSO * height
    out[JOINT["Neck"]] = neck

    head_pitch = p[F["head_pitch"]]
    head_up = torso_up * np.cos(head_pitch) + torso_forward * np.sin(head_pitch)
    head_forward = torso_forward * np.cos(head_pitch) - torso_up * np.sin(head_pitch)
    nose = neck + height * (0.085 * head_up + 0.055 * head_forward)
    out[JOINT["Nose"]] = nose
    for side, sign in (("R", -1.0), ("L", 1.0)):
        out[JOINT[f"{side}Eye"]] = nose + height * (0.025 * head_up + 0.02 * sign * torso_left - 0.012 * head_forward)
        out[JOINT[f"{side}Ear"]] = neck + height * (0.09 * head_up + 0.045 * sign * torso_left - 0.01 * head_forward)

    for side, sign in (("R", -1.0), ("L", 1.0)):
        s = side.lower()
        shoulder = neck + sign * torso_left * HALF_SHOULDERS * height
        flex, abd, elbow = p[F[f"{s}_flex"]], p[F[f"{s}_abd"]], p[F[f"{s}_elbow"]]
        outward = sign * torso_left
        upper = (-torso_up * np.cos(flex) + torso_forward * np.sin(flex)) * np.cos(abd) + outward * np.sin(abd)
        lower = ((-torso_up * np.cos(flex + elbow) + torso_forward * np.sin(flex + elbow)) * np.cos(abd)
                 + outward * np.sin(abd))
        elbow_point = shoulder + height * UPPER_ARM * upper
        out[JOINT[f"{side}Shoulder"]] = shoulder
        out[JOINT[f"{side}Elbow"]] = elbow_point
        out[JOINT[f"{side}Wrist"]] = elbow_point + height * FOREARM * lower
    return out


class Camera:
    """A pinhole camera CAMERA_HEIGHT above the floor at x = z = 0, looking along +z, tilted down."""

    def __init__(self, width: int, height: int):
        self.width, self.height = width, height
        self.focal = FOCAL * height
        self._forward = np.array([0.0, -np.sin(CAMERA_TILT), np.cos(CAMERA_TILT)])
        self._down = np.array([0.0, -np.cos(CAMERA_TILT), -np.sin(CAMERA_TILT)])

    def project(self, points: np.ndarray) -> np.ndarray:
        """Pixel coordinates (..., 2) of world points (..., 3)."""
        relative = np.asarray(points, np.float64) - np.array([0.0, CAMERA_HEIGHT, 0.0])
        depth = relative @ self._forward
        u = self.width / 2 + self.focal * relative[..., 0] / depth
        v = self.height / 2 + self.focal * (relative @ self._down) / depth
        return np.stack([u, v], axis=-1)

    def pixels_per_metre(self, point: np.ndarray) -> float:
        relative = np.asarray(point, np.float64) - np.array([0.0, CAMERA_HEIGHT, 0.0])
        return float(self.focal / (relative @ self._forward))

    def visible_x(self, z: float) -> float:
        """Half the width of floor seen at depth ``z``, in metres."""
        relative = np.array([0.0, -CAMERA_HEIGHT, z])
        return float(self.width / 2 * (relative @ self._forward) / self.focal)
