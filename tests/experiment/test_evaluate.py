"""``optical eval``: a finished tiny run on a dataset, the shared frozen layers, the report, errors; Apertium."""

import json
import shutil

import numpy as np
import pytest
import torch

from optical.cli import main
from optical.distill import DualEncoder, ProjectedTextEncoder
from optical.errors import InputError
from optical.config import ExperimentConfig
from optical.experiment import apertium_translate, evaluate_run, run_experiment
from optical.experiment._ranking import encode_shared, shared_frozen_layers
from optical.results import RankSource, list_evaluations
from optical.store import create_run, load_run
from tests.fakes import png_bytes, tiny_text_encoder

needs_apertium = pytest.mark.skipif(shutil.which("apertium") is None,
                                    reason="Debian's apertium is not installed (apt-get install apertium apertium-eng-spa)")


def test_eval_on_the_runs_own_test_split_reproduces_its_ranks(finished_run, capsys):
    assert main(["eval", "done-run", "--dataset", "stamps", "--languages", "de,fr", "--name", "again"]) == 0
    out = capsys.readouterr().out
    folder = finished_run.path / "evals" / "again"
    assert {p.name for p in (folder / "ranks").iterdir()} == {"zero-shot.csv", "mse.csv", "optical.csv", "groups.json"}
    assert (folder / "ranks" / "groups.json").read_text() == (finished_run.path / "ranks" / "test" / "groups.json").read_text()
    own, _ = RankSource("test").load(finished_run)
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["distilled"] == ["de"] and metrics["languages"] == ["en", "de", "fr"]
    # the same models on the same split: the shared-prefix path gives the run's own ranks
    for method in ("zero-shot", "mse", "optical"):
        for lang in ("en", "de"):
            again = RankSource(evaluation="again").summarize([finished_run])
            assert metrics["results"][method][lang] == again["results"][method][lang]
            eval_line = (folder / "ranks" / f"{method}.csv").read_text().splitlines()
            own_line = (finished_run.path / "ranks" / "test" / f"{method}.csv").read_text().splitlines()
            assert [l for l in eval_line if l.startswith(lang + ",")] == [l for l in own_line if l.startswith(lang + ",")]
    assert len(own["optical"]["de"][0]) == metrics["results"]["optical"]["de"]["n_t2i"]
    assert "fr*" in out and "de*" not in out and "* not distilled on" in out
    assert list_evaluations(finished_run) == ["again"]
    assert (folder / "gallery.npy").is_file() and json.loads((folder / "gallery.json").read_text())["captions"]["fr"]
    capsys.readouterr()
    assert main(["report", "done-run", "--eval", "again"]) == 0
    report = capsys.readouterr().out
    assert "evaluated on stamps" in report and "fr*" in report


def test_eval_of_several_runs_is_a_study_over_their_seeds(finished_run, tiny_setup, capsys):
    second = ExperimentConfig.from_dict({**finished_run.config, "seed": 1})
    run_experiment(second, create_run(second.to_dict(), "done-run-s1"), progress=lambda f, m: None)
    assert main(["eval", "done-run", "done-run-s1", "--dataset", "stamps", "--languages", "de,fr", "--name", "two"]) == 0
    out = capsys.readouterr().out
    assert "run 1/2: done-run" in out and "run 2/2: done-run-s1" in out and "fr*" in out
    runs = [load_run("done-run"), load_run("done-run-s1")]
    study = RankSource(evaluation="two").summarize(runs)
    assert study["n_seeds"] == 2 and study["bootstrap"]["seeds_resampled"] and study["distilled"] == ["de"]
    for method in ("mse", "optical"):
        by_seed = [RankSource(evaluation="two").summarize([run])["results"][method]["de"]["metrics"]["mR"]
                   for run in runs]
        assert study["results"][method]["de"]["mR_by_seed"] == pytest.approx(by_seed)
        assert study["results"][method]["de"]["metrics"]["mR"] == pytest.approx(np.mean(by_seed))
    assert main(["report", "done-run", "done-run-s1", "--eval", "two"]) == 0
    assert "evaluated on stamps (evaluation 'two', 2 seeds)" in capsys.readouterr().out
    # a study's evaluations must be of one dataset and language list; every run must have it
    assert main(["eval", "done-run-s1", "--dataset", "stamps", "--languages", "de", "--name", "two"]) == 0
    capsys.readouterr()
    assert main(["report", "done-run", "done-run-s1", "--eval", "two"]) == 2
    assert "must be of one dataset and language list" in capsys.readouterr().err
    assert main(["report", "done-run", "done-run-s1", "--eval", "again"]) == 2
    assert "runs done-run, done-run-s1 have no evaluation 'again'" in capsys.readouterr().err
    # ... and be encoded in one precision
    assert main(["eval", "done-run-s1", "--dataset", "stamps", "--languages", "de,fr", "--name", "two",
                 "--precision", "bf16"]) == 0
    capsys.readouterr()
    assert main(["report", "done-run", "done-run-s1", "--eval", "two"]) == 2
    assert "were encoded in bf16 and fp32: evaluate them again with one --precision" in capsys.readouterr().err


