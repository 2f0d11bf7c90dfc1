"""The conv-ae detector on tiny configs and hand-made moving-square videos (each test well under a few seconds).

The checks every detector shares (determinism, save/load, resume, short videos, views) are the detector contract:
tests/test_detector_contract.py."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from bench_core.config import build_config
from bench_core.detector import InputSpec
from bench_core.errors import DataError, RunFailed, UsageError
from bench_core.progress import Progress
from bench_core.views import PreparedVideo

from anobench_convae.detector import Config, ConvAE, ConvAENet

SIZE = 32
TINY = Config(
    input_size=SIZE, window=10, channels=(32, 32, 16), kernel_sizes=(5, 3, 3), first_stride=2,
    temporal_strides=(1,), epochs=4, batch_size=16, optimizer="adam", lr=0.005, weight_decay=0.0,
)


def square_video(n: int, step: int = 1, start: int = 0, side: int = 6, row: int = 12, vid: str = "v") -> PreparedVideo:
    """A bright square sliding left and right by ``step`` pixels per frame over a dark background."""
    frames = np.full((n, 1, SIZE, SIZE), 20, dtype=np.uint8)
    span = SIZE - side
    for t in range(n):
        # Back and forth rather than wrapping around: a jump across the frame would itself look anomalous.
        x = abs((start + t * step) % (2 * span) - span)
        frames[t, 0, row:row + side, x:x + side] = 220
    return PreparedVideo(vid, frames, fps=25.0)


def normal_train() -> list[PreparedVideo]:
    return [square_video(80, start=0, vid="a"), square_video(80, start=7, row=4, vid="b")]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def trained(one_torch_thread) -> ConvAE:
    detector = ConvAE(dataclasses.replace(TINY, epochs=20), seed=0)
    detector.log = detector.fit(normal_train(), Progress())
    return detector


class RecordingProgress(Progress):
    def __init__(self):
        self.tasks = []

    def task(self, description, total):
        progress = self

        class Recorder:
            def __init__(self):
                self.description, self.total, self.advanced, self.notes = description, total, 0, []
                progress.tasks.append(self)

            def advance(self, n=1):
                self.advanced += n

            def note(self, text):
                self.notes.append(text)

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                return False

        return Recorder()


def test_input_spec_follows_config():
    assert ConvAE(TINY).input_spec == InputSpec(view="frames", height=SIZE, width=SIZE, channels=1, window=10)
    paper = build_config(Config, ConvAE.presets, "paper", {}, "--set", "conv-ae")
    assert ConvAE(paper).input_spec == InputSpec(view="frames", height=227, width=227, channels=1, window=10)


def test_paper_preset_maps_a_227_stack_to_itself_through_the_papers_sizes():
    config = build_config(Config, ConvAE.presets, "paper", {}, "--set", "conv-ae")
    net = ConvAENet(config)
    sizes = {}
    for name in ("conv1", "conv2", "conv3", "deconv1"):
        getattr(net, name).register_forward_hook(lambda mod, inp, out, name=name: sizes.update({name: out.shape}))
    with torch.inference_mode():
        out = net(torch.zeros(1, 10, 227, 227))
    assert out.shape == (1, 10, 227, 227)
    assert sizes["conv1"] == (1, 512, 55, 55)
    assert sizes["conv2"] == (1, 256, 27, 27)
    assert sizes["conv3"] == (1, 128, 13, 13)


def test_presets_build_and_bad_settings_are_usage_errors():
    cpu = build_config(Config, ConvAE.presets, "cpu", {}, "--set", "conv-ae")
    assert cpu.input_size == 64 and cpu.window == 10
    with pytest.raises(UsageError, match="optimizer"):
        build_config(Config, ConvAE.presets, "cpu", {"optimizer": "rmsprop"}, "--set", "conv-ae")
    with pytest.raises(UsageError, match="input_size"):
        build_config(Config, ConvAE.presets, "paper", {"input_size": "20"}, "--set", "conv-ae")


def test_one_score_per_full_window_aligned_on_its_last_frame(trained):
    video = square_video(25)
    scores = trained.score(video, Progress())
    assert scores.shape == (25 - 10 + 1,)
    assert np.all(np.isfinite(scores)) and np.all(scores >= 0)
    # Dropping the first 5 frames drops exactly the first 5 windows: value i belongs to frames i..i+9.
    shifted = trained.score(PreparedVideo("s", video.frames[5:], 25.0), Progress())
    np.testing.assert_allclose(shifted, scores[5:], rtol=1e-5)


def test_a_window_is_scored_by_the_squared_error_of_its_last_frame(trained):
    video = square_video(12, step=2)
    window = torch.from_numpy(video.frames[2:12, 0]).float()[None] / 255 - trained.model.mean_frame
    with torch.inference_mode():
        error = (trained.model(window) - window).square().sum(dim=(2, 3))[0].double().numpy()
    assert not np.allclose(error[-1], error.mean(), rtol=1e-3)  # otherwise the check below could not tell
    np.testing.assert_allclose(trained.score(video, Progress())[2], error[-1], rtol=1e-5)


def test_video_shorter_than_window_is_padded_with_its_first_frame(trained):
    short = square_video(4, start=3)
    scores = trained.score(short, Progress())
    assert scores.shape == (1,)
    padded = np.concatenate([np.repeat(short.frames[:1], 6, axis=0), short.frames])
    np.testing.assert_allclose(scores, trained.score(PreparedVideo("p", padded, 25.0), Progress()), rtol=1e-6)
    with pytest.raises(DataError, match="no frames"):
        trained.score(PreparedVideo("empty", short.frames[:0], 25.0), Progress())


def test_scores_do_not_depend_on_the_scoring_batch_size(trained):
    video = square_video(40, start=5)
    small_batches = ConvAE(dataclasses.replace(trained.config, score_batch_size=3))
    small_batches.model.load_state_dict(trained.model.state_dict())
    np.testing.assert_allclose(small_batches.score(video, Progress()), trained.score(video, Progress()), rtol=1e-5)


def test_training_reduces_the_loss(trained):
    losses = trained.log["loss_per_epoch"]
    assert len(losses) == 20 and all(math.isfinite(x) for x in losses)
    assert losses[-1] < 0.3 * losses[0]
    assert trained.log["n_train_windows"] == 2 * (80 - 10 + 1)


def test_an_unusual_motion_scores_higher_than_normal_motion(trained):
    normal = trained.score(square_video(40, start=3), Progress())
    fast = trained.score(square_video(40, step=4, start=3), Progress())
    assert fast.min() > normal.max()
    blob = square_video(40, start=3)
    blob.frames[25:, 0, 24:30, 2:8] = 255  # an object appears at frame 25 where nothing ever was
    with_blob = trained.score(blob, Progress())
    # Windows ending before frame 25 are unchanged; those ending on the blob score higher.
    np.testing.assert_allclose(with_blob[:25 - 9], normal[:25 - 9], rtol=1e-5)
    assert with_blob[25 - 9:].min() > normal.max()


def test_load_names_what_is_wrong_with_a_checkpoint(trained, tmp_path):
    path = tmp_path / "convae.pt"
    trained.save(path)
    with pytest.raises(UsageError, match=r"channels=\(32, 32, 16\)"):
        ConvAE(dataclasses.replace(TINY, channels=(8, 8, 8))).load(path)
    with pytest.raises(DataError, match="does not exist"):
        ConvAE(TINY).load(tmp_path / "missing.pt")
    checkpoint = torch.load(path, weights_only=True)
    del checkpoint["state_dict"]["conv2.weight"]
    torch.save(checkpoint, tmp_path / "old.pt")
    with pytest.raises(DataError, match="does not fit this version"):
        ConvAE(TINY).load(tmp_path / "old.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(DataError, match="junk.pt"):
        ConvAE(TINY).load(tmp_path / "junk.pt")


def test_diverging_training_raises_run_failed_naming_the_epoch(monkeypatch):
    detector = ConvAE(dataclasses.replace(TINY, epochs=3), seed=0)
    real_forward = detector.model.forward
    batches_per_epoch = math.ceil(2 * 71 / TINY.batch_size)
    calls = []

    def forward_that_breaks_in_epoch_2(x):
        calls.append(1)
        out = real_forward(x)
        return out * float("nan") if len(calls) > batches_per_epoch else out

    monkeypatch.setattr(detector.model, "forward", forward_that_breaks_in_epoch_2)
    with pytest.raises(RunFailed, match="epoch 2") as info:
        detector.fit(normal_train(), Progress())
    assert "lr" in info.value.hint


def test_a_huge_learning_rate_is_caught_rather_than_scoring_nan():
    # tanh bounds the output, so only a learning rate large enough to overflow the weights reaches NaN.
    detector = ConvAE(dataclasses.replace(TINY, optimizer="adagrad", lr=1e20, epochs=3), seed=0)
    with pytest.raises(RunFailed, match="diverged"):
        detector.fit(normal_train(), Progress())


def test_progress_reports_every_batch_with_the_loss():
    progress = RecordingProgress()
    detector = ConvAE(dataclasses.replace(TINY, epochs=2), seed=0)
    detector.fit(normal_train(), progress)
    detector.score(square_video(30), progress)
    train, score = progress.tasks
    assert train.description == "train" and train.total == train.advanced == 2 * math.ceil(142 / 16)
    assert "loss" in train.notes[-1] and "epoch 2/2" in train.notes[-1]
    assert score.total == score.advanced == 21


def test_reads_memory_mapped_frames_like_arrays(tmp_path):
    videos = normal_train()
    mapped = []
    for video in videos:
        path = tmp_path / f"{video.id}.npy"
        np.save(path, video.frames)
        mapped.append(PreparedVideo(video.id, np.load(path, mmap_mode="r"), 25.0))
    results = []
    for train in (videos, mapped):
        detector = ConvAE(dataclasses.replace(TINY, epochs=1, temporal_strides=(1, 3)), seed=1)
        log = detector.fit(train, Progress())
        results.append((log, detector.score(train[0], Progress())))
    assert results[0][0]["n_train_windows"] == 2 * ((80 - 9) + (80 - 27))
    assert results[0][0]["loss_per_epoch"] == results[1][0]["loss_per_epoch"]
    np.testing.assert_array_equal(results[0][1], results[1][1])


def test_frames_of_the_wrong_shape_or_too_short_for_training_are_data_errors():
    detector = ConvAE(TINY)
    wrong = PreparedVideo("rgb", np.zeros((20, 3, SIZE, SIZE), dtype=np.uint8), 25.0)
    with pytest.raises(DataError, match="'rgb'"):
        detector.score(wrong, Progress())
    with pytest.raises(DataError, match="10 frames"):
        detector.fit([square_video(6)], Progress())


def test_the_skeleton_view_reads_28x28_maps_whatever_input_size_says():
    for preset in ("paper", "cpu"):
        config = build_config(Config, ConvAE.presets, preset, {"view": "skeleton"}, "--set", "conv-ae")
        spec = ConvAE(config).input_spec
        assert (spec.view, spec.height, spec.width) == ("skeleton", 28, 28)
        net = ConvAENet(config)
        assert net(torch.zeros(1, config.window, 28, 28)).shape == (1, config.window, 28, 28)
    frames = build_config(Config, ConvAE.presets, "cpu", {}, "--set", "conv-ae")
    assert frames.view == "frames" and ConvAE(frames).input_spec.height == 64


def test_a_frames_view_checkpoint_is_refused_by_a_skeleton_view_detector(tmp_path):
    ConvAE(TINY).save(tmp_path / "frames.pt")
    with pytest.raises(UsageError, match="view='frames' \\(now 'skeleton'\\)"):
        ConvAE(dataclasses.replace(TINY, view="skeleton")).load(tmp_path / "frames.pt")


def test_frames_prepared_for_another_spec_name_both_shapes_and_the_view():
    from bench_core.views import check_frames

    video = PreparedVideo("v", np.zeros((5, 1, 32, 32), dtype=np.uint8), 25.0)
    spec = InputSpec(view="skeleton", height=28, width=28, channels=1, window=10)
    with pytest.raises(DataError) as info:
        check_frames(video, spec, "conv-ae")
    assert info.value.message == ("video 'v' has frames of shape (5, 1, 32, 32), conv-ae expects (n, 1, 28, 28) "
                                  "(skeleton view)")
    assert "input_spec" in info.value.hint
    check_frames(PreparedVideo("w", np.zeros((5, 1, 28, 28), dtype=np.uint8), 25.0), spec, "conv-ae")
