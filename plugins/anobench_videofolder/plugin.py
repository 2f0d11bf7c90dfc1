"""Built-in plugin: ``video-folder``. The registration is a lazy string: listing plugins imports neither Pillow
nor PyAV."""

from bench_core import hookimpl


@hookimpl
def register_datasets(register):
    register(
        "video-folder",
        "anobench_videofolder.dataset:VideoFolder",
        summary="Your own videos: train/ and test/ of video files or frame folders, optional labels.csv and "
                "OpenPose poses/",
    )
