"""anobench report: a self-contained HTML page (images inlined) with the leaderboard and per-video AUROCs."""

from __future__ import annotations

import re

import pytest

from bench_core.breakdowns import per_video
from bench_core.report import build_report
from bench_core.results import ResultsFolder, events_from_dataset_plugin
from test_plots import PNG_MAGIC, toy_run
from test_sweep import invoke

pytestmark = pytest.mark.usefixtures("toy_plugin")


def test_per_video_auroc_from_the_scores_files_by_the_runs_scorer(tmp_path):
    good = toy_run(tmp_path, 0)
    flipped = toy_run(tmp_path, 0, ["scale=-1"])
    assert set(per_video(good)) == {"frame_auroc"}  # the frame scorer's breakdown metric
    assert set(per_video(good)["frame_auroc"]) == {"test0", "test1", "test2"}
    assert all(v == pytest.approx(1.0) for v in per_video(good)["frame_auroc"].values())
    assert all(v == pytest.approx(0.0) for v in per_video(flipped)["frame_auroc"].values())


def test_a_report_of_a_results_folder(tmp_path):
    for seed in (0, 1):
        toy_run(tmp_path / "r", seed)
    toy_run(tmp_path / "r", 0, ["scale=-1"])
    index = build_report(tmp_path / "r", tmp_path / "report")
    page = index.read_text()
    assert page.startswith("<!DOCTYPE html>") and "Leaderboard" in page and "Per-video Frame AUROC" in page
    images = re.findall(r"src='data:image/png;base64,([A-Za-z0-9+/=]+)'", page)
    # per dataset: ROC bands (linear, log FPR) and 3 overlaid videos; then each run's: ROC (two views), 3 videos each
    assert len(images) == 2 + 3 + 2 + 3 * 3
    assert "src='http" not in page and "<script" not in page  # nothing fetched when opened
    assert (tmp_path / "report" / "roc.png").read_bytes().startswith(PNG_MAGIC)
    # the flipped detector fails on every video: its per-video cells are marked
    assert page.count("class='bad'>0.000") == 3


def test_the_report_command_on_one_run(tmp_path):
    record = toy_run(tmp_path / "r")
    result = invoke("report", record["_path"], "--out", str(tmp_path / "rep"))
    assert result.exit_code == 0, result.output
    page = (tmp_path / "rep" / "index.html").read_text()
    assert "Leaderboard" not in page and page.count("data:image/png;base64,") == 5  # ROC, log-FPR ROC, 3 videos
    metrics = page[page.index("<h2>Metrics</h2>"):page.index("<h2>Per-video")]  # a one-run report has them too
    assert "AUPR" in metrics and "EER" in metrics
    missing = invoke("report", str(tmp_path / "nothing"), "--out", str(tmp_path / "rep2"))
    assert missing.exit_code == 2 and "no such run or results folder" in missing.output


def test_a_report_splits_the_auroc_by_kind_where_the_dataset_names_kinds(tmp_path, monkeypatch):
    from toy_plugin import ToyDataset

    toy_run(tmp_path / "r", 0)
    toy_run(tmp_path / "r", 0, ["scale=-1"])
    plain = build_report(tmp_path / "r", tmp_path / "plain").read_text()
    assert "by kind of anomaly" not in plain  # the toy names no kinds

    def record_extras(self, view, test_videos):
        return {"events": {v.id: [{"kind": "square", "start": 0, "stop": len(v.labels)}] for v in test_videos}}

    monkeypatch.setattr(ToyDataset, "record_extras", record_extras)
    # Records from before their dataset recorded kinds: the kinds come from asking the plugin again, as the CLI does.
    assert "by kind of anomaly" not in build_report(tmp_path / "r", tmp_path / "unasked").read_text()
    page = build_report(ResultsFolder(tmp_path / "r", events_from_dataset_plugin), tmp_path / "kinds").read_text()
    assert "Frame AUROC by kind of anomaly" in page and "<th>square</th>" in page
    # The flipped detector misses the only kind, the other catches it.
    assert "class='bad'>0.000" in page and "class='good'>1.000" in page
    # Records that hold their kinds need no plugin.
    toy_run(tmp_path / "recorded", 0)
    toy_run(tmp_path / "recorded", 0, ["scale=-1"])
    page = build_report(tmp_path / "recorded", tmp_path / "recorded-kinds").read_text()
    assert "<th>square</th>" in page and "class='bad'>0.000" in page and "class='good'>1.000" in page


def test_a_big_report_keeps_to_one_plot_per_video_with_sections_per_dataset(tmp_path, monkeypatch):
    import re

    from bench_core import report
    from bench_core.run import RunRequest, run

    for data_seed in (0, 1):
        for settings in ([], ["scale=-1"]):
            run(RunRequest(detector="toy-detector", dataset="toy-dataset", seed=0, device="cpu", out=tmp_path / "r",
                           settings=settings, data_options=[f"seed={data_seed}"]))
    monkeypatch.setattr(report, "EACH_RUN_LIMIT", 2)  # 4 runs count as many here
    page = build_report(tmp_path / "r", tmp_path / "report").read_text()
    assert "href='#data0'" in page and "href='#data1'" in page  # a table of contents
    assert "<h2 id='data1'>toy-dataset (seed=1)</h2>" in page  # named by the option that tells the sets apart
    images = re.findall(r"src='data:image/png;base64,", page)
    assert len(images) == 2 * (2 + 3)  # per dataset: 2 ROC views and 3 videos with both detectors overlaid
    assert "--each-run" in page and not (tmp_path / "report" / "roc.png").exists()


def test_values_with_html_special_characters_are_escaped(tmp_path, monkeypatch):
    import json
    from pathlib import Path

    from toy_plugin import ToyDataset

    def record_extras(self, view, test_videos):
        return {"events": {v.id: [{"kind": "<i>square</i>", "start": 0, "stop": len(v.labels)}]
                           for v in test_videos}}

    monkeypatch.setattr(ToyDataset, "record_extras", record_extras)
    source = tmp_path / "<script>r"
    record = toy_run(source, 0)
    path = Path(record["_path"]) / "record.json"
    saved = json.loads(path.read_text())
    saved["run_id"] = "<b>run</b>"
    saved["preset"] = "<b>preset</b>"
    path.write_text(json.dumps(saved))
    page = build_report(source, tmp_path / "report").read_text()
    assert "<b>" not in page and "<i>" not in page and "<script" not in page
    assert "<code>&lt;b&gt;run&lt;/b&gt;</code>" in page  # the run id, as text
    assert "<td>&lt;b&gt;preset&lt;/b&gt;</td>" in page  # the preset in the metrics table
    assert "<th>&lt;i&gt;square&lt;/i&gt;</th>" in page  # a kind's name
    assert "<code>" + str(source).replace("<", "&lt;").replace(">", "&gt;") + "</code>" in page
