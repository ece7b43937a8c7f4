"""The app's library side (no streamlit): queries, run reading, search, caption ranking, plans, the launcher."""

from __future__ import annotations

import io
import json
import shutil
import sys

import numpy as np
import pytest
from PIL import Image

from optical import explore
from optical.errors import InputError, OpticalError
from optical.evaluate import disparity
from optical.results import recall_table, summarize_seed
from optical.store import TEACHER_TRAINING, RunFormatError, load_run
from tests.app.fixtures import STAMPS, TINY_TEACHER_KEY
from tests.fakes import huge_png, png_bytes


def test_clean_query_keeps_any_script_and_explains_changes():
    assert explore.clean_query("  ein roter Apfel ").text == "ein roter Apfel"
    assert explore.clean_query("🍎").text == "🍎"
    assert explore.clean_query("تفاحة حمراء").text == "تفاحة حمراء"
    long = explore.clean_query("x" * 10_000)
    assert len(long.text) == explore.MAX_QUERY_CHARS and "10,000 characters" in long.notice
    for blank in ("", None, "   ", "\u200f\u200b", "\n\t"):
        with pytest.raises(InputError, match="empty"):
            explore.clean_query(blank)


def test_describe_runs_reports_every_state(cache):
    infos = {info.run_id: info for info in explore.describe_runs()}
    assert infos["tiny"].state == "done" and infos["tiny"].has_results
    assert infos["tiny"].methods_done == ["zero-shot", "mse", "optical"]
    assert infos["failed"].state == "failed" and "out of memory" in infos["failed"].error
    assert infos["interrupted"].state == "interrupted"
    assert infos["old-format"].state == "unreadable" and "format 0" in infos["old-format"].error
    assert not infos["no-metrics"].has_results


def test_describe_runs_names_why_a_runs_metrics_do_not_read(cache, tmp_path):
    shutil.copytree(cache / "runs" / "tiny", tmp_path / "runs" / "tiny",
                    ignore=shutil.ignore_patterns("teacher", "students"))
    (tmp_path / "runs" / "tiny" / "metrics.json").write_text(json.dumps({"format": 2}))
    (info,) = explore.describe_runs(tmp_path / "runs")
    assert info.state == "done" and info.has_results
    assert "metrics.json: not a metrics file this version reads (format 2, expected 1" in info.metrics_error
    assert info.problem == info.metrics_error  # the Home runs table's "problem" column
    infos = {i.run_id: i for i in explore.describe_runs()}
    assert infos["tiny"].problem == "" and infos["tiny"].metrics_error is None
    assert "out of memory" in infos["failed"].problem and "no metrics.json" in infos["no-metrics"].problem
    (info,) = explore.describe_runs(tmp_path / "runs", check_metrics=False)  # the job panel's cheap poll
    assert info.metrics_error is None


def test_run_metrics_rejects_foreign_files(cache, tmp_path):
    run = load_run("tiny")
    assert run.metrics()["methods"] == ["zero-shot", "mse", "optical"]
    copy = tmp_path / "copy"
    copy.mkdir()
    for name in ("status.json", "config.json"):
        (copy / name).write_text((run.path / name).read_text())
    (copy / "metrics.json").write_text(json.dumps({"results": {}}))
    with pytest.raises(RunFormatError, match="missing keys: languages, methods, resource"):
        load_run(copy).metrics()
    (copy / "metrics.json").write_text(json.dumps({**run.metrics(), "format": 2}))
    with pytest.raises(RunFormatError, match="format 2, expected 1"):
        load_run(copy).metrics()


def test_default_run_is_the_newest_readable_finished_one(cache, tmp_path):
    infos = {info.run_id: info for info in explore.describe_runs()}
    tiny, failed = infos["tiny"], infos["failed"]
    broken = explore.RunInfo("broken", tmp_path, "done", has_results=True)  # newest, done, metrics.json unreadable
    (tmp_path / "metrics.json").write_text(json.dumps({"format": 2}))
    assert explore.default_run([broken, failed, tiny]) is tiny
    assert explore.default_run([broken, failed]) is broken  # none readable: the newest with results
    assert explore.default_run([failed, infos["no-metrics"]]) is failed


