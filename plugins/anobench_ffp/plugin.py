"""Built-in plugin: FFP, future frame prediction (Liu, Luo, Lian and Gao, CVPR 2018)."""

from bench_core import hookimpl


@hookimpl
def register_detectors(register):
    register(
        "ffp",
        "anobench_ffp.detector:FFP",
        summary="Future frame prediction: a U-Net predicts each frame from the 4 before it, scored by the PSNR of "
                "the prediction (Liu et al., CVPR 2018)",
        published={
            "avenue": {"frame_auroc": 0.851, "source": "Liu et al., CVPR 2018, Table 1 (Avenue)"},
            "ucsd-ped2": {"frame_auroc": 0.954, "source": "Liu et al., CVPR 2018, Table 1 (UCSD Ped2)"},
        },
    )
