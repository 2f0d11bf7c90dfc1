"""The ``standard`` presets of stgan and conv-ae (docs/stgan.md, docs/conv-ae.md): faithful to their papers where
it matters (every loss term and stabiliser on; the paper's window and frame skips), an input that keeps small
objects, a budget that fits 1 hour of 2-core training for Avenue, and a one-epoch run through the CLI."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest
from typer.testing import CliRunner

from anobench_convae.detector import ConvAE
from anobench_stgan.detector import STGAN
from bench_core.cli import build_app
from bench_core.config import build_config
from bench_core.errors import UsageError
from bench_core.progress import Progress
from bench_core.testing import contract_config, tiny_video

pytestmark = pytest.mark.usefixtures("one_torch_thread")

#: Avenue's frame height is 360: 128 keeps a 20-pixel-tall person at about 7 pixels.
MIN_INPUT = 96


def test_stgan_standard_keeps_every_term_and_stabiliser_of_the_paper():
    config = build_config(STGAN.Config, STGAN.presets, "standard", {}, "--set", "stgan")
    assert config.input_size >= MIN_INPUT and config.view == "frames"
    assert config.spectral_norm and config.self_attention and config.ttur and config.d_lr > config.g_lr
    assert min(config.recon_weight, config.gan_weight, config.feat_weight, config.consist_weight) > 0
    # A preset that only speeds things up must not touch the paper preset's published runs.
    assert STGAN.presets["paper"]["input_size"] == 128 and STGAN.presets["cpu"]["input_size"] == 32


def test_conv_ae_standard_uses_the_papers_window_skips_and_layer_plan():
    config = build_config(ConvAE.Config, ConvAE.presets, "standard", {}, "--set", "conv-ae")
    assert config.input_size >= MIN_INPUT
    assert config.window == 10 and config.temporal_strides == (1, 2, 3)
    assert config.kernel_sizes == (11, 5, 3) and config.first_stride == 4 and config.subtract_mean


@pytest.mark.parametrize("detector, small", [
    ("stgan", ["--set", "input_size=32", "--set", "channels=[8,16,32]", "--set", "latent_channels=8",
               "--set", "window=4"]),
    ("conv-ae", ["--set", "input_size=48", "--set", "channels=[16,8,4]"]),
])
def test_a_one_epoch_standard_run_at_reduced_size_records_its_losses(tmp_path, detector, small):
    args = ["run", "--detector", detector, "--dataset", "synthetic-avenue", "--preset", "standard", "--device", "cpu",
            "--data-option", "n_train=1", "--data-option", "n_test=1", "--data-option", "frames_per_video=64",
            "--set", "epochs=1", *small, "--out", str(tmp_path / "results"), "--json"]
    result = CliRunner().invoke(build_app(), args)
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["preset"] == "standard"
    losses = [v for k, v in record["training"].items() if k.endswith("_per_epoch") and isinstance(v, list)]
    assert losses and all(len(v) == 1 for v in losses)
    assert 0 <= record["metrics"]["frame_auroc_micro"] <= 1


@pytest.mark.parametrize("detector_cls", [ConvAE, STGAN], ids=["conv-ae", "stgan"])
def test_windows_per_epoch_caps_each_epoch_and_its_neutral_value_keeps_run_ids(detector_cls):
    config = dataclasses.replace(contract_config(detector_cls), epochs=1, windows_per_epoch=5)
    detector = detector_cls(config, seed=0)
    train = [tiny_video(detector.input_spec, 30, "train", 1)]
    log = detector.fit(train, Progress())
    assert log["n_windows_per_epoch"] == 5 < log["n_train_windows"]
    assert log["n_batches_per_epoch"] == math.ceil(5 / config.batch_size)
    assert detector_cls.neutral_settings["windows_per_epoch"] == 0  # runs from before the setting keep their ids
    with pytest.raises(UsageError, match="windows_per_epoch must be >= 0"):
        build_config(detector_cls.Config, detector_cls.presets, "standard", {"windows_per_epoch": "-1"}, "--set",
                     "detector")
