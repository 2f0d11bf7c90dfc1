"""CUHK Avenue's official layout, as the ``avenue`` loader reads it and ``synthetic-avenue``'s generator writes it."""

AVENUE_DIR = "Avenue Dataset"
SPLIT_DIRS = {"train": "training_videos", "test": "testing_videos"}
MASK_DIR = ("ground_truth_demo", "testing_label_mask")
