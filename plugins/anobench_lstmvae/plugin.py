"""Built-in plugin: LSTM-VAE on sequential skeleton maps (seed 002)."""

from bench_core import hookimpl


@hookimpl
def register_detectors(register):
    register(
        "lstm-vae",
        "anobench_lstmvae.detector:LSTMVAE",
        summary="CNN + LSTM variational autoencoder on windows of 30 skeleton maps, J=16 (seed 002)",
        published={
            "industrial": {"frame_auroc": 0.74, "source": "seed 002 (LSTM-VAE paper), Table 3 (skeleton maps)"},
        },
    )
