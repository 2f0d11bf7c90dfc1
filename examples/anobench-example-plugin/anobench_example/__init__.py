"""An example anobench plugin. ``plugin.py`` holds the hook; ``detector.py`` the detector it registers."""
