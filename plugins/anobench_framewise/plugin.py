"""Built-in plugin: the AE and VAE baselines of the skeleton LSTM-VAE paper (one module, they differ only in the
variational part)."""

from bench_core import hookimpl


@hookimpl
def register_detectors(register):
    register(
        "ae",
        "anobench_framewise.detector:AE",
        summary="Convolutional autoencoder on single 28x28 skeleton maps, J=16 "
                "(the skeleton LSTM-VAE paper's AE baseline)",
        published={
            "industrial": {"frame_auroc": 0.67, "source": "skeleton LSTM-VAE paper, Table 3 (skeleton maps)"},
        },
    )
    register(
        "vae",
        "anobench_framewise.detector:VAE",
        summary="Convolutional variational autoencoder on single 28x28 skeleton maps, J=16 "
                "(the skeleton LSTM-VAE paper's VAE baseline)",
        published={
            "industrial": {"frame_auroc": 0.63, "source": "skeleton LSTM-VAE paper, Table 3 (skeleton maps)"},
        },
    )
