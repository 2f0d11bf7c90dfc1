"""The UCSD Ped1/Ped2 loader on tiny fake trees written with Pillow, in the official and the research layouts."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from anobench_ucsd.dataset import PED2, UCSDOptions, UCSDPed1, UCSDPed2
from anobench_ucsd.labels import (FrameRange, LabelFileError, parse_ground_truth_script, read_label_array,
                                  read_label_text)
from bench_core.cli import build_app
from bench_core.errors import DataError
from bench_core.plugins import get_catalogue
from bench_core.run import make_dataset

HEIGHT, WIDTH = 6, 8
TRAIN_LENGTHS = (3, 4)
TEST_LENGTHS = (5, 6, 4)
# Deliberately untidy, as copies of the official script are: tabs, no blanks, blanks for commas, a comment.
SCRIPT = """TestVideoFile = {};
% UCSD Ped2 ground truth
TestVideoFile{end+1}.gt_frame = [2:3];
TestVideoFile{end+1}.gt_frame=[1:2, 5:6];   % two events
\tTestVideoFile{end+1}.gt_frame = [ 4 : 4 ];
"""
SCRIPT_LABELS = {"Test001": [0, 1, 1, 0, 0], "Test002": [1, 1, 0, 0, 1, 1], "Test003": [0, 0, 0, 1]}


def pixel(video: int, frame: int) -> int:
    """Each frame's grey level says which video and frame it is, so reading order is testable."""
    return 10 * video + frame


def write_images(folder, values, name="{:03d}.tif", first=1, mode="L"):
    folder.mkdir(parents=True)
    for i, value in enumerate(values):
        image = Image.fromarray(np.full((HEIGHT, WIDTH), value, dtype=np.uint8))
        image.convert(mode).save(folder / name.format(first + i))


def write_mask_folder(folder, flags, name="{:03d}.bmp"):
    folder.mkdir(parents=True)
    for i, flag in enumerate(flags):
        mask = np.zeros((HEIGHT, WIDTH), dtype=np.uint8)
        mask[1, 2] = 255 * flag
        Image.fromarray(mask).save(folder / name.format(i + 1))


def official_tree(root, folder="UCSDped2", train=TRAIN_LENGTHS, test=TEST_LENGTHS, script=SCRIPT, masks=None,
                  mask_name="{:03d}.bmp"):
    """A small copy of the official layout; ``masks`` maps test video number to its per-frame mask flags
    (default: the same as the script's ranges, for every video)."""
    base = root / folder
    for number, length in enumerate(train, start=1):
        write_images(base / "Train" / f"Train{number:03d}", [pixel(number, f) for f in range(length)])
    for number, length in enumerate(test, start=1):
        write_images(base / "Test" / f"Test{number:03d}", [pixel(10 + number, f) for f in range(length)])
    if masks is None:
        masks = {n: SCRIPT_LABELS[f"Test{n:03d}"] for n in range(1, len(test) + 1) if f"Test{n:03d}" in
                 SCRIPT_LABELS}
    for number, flags in masks.items():
        write_mask_folder(base / "Test" / f"Test{number:03d}_gt", flags, mask_name)
    if script is not None:
        (base / "Test" / f"{folder}.m").write_text(script)
    return base


def research_tree(root, test=TEST_LENGTHS, with_frames_folder=True, mode="RGB"):
    base = root / "ped2"
    for split, lengths, offset in (("training", TRAIN_LENGTHS, 0), ("testing", test, 10)):
        folder = base / split / "frames" if with_frames_folder else base / split
        for number, length in enumerate(lengths, start=1):
            write_images(folder / f"{number:02d}", [pixel(offset + number, f) for f in range(length)],
                         name="{:03d}.jpg", first=0, mode=mode)
    return base


def ped2(root, **options) -> UCSDPed2:
    return UCSDPed2("ucsd-ped2", UCSDOptions(data_root=str(root), **options))


def ped1(root, **options) -> UCSDPed1:
    return UCSDPed1("ucsd-ped1", UCSDOptions(data_root=str(root), **options))


def labels_of(dataset):
    return {v.id: v.labels.tolist() for v in dataset.videos("test")}


