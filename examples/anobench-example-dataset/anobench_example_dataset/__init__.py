"""An example third-party dataset plugin for anobench: a folder of videos (see README.md)."""
