"""The industrial set's layout (the skeleton LSTM-VAE paper's), as the ``industrial`` loader reads it and
``synthetic-industrial``'s generator writes it: ``videos/NAME.avi``, ``openpose/NAME/`` (one OpenPose JSON per
frame), ``split.json`` and ``labels.json``."""

VIDEOS_DIR = "videos"
POSES_DIR = "openpose"
SPLIT_FILE = "split.json"
LABELS_FILE = "labels.json"
