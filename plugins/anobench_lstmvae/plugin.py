"""Built-in plugin: LSTM-VAE on sequential skeleton maps (the skeleton LSTM-VAE paper)."""

from bench_core import hookimpl


@hookimpl
def register_detectors(register):
    register(
        "lstm-vae",
        "anobench_lstmvae.detector:LSTMVAE",
        summary="CNN + LSTM variational autoencoder on windows of 30 skeleton maps, J=16 (the skeleton LSTM-VAE paper)",
        published={
            "industrial": {"frame_auroc": 0.74, "source": "skeleton LSTM-VAE paper, Table 3 (skeleton maps)"},
        },
    )