def test_resource_fit_matches_the_disparity_slope(cache):
    metrics = load_run("tiny").metrics()
    points, fits = explore.resource_fit(recall_table(metrics))
    assert "en" not in set(points["language"]) and "zu" not in set(points["language"])  # reference; unseen
    for fit in fits.itertuples():
        mr = {lang: r["metrics"]["mR"] for lang, r in metrics["results"][fit.method].items()}
        assert fit.slope == pytest.approx(disparity(mr)["slope_log_size"])


def test_describe_teacher_names_towers_data_layers_key_and_best_epoch(cache):
    facts = explore.describe_teacher(load_run("tiny"))
    assert facts["teacher key"] == TINY_TEACHER_KEY
    assert facts["best epoch"] == "3 of 5 run, English val mR 41.3"
    assert facts["training data"] == "dataset" and facts["image encoder"].endswith("tiny-clip")
    assert facts["text encoder"].endswith("tiny-text")
    assert facts["trained layers"] == "teacher top 4 layers + heads, students top 4 layers + heads"


def test_describe_teacher_of_a_pretrained_clip_teacher_and_of_an_unrecorded_epoch(cache, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(load_run("tiny").path, copy)
    (copy / "teacher" / TEACHER_TRAINING).unlink()  # a teacher stored before training.json was recorded
    assert explore.describe_teacher(load_run(copy))["best epoch"] == "not recorded"
    config = json.loads((copy / "config.json").read_text())
    assert "student encoder" not in explore.describe_teacher(load_run(copy))
    (copy / "config.json").write_text(json.dumps({**config, "teacher_model": "clip:openai/clip-vit-base-patch32",
                                                  "teacher_train_layers": 0, "student_encoder": "xlm-roberta-base"}))
    facts = explore.describe_teacher(load_run(copy))
    assert facts["teacher"].startswith("pretrained CLIP openai/clip-vit-base-patch32, used as is")
    assert facts["student encoder"] == "xlm-roberta-base + a new projection"
    assert "best epoch" not in facts and "training data" not in facts
    assert facts["trained layers"] == "students top 4 layers + heads"


def test_teacher_recall_lists_the_test_split_then_every_evaluation(cache, tmp_path):
    run = load_run("tiny")
    table = explore.teacher_recall(run)
    assert list(table.columns) == ["dataset", "English mR [lo, hi]", "languages"]
    assert list(table["dataset"]) == ["test split (stamps)", "drawings (art4apps)"]
    test = run.metrics()["results"]["zero-shot"]["en"]
    drawings = json.loads((run.path / "evals" / "drawings" / "metrics.json").read_text())["results"]["zero-shot"]["en"]
    for cell, result in zip(table["English mR [lo, hi]"], (test, drawings)):
        lo, hi = result["ci"]["mR"]
        assert cell == f"{result['metrics']['mR']:.1f} [{lo:.1f}, {hi:.1f}]"
    assert list(table["languages"]) == ["en, de, fr, ga, zu", "en, de, lkt"]

    copy = tmp_path / "run"
    shutil.copytree(run.path, copy)
    rng = np.random.default_rng(0)
    german = summarize_seed({m: {"de": (rng.integers(0, 4, 4), rng.integers(0, 4, 4))} for m in ("zero-shot", "mse")},
                       n_boot=20, seed=0)
    (copy / "evals" / "german").mkdir()
    (copy / "evals" / "german" / "metrics.json").write_text(json.dumps({**german, "dataset": "captions"}))
    students = summarize_seed({"mse": {"en": (rng.integers(0, 4, 4), rng.integers(0, 4, 4))}}, n_boot=20, seed=0)
    (copy / "evals" / "students").mkdir()
    (copy / "evals" / "students" / "metrics.json").write_text(json.dumps({**students, "dataset": "art4apps"}))
    (copy / "evals" / "broken").mkdir()
    (copy / "evals" / "broken" / "metrics.json").write_text("{")
    table = explore.teacher_recall(load_run(copy)).set_index("dataset")["English mR [lo, hi]"]
    assert list(table.index) == ["test split (stamps)", "broken", "drawings (art4apps)", "german (captions)",
                                 "students (art4apps)"]
    assert table["broken"].startswith("unreadable: ") and "not JSON" in table["broken"]
    assert table["german (captions)"] == "no English captions"
    assert table["students (art4apps)"] == "not evaluated (no zero-shot method)"


def test_search_images_ranks_the_gallery_and_times_itself(cache):
    run = load_run("tiny")
    models, gallery = explore.load_models(run), explore.load_gallery(run)
    assert set(models.text_models) == {"zero-shot", "mse", "optical"}
    shared = models.teacher.text.model.get_input_embeddings()
    assert all(s.text.model.get_input_embeddings() is shared for s in models.students.values())
    result = explore.search_images(models.students["optical"], "der hund", gallery.index, k=3)
    query = models.students["optical"].encode(["der hund"]).numpy()[0]
    expected = np.argsort(-(gallery.embeddings @ query))[:3]
    np.testing.assert_array_equal(result.indices, expected)
    assert np.all(np.diff(result.scores) <= 0) and result.latency_ms >= result.search_ms > 0
    assert gallery.relevant(0) == {0, 1}  # two apples, one caption group
    assert [pair[2] for pair in gallery.test_pairs("de")] == list(range(len(STAMPS)))


def test_gallery_that_disagrees_with_its_embeddings_is_rejected(cache, tmp_path):
    run = load_run("tiny")
    copy = tmp_path / "run"
    copy.mkdir()
    for name in ("status.json", "config.json", "gallery.json"):
        (copy / name).write_text((run.path / name).read_text())
    np.save(copy / "gallery.npy", np.zeros((2, 16), dtype=np.float32))
    with pytest.raises(RunFormatError, match="shape"):
        explore.load_gallery(load_run(copy))
    (copy / "gallery.npy").unlink()
    with pytest.raises(RunFormatError, match="missing"):
        explore.load_gallery(load_run(copy))


def test_models_of_an_incomplete_run_raise_a_clear_error(cache):
    with pytest.raises(OpticalError, match="no teacher"):
        explore.load_models(load_run("no-metrics"))


def test_uploaded_image_ranks_captions_per_method(cache):
    from optical.encoders import create_image_encoder

    run = load_run("tiny")
    models, gallery = explore.load_models(run), explore.load_gallery(run)
    image = explore.read_image(png_bytes(alpha=True), "apple.png")
    assert image.mode == "RGB" and image.getpixel((0, 0)) == (255, 255, 255)  # transparency onto white
    encoder = create_image_encoder(run.config["image_encoder"])
    embedding = explore.embed_image(image, encoder, models.teacher)
    assert embedding.shape == (1, 16)
    captions = {m: model.encode(gallery.captions["de"]["texts"]).numpy() for m, model in models.text_models.items()}
    ranked = explore.rank_captions(image, encoder, models.teacher, captions, k=2)
    assert set(ranked) == {"zero-shot", "mse", "optical"}
    for method, result in ranked.items():
        scores = captions[method] @ embedding[0]  # (Q,)
        np.testing.assert_allclose(result.scores, np.sort(scores)[::-1][:2], atol=1e-5)  # ties may swap indices
        np.testing.assert_allclose(scores[result.indices], result.scores, atol=1e-5)
        assert result.latency_ms > result.search_ms
    for data in (b"", b"GIF89a but not really", b"%PDF-1.4"):
        with pytest.raises(InputError, match="notes.pdf"):
            explore.read_image(data, "notes.pdf")


def test_plan_for_pair_matches_the_saved_sample(cache):
    run = load_run("tiny")
    models = explore.load_models(run)
    saved = next(p for p in run.plans() if p["method"] == "optical")
    sample = explore.plan_for_pair(models.students["optical"], models.teacher, saved["foreign"], saved["english"], run.config)
    np.testing.assert_allclose(sample["plan"], saved["plan"], atol=1e-6)
    assert sample["loss"] == pytest.approx(saved["loss"], abs=1e-6)
    top = explore.top_alignments(sample, k=3)
    plan = np.asarray(sample["plan"])
    assert top[0]["mass"] == pytest.approx(plan.max() / plan.sum())
    assert [t["mass"] for t in top] == sorted((t["mass"] for t in top), reverse=True)
    assert explore.axis_labels(["[UNK]", "[UNK]"]) == ["0 [UNK]", "1 [UNK]"]

    # a config.json from before the ``ot`` section (flat keys) gives the same plan
    old = {k: v for k, v in run.config.items() if k != "ot"}
    old.update(ot_reg=run.config["ot"]["reg"], ot_cost=run.config["ot"]["cost"], ot_iters=run.config["ot"]["n_iter"],
               mse_weight=run.config["ot"]["mse_weight"])
    again = explore.plan_for_pair(models.students["optical"], models.teacher, saved["foreign"], saved["english"], old)
    assert again["plan"] == sample["plan"]
    bent = {**old, "ot_reg": 0.5}
    other = explore.plan_for_pair(models.students["optical"], models.teacher, saved["foreign"], saved["english"], bent)
    assert other["plan"] != sample["plan"]  # the old keys are read, not ignored
    assert explore.axis_labels(["<s>", "▁hund", "</s>"]) == ["0 ‹s›", "1 ▁hund", "2 ‹/s›"]


def test_parse_progress_takes_the_last_progress_line():
    lines = ["run folder: x", "[  0%] encoding images", "Epoch 1: 50%|###", "[ 25%] method zero-shot", "done?"]
    assert explore.parse_progress(lines) == (0.25, "method zero-shot")
    assert explore.parse_progress(["nothing yet"]) is None


def test_experiment_commands_prepare_then_run():
    prepare, run = explore.experiment_commands("quick", "r1", python="py")
    assert prepare == ["py", "-m", "optical", "prepare"]
    assert run == ["py", "-m", "optical", "run", "--preset", "quick", "--run-id", "r1"]
    assert explore.experiment_commands("full", "r2", python="py")[0] == ["py", "-m", "optical", "prepare", "--with",
                                                                        "openclipart"]


def _python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_job_runs_commands_in_order_and_reads_progress(tmp_path):
    job = explore.ExperimentJob(
        "j", [_python("print('prepared')"), _python("print('[ 50%] half\\r[100%] done')")], tmp_path / "j.log"
    ).start()
    assert job.wait(60) == "done" and job.returncode == 0
    assert job.progress() == (1.0, "done")
    assert "prepared" in job.log_lines()[1]


def test_job_stops_at_the_first_failure(tmp_path):
    job = explore.ExperimentJob("j", [_python("raise SystemExit(3)"), _python("print('never')")], tmp_path / "j.log")
    assert job.start().wait(60) == "failed" and job.returncode == 3
    assert not any("never" in line for line in job.log_lines())
    assert job.progress()[1] == "preparing the offline assets"


def test_job_can_be_stopped(tmp_path):
    job = explore.ExperimentJob("j", [_python("import time; time.sleep(60)")], tmp_path / "j.log").start()
    job.stop()
    assert job.wait(30) == "stopped"


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")  # PIL's own warning above 89 MP
@pytest.mark.parametrize("side", [12_000, 20_000])
def test_huge_upload_is_refused_before_decoding_saying_the_limit(side, monkeypatch):
    data = huge_png(side, side)
    assert len(data) < 1_000_000
    Image.init()  # registers every format plugin (some build small images as they are imported)
    monkeypatch.setattr(Image.Image, "load", lambda self: pytest.fail("decoded a huge image"))
    with pytest.raises(InputError, match=f"huge.png: image too large: {side:,} x {side:,} pixels, the limit is "
                                         f"{explore.MAX_UPLOAD_PIXELS:,} pixels"):
        explore.read_image(data, "huge.png")


def test_large_uploads_are_downscaled_and_a_large_jpeg_is_decoded_at_reduced_scale(monkeypatch):
    jpeg = io.BytesIO()
    Image.new("L", (8000, 6000), 128).save(jpeg, format="JPEG")  # 48 MP: over the limit at full scale
    decoded = []
    load = Image.Image.load
    monkeypatch.setattr(Image.Image, "load", lambda self: decoded.append(self.size) or load(self))
    image = explore.read_image(jpeg.getvalue(), "photo.jpg")
    assert image.mode == "RGB" and max(image.size) == 1024 and image.size == (1024, 768)
    assert max(w * h for w, h in decoded) <= 2000 * 1500  # drafted at 1/4 scale, never decoded in full
    png = explore.read_image(huge_png(3000, 1500), "wide.png")
    assert png.size == (1024, 512) and png.getpixel((0, 0)) == (255, 255, 255)
