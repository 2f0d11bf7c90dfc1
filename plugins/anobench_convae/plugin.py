"""Built-in plugin: Conv-AE (Hasan et al., CVPR 2016)."""

from bench_core import hookimpl


@hookimpl
def register_detectors(register):
    register(
        "conv-ae",
        "anobench_convae.detector:ConvAE",
        summary="Fully convolutional autoencoder over stacks of 10 grayscale frames (Hasan et al., CVPR 2016)",
        published={
            "avenue": {"frame_auroc": 0.702, "source": "STGAN paper, Table 1 (Avenue)"},
            "industrial": {"frame_auroc": 0.571, "source": "STGAN paper, Table 2 (industrial set)"},
        },
    )
