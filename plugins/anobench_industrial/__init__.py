"""Built-in plugin: the seeds' industrial-accident setting (``industrial``, on the user's own recordings with
OpenPose output) and a generator of the same files (``synthetic-industrial``)."""
