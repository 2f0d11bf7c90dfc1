"""Built-in plugin: every generator, and the generated datasets that run anywhere with no files to bring.
Registrations are lazy strings: listing plugins imports neither Pillow nor PyAV."""

from bench_core import hookimpl


@hookimpl
def register_generators(register):
    register("synthetic-avenue", "anobench_generators.walkway.export:SyntheticAvenueGenerator",
             summary="synthetic-avenue's walkway in CUHK Avenue's layout (AVI videos, .mat pixel masks); "
                     "read by avenue")
    register("synthetic-industrial", "anobench_generators.factory.synthetic:SyntheticIndustrialGenerator",
             summary="The generated worker in the industrial layout (AVI videos, OpenPose JSON, split.json, "
                     "labels.json); read by industrial")
    register("video-folder", "anobench_generators.video_folder:VideoFolderGenerator",
             summary="A small copy in the video-folder layout: video files, frame folders, labels.csv, OpenPose "
                     "JSON; read by video-folder")
    register("shanghaitech", "anobench_generators.shanghaitech:ShanghaiTechGenerator",
             summary="Walkway scenes in ShanghaiTech Campus's layout, with frame and pixel masks; read by shanghaitech")


@hookimpl
def register_datasets(register):
    register(
        "synthetic-avenue",
        "anobench_generators.walkway.dataset:SyntheticAvenue",
        summary="Generated Avenue-like walkway: walkers; test anomalies are runners, wrong-way walkers, throws, "
                "loiterers",
    )
    register(
        "synthetic-industrial",
        "anobench_generators.factory.synthetic:SyntheticIndustrial",
        summary="Generated worker with OpenPose-style JSON: carrying, cutting, discarding; one-handed work, "
                "throwing, digging, running as anomalies",
    )
