"""``shanghaitech``: the official layout on generated files (``anobench data generate shanghaitech``), both training
variants, ``scenes=``, partial copies, and every bad input as one line naming the file or option, exit 2."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from anobench_generators.shanghaitech import ShanghaiTechGenerateOptions, ShanghaiTechGenerator
from anobench_shanghaitech.dataset import ShanghaiTech
from bench_core.cli import build_app
from bench_core.dataset import GENERATED_MARKER
from bench_core.errors import DataError, UsageError
from bench_core.plugins import get_catalogue
from bench_core.run import make_dataset

# Two scenes, 1 training and 2 test videos each, 64 frames at 48x64; both training variants written.
SMALL = dict(scenes=2, train_per_scene=1, test_per_scene=2, frames_per_video=64, height=48, width=64,
             training="both")
TEST_IDS = ["01_0001", "01_0002", "02_0001", "02_0002"]


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("shanghaitech") / "copy"
    ShanghaiTechGenerator().write(out, 1, ShanghaiTechGenerateOptions(**SMALL))
    return out


@pytest.fixture
def copy(generated, tmp_path) -> Path:
    """A copy to damage, without the generated marker (so it reads as a user's copy of the files)."""
    target = tmp_path / "data"
    shutil.copytree(generated, target)
    (target / GENERATED_MARKER).unlink()
    return target


def load(root: Path, *options: str) -> ShanghaiTech:
    return make_dataset("shanghaitech", list(options), str(root), get_catalogue())


def check_cli(root: Path, *options: str):
    args = ["data", "check", "shanghaitech", "--data-root", str(root)]
    for option in options:
        args += ["--data-option", option]
    return CliRunner().invoke(build_app(), args)


def only_problem(root: Path, *options: str) -> str:
    problems = load(root, *options).check()
    assert len(problems) == 1, problems
    result = check_cli(root, *options)
    assert result.exit_code == 2 and problems[0].split(":")[0] in result.output
    return problems[0]


def test_the_generated_copy_has_the_official_layout_and_reads_back(generated):
    files = {p.relative_to(generated).as_posix() for p in generated.rglob("*") if p.is_file()}
    assert {"training/videos/01_001.avi", "training/frames/02_001/063.jpg", "testing/frames/01_0001/000.jpg",
            "testing/test_frame_mask/02_0002.npy", "testing/test_pixel_mask/01_0002.npy", GENERATED_MARKER} <= files
    dataset = load(generated)
    assert dataset.check() == []
    assert any("generated copy" in note for note in dataset.notes())
    train, test = dataset.videos("train"), dataset.videos("test")
    assert [v.id for v in train] == ["01_001", "02_001"] and [v.id for v in test] == TEST_IDS
    assert (train[0].info.height, train[0].info.width, len(train[0])) == (48, 64, 64)
    assert train[0].read(0, 3).shape == (3, 48, 64, 3)
    abnormal = 0
    for video in test:
        assert video.labels.dtype == np.int8 and len(video.labels) == len(video) == 64
        assert video.has_pixel_masks
        masks = video.pixel_masks(0, len(video))
        assert masks.shape == (64, 48, 64) and masks.dtype == np.uint8
        # the generator's frame labels are its pixel masks' "any pixel set"
        np.testing.assert_array_equal(masks.any(axis=(1, 2)), video.labels.astype(bool))
        abnormal += int(video.labels.sum())
    assert 0 < abnormal < 4 * 64
    fingerprint = dataset.fingerprint()
    assert fingerprint["training"] == "videos" and fingerprint["scenes"] == "all"
    assert load(generated).fingerprint() == fingerprint  # stable


def test_the_fingerprint_pins_the_files(copy):
    before = load(copy).fingerprint()
    frame = copy / "testing/frames/01_0001/010.jpg"
    Image.open(copy / "testing/frames/01_0001/011.jpg").save(frame, quality=50)
    assert load(copy).fingerprint() != before
    before = load(copy).fingerprint()
    masks = copy / "testing/test_pixel_mask/02_0001.npy"
    values = np.load(masks)
    values[0, 0, 0] = 1 - values[0, 0, 0]
    np.save(masks, values)
    changed = load(copy).fingerprint()
    assert changed != before
    np.save(masks, 1 - values)  # same size, other bytes
    assert load(copy).fingerprint() != changed


def test_both_training_variants_read_the_same_frames(generated):
    from_videos = load(generated, "training=videos").videos("train")[0].read(0, 8).astype(int)
    from_frames = load(generated, "training=frames").videos("train")[0].read(0, 8).astype(int)
    assert from_frames.shape == from_videos.shape
    # MPEG-4 and JPEG of the same rendered frames: close, not equal
    assert np.abs(from_frames - from_videos).mean() < 8
    assert load(generated, "training=frames").fingerprint() != load(generated).fingerprint()
    assert any("training/frames is ignored" in n for n in load(generated).notes())


def test_a_copy_with_only_extracted_training_frames_reads_them(copy):
    shutil.rmtree(copy / "training/videos")
    dataset = load(copy)
    assert dataset.check() == []
    assert dataset.fingerprint()["training"] == "frames"
    assert [v.id for v in dataset.videos("train")] == ["01_001", "02_001"]
    problem = only_problem(copy, "training=videos")
    assert "training/videos" in problem


def test_scenes_keep_those_scenes_only(generated):
    dataset = load(generated, "scenes=02")
    assert dataset.check() == []
    assert [v.id for v in dataset.videos("test")] == ["02_0001", "02_0002"]
    assert [v.id for v in dataset.videos("train")] == ["02_001"]
    assert dataset.fingerprint()["scenes"] == ["02"] and dataset.fingerprint() != load(generated).fingerprint()
    assert any("scenes 02 only" in note for note in dataset.notes())
    assert load(generated, "scenes=2,1").options.scenes == ("01", "02")


def test_an_unknown_scene_is_one_line_naming_the_option(generated):
    problem = only_problem(generated, "scenes=01,07")
    assert problem.startswith("--data-option scenes=01,07: no scene 07") and "01, 02" in problem
    with pytest.raises(DataError, match="scenes=01,07"):
        load(generated, "scenes=01,07").videos("test")
    with pytest.raises(UsageError, match="scenes"):
        load(generated, "scenes=north")
    assert check_cli(generated, "scenes=north").exit_code == 2


def test_a_partial_copy_works_and_says_what_is_missing(copy):
    shutil.rmtree(copy / "testing/frames/02_0002")
    (copy / "testing/test_frame_mask/02_0002.npy").unlink()
    (copy / "testing/test_pixel_mask/01_0001.npy").unlink()
    dataset = load(copy)
    assert dataset.check() == []
    notes = " | ".join(dataset.notes())
    assert "partial copy: 2 of 330 training videos" in notes and "3 of 107 test videos" in notes
    assert "no pixel masks for 1 of 3 test videos (e.g. 01_0001)" in notes
    assert "pixel masks without a test video, ignored: 02_0002.npy" in notes
    test = dataset.videos("test")
    assert [v.has_pixel_masks for v in test] == [False, True, True]
    with pytest.raises(DataError, match="no pixel mask file"):
        test[0].pixel_masks(0, 1)
    shutil.rmtree(copy / "testing/test_pixel_mask")
    assert load(copy).check() == []
    assert any("pixel-level metrics are not available" in n for n in load(copy).notes())


def test_a_missing_frame_mask_file(copy):
    (copy / "testing/test_frame_mask/01_0002.npy").unlink()
    problem = only_problem(copy)
    assert "test_frame_mask/01_0002.npy: missing" in problem


def test_a_frame_mask_of_another_length(copy):
    path = copy / "testing/test_frame_mask/02_0001.npy"
    np.save(path, np.load(path)[:-3])
    problem = only_problem(copy)
    assert str(path) in problem and "61 labels" in problem and "64 frames" in problem


@pytest.mark.parametrize("folder", ["test_frame_mask", "test_pixel_mask"])
def test_values_other_than_0_and_1(copy, folder):
    path = copy / "testing" / folder / "01_0001.npy"
    values = np.load(path).astype(np.int64)
    values.flat[5] = 255
    np.save(path, values)
    problem = only_problem(copy)
    assert str(path) in problem and "other than 0 and 1" in problem and "255" in problem


def test_pixel_masks_of_the_wrong_size(copy):
    path = copy / "testing/test_pixel_mask/02_0002.npy"
    np.save(path, np.zeros((64, 24, 32), np.uint8))
    problem = only_problem(copy)
    assert str(path) in problem and "(64, 24, 32)" in problem and "(64, 48, 64)" in problem


def test_a_mask_file_that_is_not_a_plain_array(copy):
    path = copy / "testing/test_frame_mask/01_0001.npy"
    np.save(path, np.array([{"labels": 1}], dtype=object), allow_pickle=True)  # would run code if unpickled
    problem = only_problem(copy)
    assert str(path) in problem and "not a .npy array numpy can read" in problem


def test_mixed_frame_naming(copy):
    folder = copy / "testing/frames/01_0002"
    (folder / "005.jpg").rename(folder / "0005.jpg")
    problem = only_problem(copy)
    assert str(folder) in problem and "mixed frame naming" in problem


def test_mixed_video_naming(copy):
    (copy / "testing/frames/02_0001").rename(copy / "testing/frames/2_1")
    (copy / "training/videos/02_001.avi").rename(copy / "training/videos/02_1.avi")
    problems = load(copy).check()
    assert any("testing/frames/2_1: mixed naming" in p and "01_0014/" in p for p in problems)
    assert any("training/videos/02_1.avi: mixed naming" in p for p in problems)
    assert check_cli(copy).exit_code == 2


def test_a_missing_data_root_says_where_the_files_go(tmp_path):
    problem = only_problem(tmp_path / "nowhere")
    assert "nowhere: no such folder" in problem


def test_videos_are_lazy_and_let_their_reader_go(generated, monkeypatch):
    import anobench_shanghaitech.dataset as module

    opened = []
    real = module.open_video
    monkeypatch.setattr(module, "open_video", lambda path: opened.append(path) or real(path))
    train = load(generated, "training=videos").videos("train")
    assert opened == []  # listing the videos decodes nothing
    video = train[0]
    video.read(0, 32)
    assert video._reader is not None
    video.read(32, 64)
    assert video._reader is None and len(opened) == 1


def test_generate_refuses_a_folder_it_did_not_write_and_rewrites_its_own(generated, tmp_path):
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep")
    options = ShanghaiTechGenerateOptions(**{**SMALL, "scenes": 1, "training": "videos"})
    with pytest.raises(UsageError, match="not a folder written by"):
        ShanghaiTechGenerator().write(foreign, 0, options)
    assert (foreign / "notes.txt").read_text() == "keep"
    again = tmp_path / "again"
    shutil.copytree(generated, again)
    ShanghaiTechGenerator().write(again, 0, options)
    assert not (again / "training/frames").exists() and not (again / "testing/frames/02_0001").exists()
    assert json.loads((again / GENERATED_MARKER).read_text())["complete"] is True
    assert load(again).check() == []


def test_a_run_on_the_generated_copy(generated, tmp_path):
    result = CliRunner().invoke(build_app(), [
        "run", "--detector", "conv-ae", "--dataset", "shanghaitech", "--data-root", str(generated),
        "--set", "epochs=1", "--set", "input_size=32", "--device", "cpu",
        "--out", str(tmp_path / "results"), "--json"])
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["dataset"]["extras"]["scenes"] == "all"
    assert record["dataset"]["extras"]["test_videos_with_pixel_masks"] == 4
    assert [v["id"] for v in record["per_video"]] == TEST_IDS
    assert 0.0 <= record["metrics"]["frame_auroc_micro"] <= 1.0


def test_prepare_decodes_chunks_that_stay_under_the_byte_cap():
    """856x480 frames are read 25 at a time (not 128: 158 MiB fresh mappings, 0.4x of bare decoding), and the
    prepared frames do not depend on the chunking."""
    from bench_core.dataset import Video, VideoInfo
    from bench_core.detector import InputSpec
    from bench_core.views import CHUNK_BYTES, prepare

    class Big(Video):
        def __init__(self, key):
            self.info = VideoInfo(key, 24.0, 480, 856, 60)
            self.reads = []

        def read(self, start, stop):
            self.reads.append(stop - start)
            return np.stack([np.random.default_rng(index).integers(0, 255, size=(480, 856, 3), dtype=np.uint8)
                             for index in range(start, stop)])

    spec = InputSpec(view="frames", height=32, width=32, channels=1, window=1)
    capped, one_by_one = Big("capped"), Big("one")
    first = prepare(capped, spec, "chunks-a")
    assert capped.reads == [25, 25, 10] and 25 * 480 * 856 * 3 <= CHUNK_BYTES < 32 << 20
    np.testing.assert_array_equal(prepare(one_by_one, spec, "chunks-b", chunk=1).frames, first.frames)


def test_a_leaderboard_command_reruns_a_per_scene_run():
    from bench_core.config import parse_assignments
    from bench_core.leaderboard import reproduce_command
    from bench_core.run_record import RunRecord

    record = RunRecord.from_data({"detector": {"name": "conv-ae", "settings": []}, "dataset": {
        "name": "shanghaitech", "options": {
            "data_root": "/d", "label_convention": "", "scenes": ["01", "04"], "training": "auto"}},
        "preset": "cpu", "seed": 0, "protocol": {"normalization": "minmax-per-video"}, "device": "cpu",
        "metrics": {}, "timing": {"torch_threads": 1}}, Path("results/record.json"))
    command = reproduce_command(record, "results")
    assert "--data-option scenes=01,04" in command
    options = [part.split(" ", 1)[1] for part in command.split(" --")[1:] if part.startswith("data-option")]
    assert load_options(parse_assignments(options, "--data-option")).scenes == ("01", "04")


def load_options(values):
    from bench_core.config import build_config

    return build_config(ShanghaiTech.Options, {}, None, values, "--data-option", "dataset 'shanghaitech'")
