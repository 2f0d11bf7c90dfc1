"""The skeleton LSTM-VAE paper's skeleton maps: the main person's BODY_25 limbs drawn white on black, a square crop
centred on the neck, shrunk to 28x28 with bilinear interpolation, and binarised to 0/255.

The crop is a square whose side is the frame height, i.e. the skeleton LSTM-VAE paper's 480x480 on its 640x480 videos;
it is drawn on a 480x480 canvas whatever the video size, so that line width and threshold mean the same on any footage.
Where the crop reaches past the frame's edge it is background (black), as if the frame had been padded before cropping.

Surviving the 17x shrink (480 -> 28): OpenPose's own renderings at 640x480 use lines about 3 px wide, and a plain
bilinear resize (OpenCV's INTER_LINEAR) reads only the 2x2 source pixels around each of the 28x28 sample points,
one pixel in 17 along each axis, so thin limbs fall between the samples and vanish. Here the resize is bilinear
with antialiasing (Pillow's, like ``torch.nn.functional.interpolate(..., antialias=True)``): each map pixel is a
tent-weighted mean over +-17 canvas pixels, so every limb contributes in proportion to its width. Measured over
1,500 random positions and angles each, a 10 px line leaves at least 61 grey levels on its brightest map pixel
for limbs of 20 px or more (one map pixel is 17 px; 57 for such a limb, 52 for one of 12 px), so a threshold of
32 keeps every limb with a margin of almost two; it draws a long limb as a connected line 1.0 to 2.1 map pixels
wide (1.6 on average), thin enough for the arms to stay apart from the body. Face and foot limbs (8-15 px on a
worker 250 px tall) merge with the head and the ankles, as they would at any width. ``tests/test_skeleton.py``
holds these numbers to account.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from bench_core.views import SKELETON_MAP_SIZE

from anobench_formats.openpose import BODY_25_LIMBS
from anobench_industrial.tracking import DEFAULT_MIN_CONFIDENCE, Track

#: The canvas the crop is drawn on: the skeleton LSTM-VAE paper's 480x480 crop of a 640x480 frame.
CANVAS = 480
#: The map side (the skeleton LSTM-VAE paper's 28x28), the size every detector reads the skeleton view at.
MAP_SIZE = SKELETON_MAP_SIZE
#: Limb width on the 480 px canvas, in pixels (see the module docstring for why).
DEFAULT_LINE_WIDTH = 10
#: Grey level above which a map pixel is set (0-255).
DEFAULT_THRESHOLD = 32


class SkeletonRenderer:
    """Draws skeleton maps for the frames of one video size."""

    def __init__(self, frame_width: int, frame_height: int, line_width: int = DEFAULT_LINE_WIDTH,
                 threshold: int = DEFAULT_THRESHOLD, min_confidence: float = DEFAULT_MIN_CONFIDENCE):
        if line_width < 1 or not 0 <= threshold < 255:
            raise ValueError(f"line_width must be >= 1 and threshold within 0-254, not {line_width}, {threshold}")
        self.frame_width, self.frame_height = frame_width, frame_height
        #: Canvas pixels per video pixel: the crop side is the frame height.
        self.scale = CANVAS / frame_height
        self.line_width = int(line_width)
        self.threshold = int(threshold)
        self.min_confidence = min_confidence
        self._lookup = np.where(np.arange(256) > self.threshold, 255, 0).astype(np.uint8)

    def canvas(self, pose: np.ndarray, centre: np.ndarray) -> Image.Image:
        """The 480x480 crop centred on ``centre`` (video pixels) with ``pose``'s limbs drawn, before shrinking."""
        image = Image.new("L", (CANVAS, CANVAS), 0)
        draw = ImageDraw.Draw(image)
        offset = CANVAS / 2 - np.asarray(centre, np.float64) * self.scale
        points = pose[:, :2].astype(np.float64) * self.scale + offset
        present = pose[:, 2] > self.min_confidence
        xy = [tuple(p) for p in points.tolist()]
        for a, b in BODY_25_LIMBS:
            if present[a] and present[b]:
                draw.line((xy[a], xy[b]), fill=255, width=self.line_width)
        # Round joints, as OpenPose draws them: limbs meet without notches, and short limbs keep their ends.
        radius = self.line_width / 2
        for index in np.flatnonzero(present):
            x, y = xy[index]
            draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=255)
        # Whatever lies outside the frame is background (padding), even where a limb was drawn past the edge. A
        # canvas pixel is inside when its centre is: columns first_x..end_x-1 and rows first_y..end_y-1.
        first_x, first_y = np.ceil(offset - 0.5).astype(int)
        end_x, end_y = np.ceil(offset + np.array([self.frame_width, self.frame_height]) * self.scale - 0.5).astype(int)
        for x0, y0, x1, y1 in ((0, 0, first_x, CANVAS), (end_x, 0, CANVAS, CANVAS), (0, 0, CANVAS, first_y),
                               (0, end_y, CANVAS, CANVAS)):
            x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, CANVAS), min(y1, CANVAS)
            if x1 > x0 and y1 > y0:
                draw.rectangle((x0, y0, x1 - 1, y1 - 1), fill=0)
        return image

    def render(self, pose: np.ndarray, centre: np.ndarray) -> np.ndarray:
        """One 28x28 uint8 map, 0 or 255."""
        shrunk = self.canvas(pose, centre).resize((MAP_SIZE, MAP_SIZE), Image.BILINEAR)
        return self._lookup[np.asarray(shrunk)]

    def render_track(self, track: Track, start: int, stop: int) -> np.ndarray:
        """Frames ``start:stop`` of a tracked video as uint8 (n, 28, 28, 1); frames without a person are blank."""
        maps = np.zeros((stop - start, MAP_SIZE, MAP_SIZE, 1), np.uint8)
        for i in range(start, stop):
            if track.found[i]:
                maps[i - start, :, :, 0] = self.render(track.poses[i], track.centres[i])
        return maps