def test_eval_in_bf16_is_recorded_said_and_close_to_fp32(finished_run, capsys):
    assert main(["eval", "done-run", "--dataset", "stamps", "--languages", "de", "--name", "half",
                 "--precision", "bf16", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "shared bottom layers run once) on cpu in bf16" in out
    assert "encoded in bf16 (--precision bf16): ranks may differ from fp32's at near-ties" in out
    settings = json.loads((finished_run.path / "evals" / "half" / "eval.json").read_text())
    assert (settings["device"], settings["precision"]) == ("cpu", "bf16")
    assert RankSource(evaluation="half").summarize([finished_run])["precision"] == "bf16"
    assert main(["report", "done-run", "--eval", "half"]) == 0
    assert "encoded in bf16" in capsys.readouterr().out
    # the embeddings bf16 autocast gives are those of fp32 up to rounding
    teacher = DualEncoder.load(finished_run.teacher_dir).eval()
    models = {"teacher": teacher, **{m: ProjectedTextEncoder.load(finished_run.student_dir(m), shared_text=teacher.text)
                                     for m in ("mse", "optical")}}
    texts = ["ein roter Apfel", "der Hund am Strand", "a red apple on a plate with a knife"]
    fp32 = encode_shared(models, texts, shared_frozen_layers(list(models.values())))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        bf16 = encode_shared(models, texts, shared_frozen_layers(list(models.values())))
    for name in models:
        assert not np.array_equal(fp32[name], bf16[name])  # autocast did run in bf16
        assert (fp32[name] * bf16[name]).sum(1).min() > 0.99
    # a device this machine lacks: a clear error, nothing written
    if not torch.cuda.is_available():
        assert main(["eval", "done-run", "--dataset", "stamps", "--name", "gpu", "--device", "cuda"]) == 2
        assert "--device cuda asked for, but torch sees no CUDA device here" in capsys.readouterr().err
        assert not (finished_run.path / "evals" / "gpu").exists()


def test_eval_takes_the_runs_languages_the_dataset_has_and_reads_de_DE_as_de(finished_run, capsys):
    config = {**finished_run.config, "languages": ["de", "km", "fr"]}  # the fake stamps have no Khmer
    (finished_run.path / "config.json").write_text(json.dumps(config))
    assert main(["eval", "done-run", "--dataset", "stamps", "--name", "default"]) == 0
    captured = capsys.readouterr()
    assert "note: stamps has no captions in km of the run's languages; evaluating en, de, fr" in captured.out
    settings = json.loads((finished_run.path / "evals" / "default" / "eval.json").read_text())
    assert settings["languages"] == ["en", "de", "fr"]
    assert "encoding captions" in captured.err  # tqdm's bar while the captions are encoded
    assert main(["eval", "done-run", "--dataset", "stamps", "--languages", "de_DE", "--name", "regional"]) == 0
    assert "note: stamps has no de-DE captions; evaluating de instead" in capsys.readouterr().out
    settings = json.loads((finished_run.path / "evals" / "regional" / "eval.json").read_text())
    assert settings["languages"] == ["en", "de"]
    assert main(["eval", "done-run", "--dataset", "stamps", "--languages", "de,km", "--name", "asked"]) == 2
    assert "has no captions in km to evaluate; drop it from --languages" in capsys.readouterr().err


def test_eval_refuses_unfinished_runs_and_bad_input(finished_run, capsys):
    with pytest.raises(InputError, match="no captions in xh|has no captions"):
        evaluate_run(finished_run, "stamps", languages=["xh"])
    assert main(["eval", "done-run", "--dataset", "captions"]) == 2
    assert "needs --root" in capsys.readouterr().err
    assert main(["eval", "done-run", "--dataset", "captions", "--root", "/nonexistent/folder"]) == 2
    assert "/nonexistent/folder" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # argparse names the datasets
        main(["eval", "done-run", "--dataset", "flickr"])
    finished_run.set_status(state="running", pid=None)
    with pytest.raises(InputError, match="finished run"):
        evaluate_run(finished_run, "stamps")
    assert main(["report", "done-run", "--eval", "nothing"]) == 2
    assert "no evaluation 'nothing'" in capsys.readouterr().err
    assert not (finished_run.path / "evals").exists()


def test_shared_frozen_layers_give_each_models_own_embeddings(capsys):
    teacher = tiny_text_encoder()
    from optical.distill._models import ProjectedTextEncoder

    base = ProjectedTextEncoder(teacher, 8)
    students = {"base": base}
    for seed in (1, 2):
        student = ProjectedTextEncoder(tiny_text_encoder(seed=0), 8)
        student.load_state_dict(base.state_dict())
        torch.manual_seed(seed)
        with torch.no_grad():  # only the top layer and the projection differ, as after distillation
            for p in [*student.text.model.encoder.layer[1].parameters(), *student.proj.parameters()]:
                p.add_(0.3 * torch.randn_like(p))
        students[f"s{seed}"] = student
    assert shared_frozen_layers(list(students.values())) == 1
    texts = ["ein roter apfel", "der hund", "ein roter apfel", "a dog on the beach with a ball"]
    students["s1"].train()  # encoding runs in eval mode, then gives each model its own mode back
    students["s2"].eval()
    shared = encode_shared(students, texts, 1, batch_size=2)
    assert students["s1"].training and not students["s2"].training
    for name, model in students.items():
        np.testing.assert_allclose(shared[name], model.encode(texts).numpy(), atol=1e-5)
    assert not np.allclose(shared["s1"], shared["s2"])
    different = ProjectedTextEncoder(tiny_text_encoder(seed=3), 8)
    assert shared_frozen_layers([base, different]) == 0
    # a progress bar (the CLI's) changes nothing that is computed, with shared layers or without
    many = [f"caption number {i} " + "x" * (i % 7) for i in range(1100)]
    for n_frozen in (1, 0):
        quiet = encode_shared(students, many, n_frozen)
        shown = encode_shared(students, many, n_frozen, progress=True)
        assert all(np.array_equal(quiet[name], shown[name]) for name in students)
    assert "encoding captions" in capsys.readouterr().err


@needs_apertium
def test_apertium_translates_in_batches_and_caches_by_text(tmp_path, monkeypatch):
    monkeypatch.setenv("OPTICAL_CACHE", str(tmp_path))
    out = apertium_translate(["Un perro rojo en la playa.", "El gato", "Un perro rojo en la playa."], "spa-eng")
    assert out == ["A red dog in the beach.", "The cat", "A red dog in the beach."]
    from optical.experiment import _apertium

    monkeypatch.setattr(_apertium, "_call", lambda *a: pytest.fail("a cached text went to apertium again"))
    assert apertium_translate(["El gato"], "spa-eng") == ["The cat"]
    assert (tmp_path / "mt" / "apertium" / "spa-eng.json").is_file()


@needs_apertium
def test_eval_translate_test_with_apertium_on_a_captions_folder(finished_run, tmp_path, capsys):
    from optical.experiment import apertium_pair

    if apertium_pair("es") is None:
        pytest.skip("the apertium-eng-spa pair is not installed (apt-get install apertium-eng-spa)")
    folder = tmp_path / "mine"
    (folder / "images").mkdir(parents=True)
    rows = ["image\tlang\tcaption"]
    words = [("perro", "dog", "Hund"), ("gato", "cat", "Katze"), ("casa", "house", "Haus"), ("playa", "beach", "Strand")]
    for i, (es, en, de) in enumerate(words):
        (folder / "images" / f"{en}.png").write_bytes(png_bytes((40 * i, 200 - 40 * i, 90)))
        rows += [f"{en}.png\ten\tThe {en}.", f"{en}.png\tes\tEl {es}.", f"{en}.png\tde\tDer {de}."]
    (folder / "captions.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    assert main(["eval", "done-run", "--dataset", "captions", "--root", str(folder), "--languages", "es,de",
                 "--mt", "apertium"]) == 0
    out = capsys.readouterr().out
    metrics = json.loads((finished_run.path / "evals" / "captions" / "metrics.json").read_text())
    assert set(metrics["results"]["translate-test"]) == {"en", "es"}
    assert "no Apertium pair de -> English" in out and "translate-test: no rows for de" in out
    assert "es*" in out and metrics["distilled"] == ["de"]


def test_translate_test_takes_apertium_or_a_model_and_nothing_else(tiny_setup):
    tiny_setup["methods"] = ["zero-shot", "translate-test"]
    with pytest.raises(InputError, match="--mt apertium"):
        ExperimentConfig.from_dict(tiny_setup)
    assert ExperimentConfig.from_dict({**tiny_setup, "mt": "apertium"}).mt == "apertium"
    with pytest.raises(InputError, match="mt must be one of"):
        ExperimentConfig.from_dict({**tiny_setup, "mt": "google"})