# ---- the official layout -----------------------------------------------------------------------------------------

def test_official_layout_reads_videos_frames_and_script_labels(tmp_path):
    official_tree(tmp_path)
    dataset = ped2(tmp_path)
    assert dataset.check() == []
    train, test = dataset.videos("train"), dataset.videos("test")
    assert [v.id for v in train] == ["Train001", "Train002"] and [len(v) for v in train] == list(TRAIN_LENGTHS)
    assert [v.id for v in test] == ["Test001", "Test002", "Test003"] and [len(v) for v in test] == list(TEST_LENGTHS)
    assert labels_of(dataset) == SCRIPT_LABELS
    assert all(v.labels is None for v in train)
    video = test[1]
    assert (video.info.height, video.info.width, video.info.channels, video.info.fps) == (HEIGHT, WIDTH, 1, 10.0)
    frames = video.read(2, 5)
    assert frames.shape == (3, HEIGHT, WIDTH, 1) and frames.dtype == np.uint8
    assert frames[:, 0, 0, 0].tolist() == [pixel(12, 2), pixel(12, 3), pixel(12, 4)]
    chunks = list(video.iter_chunks(4))
    assert [start for start, _ in chunks] == [0, 4] and chunks[1][1].shape[0] == 2
    assert video.read(6, 6).shape == (0, HEIGHT, WIDTH, 1)
    with pytest.raises(ValueError, match="out of range"):
        video.read(4, 7)


@pytest.mark.parametrize("where", ["parent", "archive", "itself"])
def test_data_root_may_be_the_parent_the_archive_folder_or_the_subset_folder(tmp_path, where):
    parent = tmp_path / "UCSD_Anomaly_Dataset.v1p2" if where == "archive" else tmp_path
    base = official_tree(parent)
    dataset = ped2(base if where == "itself" else tmp_path)
    assert dataset.check() == []
    assert dataset.scan.base == base and dataset.scan.layout == "official"


def test_frames_and_masks_are_ordered_by_number_not_by_name(tmp_path):
    # frame1.bmp ... frame12.bmp: sorted as text, frame10 would come second and shift every label after it.
    flags = [0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0]
    base = official_tree(tmp_path, test=(12,), script="TestVideoFile{end+1}.gt_frame = [10:11];",
                         masks={1: flags}, mask_name="frame{}.bmp")
    # Unpadded frame names too: 1.tif ... 12.tif.
    video_folder = base / "Test" / "Test001"
    for path in sorted(video_folder.iterdir()):
        path.rename(video_folder / f"{int(path.stem)}.tif")
    dataset = ped2(tmp_path, label_convention="mask")
    assert dataset.check() == []
    (video,) = dataset.videos("test")
    assert video.labels.tolist() == flags
    assert video.read(0, 12)[:, 0, 0, 0].tolist() == [pixel(11, f) for f in range(12)]


def test_mask_and_frame_conventions_read_different_sources(tmp_path):
    masks = {1: [0, 0, 1, 0, 0], 2: [0, 0, 0, 0, 0, 1], 3: [1, 1, 1, 1]}
    official_tree(tmp_path, masks=masks)
    assert labels_of(ped2(tmp_path)) == SCRIPT_LABELS
    by_mask = ped2(tmp_path, label_convention="mask")
    assert by_mask.check() == []
    assert labels_of(by_mask) == {f"Test{n:03d}": flags for n, flags in masks.items()}


def test_mask_convention_without_every_mask_names_the_first_video_without_one(tmp_path):
    official_tree(tmp_path, masks={1: SCRIPT_LABELS["Test001"]})
    problems = ped2(tmp_path, label_convention="mask").check()
    assert len(problems) == 1
    assert "Test002 has no Test002_gt folder (and 1 more test videos)" in problems[0]
    # The frame convention does not need masks; a Ped2 copy without them is only worth a note.
    dataset = ped2(tmp_path)
    assert dataset.check() == []
    assert any("Test002, Test003 have no pixel masks" in note for note in dataset.notes())


