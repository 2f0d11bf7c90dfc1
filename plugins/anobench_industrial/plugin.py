"""Built-in plugin: the industrial-accident dataset (its generator, and synthetic-industrial, are in
anobench_generators). Registrations are lazy strings: listing plugins imports neither Pillow nor PyAV."""

from bench_core import hookimpl


@hookimpl
def register_datasets(register):
    register(
        "industrial",
        "anobench_industrial.dataset:Industrial",
        summary="Your own factory-work recordings with OpenPose JSON (the skeleton LSTM-VAE paper's layout); "
                "frames and skeleton views",
    )
