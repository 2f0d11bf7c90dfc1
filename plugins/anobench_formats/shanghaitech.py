"""ShanghaiTech Campus's layout, as the ``shanghaitech`` loader reads it and its generator writes it."""

TRAIN_VIDEOS = "training/videos"
TRAIN_FRAMES = "training/frames"
TEST_FRAMES = "testing/frames"
FRAME_MASKS = "testing/test_frame_mask"
PIXEL_MASKS = "testing/test_pixel_mask"
#: The official frame size (height, width).
OFFICIAL_SIZE = (480, 856)
