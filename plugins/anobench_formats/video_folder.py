"""``video-folder``'s layout, as its loader reads it and its generator writes it: ``train/`` and ``test/`` (video
files or frame folders), an optional labels file and an optional ``poses/`` folder of OpenPose JSON."""

SPLITS = ("train", "test")
#: The labels file: CSV (video,start,stop[,kind]) or the same rows as JSON.
LABEL_FILES = ("labels.csv", "labels.json")
POSES = "poses"
