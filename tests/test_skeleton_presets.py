"""The `standard` presets of lstm-vae, ae and vae (issue 11): their settings, and a one-epoch run of each through the
CLI at reduced size. Why these values: docs/skeleton.md, "The standard preset"."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from bench_core.cli import build_app
from bench_core.config import build_config

from anobench_framewise.detector import AE, VAE
from anobench_lstmvae.detector import LSTMVAE

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def standard(cls, name, **overrides):
    return build_config(cls.Config, cls.presets, "standard", overrides, "--set", name)


def test_lstm_vae_standard_is_the_papers_network_on_every_second_window():
    config = standard(LSTMVAE, "lstm-vae")
    assert (config.window, config.latent_dim, config.lstm_units, config.epochs, config.batch_size) == \
        (30, 16, 300, 30, 16)
    assert (config.feature_dim, config.channels, config.train_stride, config.score_frames) == \
        (256, (32, 64), 2, "window")
    # The frames view keeps 28x28: the window's 30 frames each pass the CNN.
    assert standard(LSTMVAE, "lstm-vae", view="frames").side == 28


@pytest.mark.parametrize("cls", [AE, VAE])
def test_ae_and_vae_standard_train_like_the_paper_with_the_lstm_vaes_cnn(cls):
    config = standard(cls, cls.name)
    assert (config.latent_dim, config.epochs, config.batch_size, config.channels, config.lr) == \
        (16, 30, 32, (32, 64), 3e-4)
    assert config.side == 28  # skeleton maps are always 28x28
    frames = standard(cls, cls.name, view="frames")
    assert frames.side == 96
    assert cls(frames).input_spec.height == 96


def test_the_cpu_and_paper_presets_are_untouched():
    # Published run ids hang on these values.
    assert LSTMVAE.presets["paper"] == {"window": 30, "latent_dim": 16, "lstm_units": 300, "epochs": 30,
                                        "batch_size": 16}
    assert AE.presets["cpu"] == {"latent_dim": 16, "channels": (16, 32), "epochs": 10, "batch_size": 32}


SMALL_DATA = ["--data-option", "n_train=1", "--data-option", "n_test=1", "--data-option", "frames_per_video=60"]
SMALL = {
    "lstm-vae": ["--set", "epochs=1", "--set", "window=5", "--set", "lstm_units=8", "--set", "feature_dim=8",
                 "--set", "channels=[4,4]"],
    "ae": ["--set", "epochs=1", "--set", "channels=[4,4]"],
    "vae": ["--set", "epochs=1", "--set", "channels=[4,4]"],
}


@pytest.mark.parametrize("name,view,side", [("lstm-vae", "skeleton", 28), ("ae", "frames", 96),
                                            ("vae", "skeleton", 28)])
def test_a_one_epoch_standard_run_at_reduced_size_scores_every_frame(tmp_path, name, view, side):
    args = ["run", "--detector", name, "--dataset", "synthetic-industrial", "--preset", "standard", "--device", "cpu",
            "--out", str(tmp_path), "--json", "--set", f"view={view}", *SMALL_DATA, *SMALL[name]]
    result = CliRunner().invoke(build_app(), args)
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["run_id"].startswith("standard-seed0-")
    assert record["detector"]["input_spec"]["height"] == side
    assert record["detector"]["config"]["latent_dim"] == 16  # from the preset, not overridden
    assert record["n_test_frames"] == 60 and len(record["training"]["loss_per_epoch"]) == 1
