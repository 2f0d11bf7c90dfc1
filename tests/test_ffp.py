"""The ffp detector (future frame prediction, Liu et al. CVPR 2018) on tiny configs and hand-made videos; each test
takes seconds."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from bench_core.cli import build_app
from bench_core.config import build_config
from bench_core.detector import InputSpec
from bench_core.errors import DataError, UsageError
from bench_core.plugins import get_catalogue
from bench_core.progress import Progress
from bench_core.views import PreparedVideo

from anobench_ffp.detector import FFP, OMITTED_LOSSES, Config
from anobench_ffp.model import (PatchDiscriminator, UNetGenerator, discriminator_lsgan_loss, generator_lsgan_loss,
                                gradient_loss, intensity_loss, psnr)

SIZE = 16
TINY = Config(input_size=SIZE, image_channels=1, widths=(4, 8), d_widths=(4, 8), epochs=4, batch_size=4,
              g_lr=1e-2, d_lr=1e-3)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def square_video(n: int, start: int = 0, row: int = 4, side: int = 4, vid: str = "v") -> PreparedVideo:
    """A bright square sliding left and right one pixel per frame over a dark background."""
    frames = np.full((n, 1, SIZE, SIZE), 20, dtype=np.uint8)
    span = SIZE - side
    for t in range(n):
        x = abs((start + t) % (2 * span) - span)
        frames[t, 0, row:row + side, x:x + side] = 220
    return PreparedVideo(vid, frames, fps=25.0)


def normal_train() -> list[PreparedVideo]:
    return [square_video(30, vid="a"), square_video(30, start=5, row=9, vid="b")]


@pytest.fixture(scope="module")
def trained(one_torch_thread) -> FFP:
    detector = FFP(TINY, seed=0)
    detector.log = detector.fit(normal_train(), Progress())
    return detector


# -- config and presets --------------------------------------------------------------------------------------------


def test_presets_build_and_bad_settings_are_usage_errors():
    assert {"paper", "standard", "cpu"} <= set(FFP.presets)
    paper = build_config(Config, FFP.presets, "paper", {}, "--set", "ffp")
    assert FFP.input_spec.fget(type("D", (), {"config": paper})()) == InputSpec(
        view="frames", height=256, width=256, channels=3, window=5)
    assert (paper.widths, paper.n_inputs, paper.batch_size) == ((64, 128, 256, 512), 4, 4)
    assert (paper.lambda_int, paper.lambda_gd, paper.lambda_adv, paper.adversarial) == (1.0, 1.0, 0.05, True)
    assert (paper.g_lr, paper.d_lr) == (2e-4, 2e-5)
    standard = build_config(Config, FFP.presets, "standard", {}, "--set", "ffp")
    assert standard.input_size >= 96 and standard.adversarial  # a 20 px cyclist in 240 px keeps >= 8 px
    assert build_config(Config, FFP.presets, "cpu", {}, "--set", "ffp").input_size == 64
    assert build_config(Config, FFP.presets, None, FFP.test_settings, "--set", "ffp").input_size == 16
    for bad in ({"image_channels": "2"}, {"input_size": "90"}, {"widths": "[]"}, {"lambda_adv": "-1"},
                {"g_lr": "0"}, {"windows_per_epoch": "-1"}, {"input_size": "8", "d_widths": "[4,4,4,4]"}):
        with pytest.raises(UsageError):
            build_config(Config, FFP.presets, "cpu", bad, "--set", "ffp")
    with pytest.raises(UsageError, match="lambda_int and lambda_gd"):
        build_config(Config, FFP.presets, "cpu", {"lambda_int": "0", "lambda_gd": "0"}, "--set", "ffp")



def test_the_standard_preset_trains_one_epoch_at_reduced_size():
    standard = build_config(Config, FFP.presets, "standard", {}, "--set", "ffp")
    # Every window of the training set each epoch (a budget proportional to the set's size), every loss term on.
    assert standard.windows_per_epoch == 0 and standard.adversarial and standard.lambda_gd > 0
    small = build_config(Config, FFP.presets, "standard", {"input_size": str(SIZE), "epochs": "1"}, "--set", "ffp")
    detector = FFP(small, seed=0)
    log = detector.fit(normal_train(), Progress())
    assert len(log["g_loss_per_epoch"]) == 1 and math.isfinite(log["d_loss_per_epoch"][0])
    assert np.isfinite(detector.score(square_video(12), Progress())).all()

def test_published_figures_are_registered_for_the_leaderboard():
    published = get_catalogue().get("detector", "ffp").meta["published"]
    assert published["ucsd-ped2"]["frame_auroc"] == 0.954
    assert published["avenue"]["frame_auroc"] == 0.851


# -- networks and losses -------------------------------------------------------------------------------------------


def test_the_unet_predicts_one_frame_from_the_stacked_past_and_the_patchgan_scores_patches():
    generator = UNetGenerator(in_channels=4 * 3, out_channels=3, widths=(4, 8, 16))
    prediction = generator(torch.zeros(2, 12, 32, 32))
    assert prediction.shape == (2, 3, 32, 32) and prediction.abs().max() <= 1
    scores = PatchDiscriminator(3, (4, 8, 16))(prediction)
    assert scores.shape[:2] == (2, 1) and scores.shape[-1] > 1  # one score per patch, not one per frame


def test_losses_on_hand_made_frames():
    target = torch.zeros(1, 1, 2, 3)
    prediction = torch.tensor([[[[0.0, 1.0, 0.0], [0.0, 0.0, 0.0]]]])
    assert intensity_loss(prediction, target).item() == pytest.approx(1 / 6)
    # |gradients| of the prediction: along x [[1, 1], [0, 0]] (mean 0.5), along y [[0, 1, 0]] (mean 1/3).
    assert gradient_loss(prediction, target).item() == pytest.approx(0.5 + 1 / 3)
    assert gradient_loss(prediction + 0.3, target + 0.3).item() == pytest.approx(0.5 + 1 / 3)
    assert gradient_loss(target + 0.7, target).item() == 0  # a uniform offset has no gradient to miss
    ones, zeros = torch.ones(4), torch.zeros(4)
    assert discriminator_lsgan_loss(ones, zeros).item() == 0
    assert discriminator_lsgan_loss(zeros, ones).item() == pytest.approx(1.0)
    assert generator_lsgan_loss(ones).item() == 0 and generator_lsgan_loss(zeros).item() == pytest.approx(0.5)


def test_psnr_on_a_hand_made_example():
    target = torch.full((2, 1, 4, 4), -1.0)  # black in [-1, 1]
    prediction = target.clone()
    prediction[0, 0, 0, :] = 1.0  # 4 of 16 pixels white: MSE in [0, 1] pixels = 4/16
    prediction[1] += 0.2  # every pixel off by 0.1 in [0, 1]: MSE 0.01
    np.testing.assert_allclose(psnr(prediction, target).numpy(), [10 * math.log10(4), 20.0])
    np.testing.assert_allclose(psnr(target, target).numpy(), [100.0, 100.0])  # a perfect prediction is finite


def test_score_is_minus_the_psnr_of_each_windows_prediction(monkeypatch):
    detector = FFP(TINY)
    video = square_video(9)
    # A U-Net that predicts mid-grey: the score of a window is then fixed by its last frame alone.
    monkeypatch.setattr(detector.generator, "forward", lambda past: torch.zeros(len(past), 1, SIZE, SIZE))
    scores = detector.score(video, Progress())
    assert len(scores) == 9 - 5 + 1
    for i, value in enumerate(scores):
        last = video.frames[i + 4].astype(np.float64) / 255.0
        assert value == pytest.approx(-10 * math.log10(1 / ((last - 127.5 / 255.0) ** 2).mean()), rel=1e-5)


# -- training and scoring ------------------------------------------------------------------------------------------


def test_training_logs_every_term_and_says_what_is_omitted(trained):
    log = trained.log
    for key in ("g_loss_per_epoch", "intensity_per_epoch", "gradient_per_epoch", "adversarial_per_epoch",
                "d_loss_per_epoch"):
        assert len(log[key]) == TINY.epochs and all(math.isfinite(v) for v in log[key])
    assert log["omitted_losses"] == OMITTED_LOSSES and "FlowNet" in log["omitted_losses"][0]
    assert log["n_train_windows"] == 2 * (30 - 4) and log["n_windows_per_epoch"] == log["n_train_windows"]


def test_without_the_adversarial_term_there_is_no_discriminator():
    detector = FFP(dataclasses.replace(TINY, adversarial=False, epochs=1))
    assert detector.discriminator is None
    log = detector.fit(normal_train(), Progress())
    assert "d_loss_per_epoch" not in log and "adversarial_per_epoch" not in log
    assert log["n_parameters"]["discriminator"] == 0


def test_windows_per_epoch_samples_that_many_windows_each_epoch():
    detector = FFP(dataclasses.replace(TINY, windows_per_epoch=10, epochs=1))
    log = detector.fit(normal_train(), Progress())
    assert log["n_windows_per_epoch"] == 10 and log["n_batches_per_epoch"] == 3


def test_one_score_per_full_window_and_a_short_video_gets_one(trained):
    assert len(trained.score(square_video(12), Progress())) == 12 - 5 + 1
    short = trained.score(PreparedVideo("short", square_video(3).frames, 25.0), Progress())
    assert short.shape == (1,) and np.isfinite(short).all()
    with pytest.raises(DataError, match="no frames"):
        trained.score(PreparedVideo("empty", square_video(3).frames[:0], 25.0), Progress())


def test_scoring_batches_pair_each_windows_past_with_its_own_last_frame(monkeypatch):
    detector = FFP(dataclasses.replace(TINY, score_batch_size=2))
    video = square_video(9)
    # A U-Net that repeats the newest past frame: window i then scores frame i + 3 as a prediction of frame i + 4,
    # in every batch of the scoring loop (5 windows in batches of 2).
    monkeypatch.setattr(detector.generator, "forward", lambda past: past[:, -1:].clone())
    scores = detector.score(video, Progress())
    frames = video.frames.astype(np.float64) / 255.0
    expected = [-10 * math.log10(1 / ((frames[i + 4] - frames[i + 3]) ** 2).mean()) for i in range(9 - 5 + 1)]
    np.testing.assert_allclose(scores, expected, rtol=1e-5)


def test_scores_do_not_depend_on_the_scoring_batch_size(trained):
    video = square_video(20)
    small = FFP(dataclasses.replace(TINY, score_batch_size=3))
    small.generator = trained.generator
    np.testing.assert_allclose(small.score(video, Progress()), trained.score(video, Progress()), rtol=1e-6)


def test_a_jump_scores_higher_than_smooth_motion(trained):
    video = square_video(20)
    frames = np.array(video.frames)
    frames[12] = np.roll(frames[12], 6, axis=-2)  # the square teleports for one frame
    scores = trained.score(PreparedVideo("jump", frames, 25.0), Progress())
    # The windows that predict frame 12 (wrong) and frame 13 (from a wrong past) are the least predictable.
    assert set(np.argsort(scores)[-2:]) == {12 - 4, 13 - 4}


def test_the_torch_layer_levers_are_ffp_settings_and_only_a_changed_one_enters_the_run_id():
    from bench_core.run import identity_config

    neutral = identity_config(FFP, TINY)
    assert "precision" not in neutral and "channels_last" not in neutral
    assert identity_config(FFP, dataclasses.replace(TINY, channels_last=True))["channels_last"] is True
    runs = []
    for channels_last in (False, True):
        detector = FFP(dataclasses.replace(TINY, epochs=2, channels_last=channels_last))
        log = detector.fit(normal_train(), Progress())
        runs.append((log["g_loss_per_epoch"], detector.score(square_video(12), Progress())))
    assert detector.generator.down[0][0].weight.is_contiguous(memory_format=torch.channels_last)
    assert detector.discriminator.net[0].weight.is_contiguous(memory_format=torch.channels_last)
    # Another memory order only rounds differently.
    np.testing.assert_allclose(runs[1][0], runs[0][0], rtol=1e-4)
    np.testing.assert_allclose(runs[1][1], runs[0][1], rtol=1e-4)


# Determinism, the save/load round trip and resume are the detector contract's (tests/test_detector_contract.py
# runs it on ffp through FFP.test_settings); here only what a bad checkpoint says.
def test_load_names_what_is_wrong_with_a_checkpoint(trained, tmp_path):
    trained.save(tmp_path / "c.pt")
    with pytest.raises(UsageError, match="widths"):
        FFP(dataclasses.replace(TINY, widths=(4, 4))).load(tmp_path / "c.pt")
    (tmp_path / "junk.pt").write_bytes(b"junk")
    with pytest.raises(DataError, match="cannot be read"):
        FFP(TINY, seed=1).load(tmp_path / "junk.pt")


def test_frames_of_another_input_spec_are_refused():
    with pytest.raises(DataError, match="expects"):
        FFP(dataclasses.replace(TINY, image_channels=3)).fit(normal_train(), Progress())
    with pytest.raises(DataError, match="5 frames"):
        FFP(TINY).fit([square_video(4)], Progress())


# -- through the CLI -----------------------------------------------------------------------------------------------

CLI_SMALL = ["--data-option", "n_train=1", "--data-option", "n_test=1", "--data-option", "frames_per_video=64",
             "--set", "input_size=32", "--set", "widths=[4,8]", "--set", "d_widths=[4,8]", "--set", "batch_size=16"]


def _run(tmp_path, *extra):
    args = ["run", "--detector", "ffp", "--dataset", "synthetic-avenue", "--preset", "cpu", "--device", "cpu",
            "--out", str(tmp_path / "results"), "--json", *CLI_SMALL, *extra]
    return CliRunner().invoke(build_app(), args)


def test_a_one_epoch_run_through_the_cli_records_the_omitted_flow_loss(tmp_path):
    result = _run(tmp_path, "--set", "epochs=1")
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["training"]["omitted_losses"] == OMITTED_LOSSES
    assert len(record["training"]["g_loss_per_epoch"]) == 1
    assert 0 <= record["metrics"]["frame_auroc_micro"] <= 1