def test_macos_stray_files_are_ignored_everywhere(tmp_path):
    base = official_tree(tmp_path)
    for folder in (tmp_path, base, base / "Train", base / "Test", base / "Train" / "Train001",
                   base / "Test" / "Test002_gt"):
        (folder / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
        (folder / f"._{sorted(p.name for p in folder.iterdir())[0]}").write_bytes(b"\x00\x05\x16\x07garbage")
    (tmp_path / "__MACOSX" / "UCSDped2").mkdir(parents=True)
    (base / "Train" / "._Train003").mkdir()
    dataset = ped2(tmp_path)
    assert dataset.check() == []
    assert [len(v) for v in dataset.videos("train")] == list(TRAIN_LENGTHS)
    assert not any("DS_Store" in note or "._" in note for note in dataset.notes())


def test_ped1_reads_its_own_folder_and_needs_every_mask_only_for_the_mask_convention(tmp_path):
    official_tree(tmp_path, folder="UCSDped1", script=SCRIPT.replace("UCSD Ped2", "UCSD Ped1"),
                  masks={3: SCRIPT_LABELS["Test003"]})
    dataset = ped1(tmp_path)
    assert dataset.check() == []
    assert labels_of(dataset) == SCRIPT_LABELS
    # Ped1's official copy has masks for only some test videos: no note about the others.
    assert not any("pixel masks" in note for note in dataset.notes())
    problems = ped1(tmp_path, label_convention="mask").check()
    assert len(problems) == 1 and "UCSDped1/Test/Test001 has no Test001_gt folder" in problems[0]
    # The Ped2 loader pointed at a Ped1 copy says which dataset to use, whether given its parent or the folder.
    (problem,) = ped2(tmp_path).check()
    assert "no UCSDped2 files under" in problem and "use dataset 'ucsd-ped1'" in problem
    problems = ped2(tmp_path / "UCSDped1").check()
    assert problems[0] == (f"data root {tmp_path / 'UCSDped1'} is UCSDped1, not UCSDped2: use dataset 'ucsd-ped1', "
                           "or point --data-root at the right folder")


# ---- problems and notes ------------------------------------------------------------------------------------------

def test_missing_root_and_missing_split_folders_are_problems(tmp_path):
    (problem,) = ped2(tmp_path / "nowhere").check()
    assert problem.startswith(f"data root {tmp_path / 'nowhere'} does not exist")
    (tmp_path / "UCSDped2" / "Train").mkdir(parents=True)
    problems = ped2(tmp_path).check()
    assert any(p.startswith(f"missing folder {tmp_path / 'UCSDped2' / 'Test'}") for p in problems)
    with pytest.raises(DataError, match="missing folder"):
        ped2(tmp_path).videos("train")


def test_empty_video_folder_is_a_problem(tmp_path):
    base = official_tree(tmp_path)
    (base / "Train" / "Train003").mkdir()
    (base / "Train" / "Train003" / "._001.tif").write_bytes(b"junk")
    assert ped2(tmp_path).check() == [f"video folder {base / 'Train' / 'Train003'} is empty (no numbered frame "
                                      "images)"]


def test_unreadable_and_truncated_images_are_named(tmp_path):
    base = official_tree(tmp_path)
    truncated = base / "Train" / "Train002" / "003.tif"
    truncated.write_bytes(truncated.read_bytes()[:40])
    foreign = base / "Test" / "Test001_gt" / "002.bmp"
    foreign.write_text("not a bitmap")
    problems = ped2(tmp_path).check()
    assert len(problems) == 2
    assert problems[0].startswith(f"unreadable frame image {truncated}:")
    assert problems[1] == f"unreadable mask image {foreign}: not an image Pillow can read"


def test_a_frame_of_another_size_is_a_problem_and_a_failed_read_names_it(tmp_path):
    base = official_tree(tmp_path)
    odd = base / "Test" / "Test002" / "004.tif"
    Image.fromarray(np.zeros((HEIGHT, WIDTH + 1), dtype=np.uint8)).save(odd)
    assert ped2(tmp_path).check() == [f"frame {odd} is {HEIGHT}x{WIDTH + 1}, not {HEIGHT}x{WIDTH} (height x width) "
                                      "like the first frame of Test002"]
    video = ped2(tmp_path).videos("test")[1]
    with pytest.raises(DataError, match=f"frame {odd} is"):
        video.read(0, len(video))


def test_mask_count_different_from_frame_count_is_a_problem(tmp_path):
    base = official_tree(tmp_path)
    (base / "Test" / "Test003_gt" / "004.bmp").unlink()
    assert ped2(tmp_path).check() == [f"{base / 'Test' / 'Test003_gt'} has 3 masks for the 4 frames of Test003"]


def test_a_missing_frame_number_is_a_problem(tmp_path):
    base = official_tree(tmp_path)
    (base / "Train" / "Train002" / "002.tif").unlink()
    (problem,) = ped2(tmp_path).check()
    assert problem == f"{base / 'Train' / 'Train002'} has no frame 2: its images jump from 001.tif to 003.tif"


@pytest.mark.parametrize("script, expected", [
    ("TestVideoFile{end+1}.gt_frame = [2:3];\nTestVideoFile{end+1}.gt_frame = [1:7];\n"
     "TestVideoFile{end+1}.gt_frame = [4:4];", "line 2: gt_frame [1:7] of Test002 goes past its 6 frames"),
    (SCRIPT + "".join("TestVideoFile{end+1}.gt_frame = [1:2];\n" for _ in range(10)),
     "line 15: gt_frame for test video 13, which UCSDped2 does not have"),
    ("TestVideoFile{end+1}.gt_frame = [2:3];\nTestVideoFile{end+1}.gt_frame = [1:2];",
     "has no gt_frame for Test003 (it assigns test videos 1 to 2)"),
    ("TestVideoFile{end+1}.gt_frame = [2:3];\nTestVideoFile{end+1}.gt_frame = [1:two];\n",
     "line 2: cannot read '1:two'"),
    ("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "is a binary file, not the MATLAB ground-truth script"),
    ("function y = f(x)\n  y = x;\nend\n", "holds no gt_frame assignments"),
])
def test_script_problems_name_the_file_and_line(tmp_path, script, expected):
    base = official_tree(tmp_path, script=script)
    problems = ped2(tmp_path).check()
    assert len(problems) == 1, problems
    assert problems[0].startswith(str(base / "Test" / "UCSDped2.m")) and expected in problems[0]


def test_missing_script_is_a_problem_for_the_frame_convention_only(tmp_path):
    base = official_tree(tmp_path, script=None)
    (problem,) = ped2(tmp_path).check()
    assert problem.startswith(f"missing label file {base / 'Test' / 'UCSDped2.m'}")
    assert ped2(tmp_path, label_convention="mask").check() == []


def test_partial_copy_and_extra_files_are_notes(tmp_path):
    base = official_tree(tmp_path)
    (base / "Test" / "README.txt").write_text("my notes")
    (base / "Train" / "Train001" / "Thumbs.db").write_bytes(b"\x00")
    dataset = ped2(tmp_path)
    assert dataset.check() == []
    notes = dataset.notes()
    assert ("partial copy: train has 2 of the 16 UCSDped2 videos; missing Train003, Train004, Train005, Train006, "
            "Train007 and 9 more") in notes
    assert any(n.startswith("partial copy: test has 3 of the 12 UCSDped2 videos") for n in notes)
    assert f"anobench does not use these entries of {base / 'Test'}: README.txt" in notes
    assert any(f"e.g. {base / 'Train' / 'Train001' / 'Thumbs.db'}" in n for n in notes)
    assert f"5 videos are not 240x360 (height x width) like UCSDped2's, e.g. Train001 is {HEIGHT}x{WIDTH}" in notes


def test_videos_beyond_the_official_count_are_noted_and_labelled(tmp_path):
    lengths = (2,) * 13
    script = "".join(f"TestVideoFile{{end+1}}.gt_frame = [{1 + n % 2}:2];\n" for n in range(13))
    official_tree(tmp_path, test=lengths, script=script, masks={})
    dataset = ped2(tmp_path)
    assert dataset.check() == []
    assert "test videos Test013 are not in the official UCSDped2 (12 test videos)" in dataset.notes()
    assert labels_of(dataset)["Test013"] == [1, 1]


# ---- the MATLAB script parser ------------------------------------------------------------------------------------

def test_script_parser_reads_multi_ranges_and_whitespace_variants():
    text = ("TestVideoFile = {};\r\n"
            "TestVideoFile{end+1}.gt_frame = [61:180];\r\n"
            "TestVideoFile{ end + 1 }.gt_frame\t=\t[1:15 45:113]; % blank-separated\r\n"
            "TestVideoFile{end+1}.gt_frame = [1 : 15 , 45:113];\n"
            "TestVideoFile{end+1}.gt_frame = [5:90, ...\n    140:200];\n"
            "TestVideoFile{end+1}.gt_frame = 1:2:9;\n"
            "TestVideoFile{end+1}.gt_frame = [];  TestVideoFile{end+1}.gt_frame = [7];\n"
            "TestVideoFile{9}.gt_frame = [3:4]';\n")
    entries = parse_ground_truth_script(text, "UCSDped2.m")
    assert [e.index for e in entries] == [1, 2, 3, 4, 5, 6, 7, 9]
    assert entries[0].ranges == (FrameRange(61, 180),)
    assert entries[1].ranges == entries[2].ranges == (FrameRange(1, 15), FrameRange(45, 113))
    assert entries[3].ranges == (FrameRange(5, 90), FrameRange(140, 200)) and entries[3].line == 5
    assert entries[4].labels(10).tolist() == [1, 0, 1, 0, 1, 0, 1, 0, 1, 0]
    assert entries[5].ranges == () and entries[6].ranges == (FrameRange(7, 7),)
    assert entries[7].labels(5).tolist() == [0, 0, 1, 1, 0]
    assert entries[1].labels(120).sum() == 15 + 69


@pytest.mark.parametrize("text, message", [
    ("TestVideoFile{end+1}.gt_frame = [0:5];", "line 1: range 0:5 starts before frame 1"),
    ("TestVideoFile{end+1}.gt_frame = [9:5];", "line 1: range 9:5 is empty"),
    ("TestVideoFile{2}.gt_frame = [1:5];\nTestVideoFile{2}.gt_frame = [1:6];", "line 2: assigns gt_frame of "
                                                                               "test video 2 again (first at line 1)"),
    ("TestVideoFile{k}.gt_frame = [1:5];", "line 1: cannot read the index {k}"),
    ("gt_frame = [1:5];", "line 1: cannot read 'gt_frame = [1:5];'"),
    ("", "holds no gt_frame assignments"),
])
def test_script_parser_refuses_what_it_cannot_read_with_the_line(text, message):
    with pytest.raises(LabelFileError, match=message.replace("[", r"\[").replace("{", r"\{").replace("(", r"\(")
                       .replace(")", r"\)")):
        parse_ground_truth_script(text, "x.m")


def test_label_text_and_array_readers(tmp_path):
    (tmp_path / "01.txt").write_text("0\n1\n1,0 1\n")
    assert read_label_text(tmp_path / "01.txt").tolist() == [0, 1, 1, 0, 1]
    (tmp_path / "02.txt").write_text("0 0.5 1")
    with pytest.raises(LabelFileError, match="holds '0.5'"):
        read_label_text(tmp_path / "02.txt")
    np.save(tmp_path / "a.npy", np.array([[0, 1, 1]], dtype=np.int64))
    assert read_label_array(tmp_path / "a.npy").tolist() == [0, 1, 1]
    np.save(tmp_path / "b.npy", np.array([0, 2]))
    with pytest.raises(LabelFileError, match="values other than 0 and 1"):
        read_label_array(tmp_path / "b.npy")
    (tmp_path / "c.npy").write_bytes(b"garbage")
    with pytest.raises(LabelFileError, match="is not a readable .npy"):
        read_label_array(tmp_path / "c.npy")


# ---- the research layout -----------------------------------------------------------------------------------------

def test_research_layout_with_per_video_label_files(tmp_path):
    base = research_tree(tmp_path)
    (base / "testing" / "labels").mkdir()
    for number, (video_id, flags) in enumerate(SCRIPT_LABELS.items(), start=1):
        (base / "testing" / "labels" / f"{number:02d}.txt").write_text("\n".join(map(str, flags)))
    dataset = ped2(tmp_path)
    assert dataset.check() == []
    assert dataset.scan.layout == "research"
    assert [v.id for v in dataset.videos("train")] == ["01", "02"]
    assert list(labels_of(dataset).values()) == list(SCRIPT_LABELS.values())
    # RGB JPEGs of grey footage come back as one grey channel; JPEG may move a level by one or two.
    frames = dataset.videos("test")[2].read(0, 4)
    assert frames.shape == (4, HEIGHT, WIDTH, 1)
    assert np.abs(frames[:, 0, 0, 0].astype(int) - [pixel(13, f) for f in range(4)]).max() <= 2
    (base / "testing" / "labels" / "02.txt").write_text("0 1")
    (problem,) = ped2(tmp_path).check()
    assert problem == f"{base / 'testing' / 'labels' / '02.txt'} has 2 labels for the 6 frames of test video 02"


def test_research_layout_with_a_concatenated_label_array_or_a_copy_of_the_script(tmp_path):
    base = research_tree(tmp_path, with_frames_folder=False, mode="L")
    concatenated = np.concatenate([SCRIPT_LABELS[k] for k in sorted(SCRIPT_LABELS)])[None, :]
    np.save(base / "frame_labels_ped2.npy", concatenated)
    dataset = ped2(tmp_path)
    assert dataset.check() == []
    assert list(labels_of(dataset).values()) == list(SCRIPT_LABELS.values())
    (base / "UCSDped2.m").write_text(SCRIPT)
    dataset = ped2(tmp_path)
    assert dataset.scan.label_source.kind == "script"
    assert list(labels_of(dataset).values()) == list(SCRIPT_LABELS.values())
    assert any(f"{base / 'frame_labels_ped2.npy'} ignored" in note for note in dataset.notes())
    np.save(base / "frame_labels_ped2.npy", concatenated[:, :-1])
    (base / "UCSDped2.m").unlink()
    (problem,) = ped2(tmp_path).check()
    assert problem == (f"{base / 'frame_labels_ped2.npy'} has 14 labels for the 15 frames of the 3 test videos here "
                       "(and the official UCSDped2 has 2010)")


def test_a_full_length_label_array_is_split_by_the_official_video_lengths(tmp_path):
    # A partial research copy (videos 01 and 09 of Ped2) with the label file of the whole test set.
    base = tmp_path / "ped2"
    write_images(base / "training" / "frames" / "01", [0, 1], name="{:03d}.jpg", first=0)
    for number in (1, 9):
        write_images(base / "testing" / "frames" / f"{number:02d}", [0] * PED2.test_lengths[number - 1],
                     name="{:03d}.png", first=0)
    full = np.zeros(PED2.test_frames, dtype=np.uint8)
    starts = np.cumsum((0,) + PED2.test_lengths)
    full[starts[0] + 60:starts[1]] = 1  # Test001: [61:180]
    full[starts[8]:starts[9]] = 1  # Test009: [1:120]
    np.save(tmp_path / "frame_labels_ped2.npy", full)
    dataset = ped2(tmp_path)
    assert dataset.check() == []
    sums = {v.id: int(v.labels.sum()) for v in dataset.videos("test")}
    assert sums == {"01": 120, "09": 120}


def test_research_layout_problems(tmp_path):
    base = research_tree(tmp_path)
    (base / "ped2.mat").write_bytes(b"MATLAB 5.0 MAT-file")
    (problem,) = ped2(tmp_path).check()
    assert problem.startswith(f"no frame labels for the research layout in {base}")
    assert "ped2.mat is not read" in problem
    problems = ped2(tmp_path, label_convention="mask").check()
    assert problems == [f"label_convention=mask needs the pixel masks (TestNNN_gt folders) of the official layout; "
                        f"the research layout in {base} has none (use label_convention=frame)"]


def test_official_layout_wins_over_research_unless_chosen(tmp_path):
    official_tree(tmp_path)
    base = research_tree(tmp_path)
    np.save(base / "frame_labels_ped2.npy", np.zeros(sum(TEST_LENGTHS), dtype=np.uint8))
    dataset = ped2(tmp_path)
    assert dataset.scan.layout == "official"
    assert any(f"also found {base}, which is ignored" in note for note in dataset.notes())
    chosen = ped2(tmp_path, layout="research")
    assert chosen.check() == [] and chosen.scan.layout == "research"


# ---- fingerprint -------------------------------------------------------------------------------------------------

def test_fingerprint_follows_the_bytes_not_the_location(tmp_path):
    official_tree(tmp_path / "a")
    official_tree(tmp_path / "b" / "UCSD_Anomaly_Dataset.v1p2")
    first, second = ped2(tmp_path / "a").fingerprint(), ped2(tmp_path / "b").fingerprint()
    assert first == second
    assert first["layout"] == "official" and first["label_files"] == ["Test/UCSDped2.m"]
    assert first["files"] == sum(TRAIN_LENGTHS) + sum(TEST_LENGTHS) + 1
    assert first["test"] == {"videos": 3, "frames": 15, "abnormal_frames": 7}
    by_mask = ped2(tmp_path / "a", label_convention="mask").fingerprint()
    assert by_mask["listing_sha256"] != first["listing_sha256"] and by_mask["label_convention"] == "mask"
    # Same size, one grey level different: only the per-file crc32 can tell.
    frame = tmp_path / "a" / "UCSDped2" / "Train" / "Train001" / "002.tif"
    size = frame.stat().st_size
    Image.fromarray(np.full((HEIGHT, WIDTH), 200, dtype=np.uint8)).save(frame)
    assert frame.stat().st_size == size
    assert ped2(tmp_path / "a").fingerprint()["listing_sha256"] != first["listing_sha256"]


# ---- the plugin and the CLI --------------------------------------------------------------------------------------

def test_registered_lazily_and_data_root_from_option_env_or_default(tmp_path, monkeypatch):
    catalogue = get_catalogue()
    assert catalogue.get("dataset", "ucsd-ped2").target == "anobench_ucsd.dataset:UCSDPed2"
    assert catalogue.get("dataset", "ucsd-ped1").target == "anobench_ucsd.dataset:UCSDPed1"
    official_tree(tmp_path / "datasets" / "ucsd")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ANOBENCH_DATA_ROOT", raising=False)
    assert make_dataset("ucsd-ped2", [], None, catalogue).check() == []
    monkeypatch.setenv("ANOBENCH_DATA_ROOT", str(tmp_path / "elsewhere"))
    assert "elsewhere does not exist" in make_dataset("ucsd-ped2", [], None, catalogue).check()[0]
    dataset = make_dataset("ucsd-ped2", ["label_convention=mask"], str(tmp_path / "datasets" / "ucsd"), catalogue)
    assert dataset.check() == [] and dataset.label_convention == "mask"


runner = CliRunner()


def test_cli_data_check_prints_the_inventory(tmp_path):
    official_tree(tmp_path)
    result = runner.invoke(build_app(), ["data", "check", "ucsd-ped2", "--data-root", str(tmp_path)])
    assert result.exit_code == 0, result.output
    cells = [[cell.strip() for cell in line.split("│")[1:-1]] for line in result.stdout.splitlines()]
    rows = {row[0]: row[1:4] for row in cells if row and row[0] in ("train", "test")}
    assert rows == {"train": ["2", "7", "—"], "test": ["3", "15", "7"]}
    assert "partial copy: train has 2 of the 16 UCSDped2 videos" in result.stderr
    as_json = runner.invoke(build_app(), ["data", "check", "ucsd-ped2", "--data-root", str(tmp_path), "--json"])
    report = json.loads(as_json.stdout)
    assert report["splits"]["test"] == {"videos": 3, "frames": 15, "abnormal_frames": 7}
    assert report["problems"] == []


def test_cli_data_check_exits_2_naming_the_bad_file(tmp_path):
    base = official_tree(tmp_path)
    bad = base / "Test" / "Test002" / "005.tif"
    bad.write_bytes(bad.read_bytes()[:30])
    result = runner.invoke(build_app(), ["data", "check", "ucsd-ped2", "--data-root", str(tmp_path)])
    assert result.exit_code == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and f"unreadable frame image {bad}" in errors[0]
    assert "train" not in result.stdout  # no inventory of a copy that cannot be read
