"""No silent garbage in a run: NaN embeddings, a NaN training loss and an OT mask that keeps no token each end the
run marked failed with one line naming the model (and step, or caption), never a perfect score or a traceback."""

import json

from optical.cli import main
from optical.experiment import _runner
from optical.store import load_run


def _write_config(tmp_path, config: dict):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    return str(path)


def test_nan_caption_embeddings_fail_the_run_naming_the_method(tiny_setup, tmp_path, monkeypatch, capsys):
    tiny_setup["methods"] = ["zero-shot"]
    encoder = _runner._encoder

    def damaged(method, *args):  # what damaged text weights give: NaN for every caption
        encode = encoder(method, *args)
        return lambda texts, lang: encode(texts, lang) * float("nan")

    monkeypatch.setattr(_runner, "_encoder", damaged)
    assert main(["run", "--config", _write_config(tmp_path, tiny_setup), "--run-id", "nan"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error: zero-shot: the en caption embeddings: ") and "rows hold NaN" in err
    run = load_run("nan")
    assert run.state == "failed" and run.status["error"] == "NonFiniteError: " + err.removeprefix("error: ")
    assert not (run.path / "metrics.json").exists() and not (run.path / "plans.json").exists()


def test_a_nan_training_loss_fails_the_run_at_its_step_and_resume_continues(tiny_setup, tmp_path, monkeypatch,
                                                                            capsys):
    tiny_setup["methods"] = ["mse"]
    tiny_setup["student"].update(epochs=2, patience=2)
    checkpoint = tmp_path / "cache" / "runs" / "diverges" / "work" / "mse" / "checkpoint"
    create = _runner.method_loss

    def diverging(method, config):  # NaN once the first epoch's checkpoint exists, i.e. from epoch 2 on
        loss = create(method, config)
        loss.register_forward_hook(lambda module, args, value: value * float("nan") if checkpoint.is_dir() else None)
        return loss

    with monkeypatch.context() as patch:
        patch.setattr(_runner, "method_loss", diverging)
        assert main(["run", "--config", _write_config(tmp_path, tiny_setup), "--run-id", "diverges"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error: mse: the training loss is nan at epoch 2/2, step 1/")
    assert "the checkpoint of epoch 1" in err and "kept for --resume" in err
    run = load_run("diverges")
    assert run.state == "failed" and run.status["error"] == "NonFiniteError: " + err.removeprefix("error: ")
    assert json.loads((checkpoint / "trainer_state.json").read_text())["epoch"] == 1
    assert main(["run", "--resume", "diverges"]) == 0  # the cause gone, it continues from epoch 2
    assert "mse epoch 1/2" not in capsys.readouterr().err
    run = load_run("diverges")
    assert run.state == "done" and run.status["students"]["mse"]["epochs_run"] == 2


def test_a_caption_with_no_token_under_ot_tokens_content_fails_before_training(tiny_setup, tmp_path, capsys):
    bitext = tmp_path / "extra.tsv"
    bitext.write_text("a snowman\t☃\na red stamp\tein rote marke\n", encoding="utf-8")  # ☃: [CLS] [UNK] [SEP]
    tiny_setup.update(methods=["mse", "optical"], bitext={"de": str(bitext)})
    tiny_setup["ot"]["tokens"] = "content"
    assert main(["run", "--config", _write_config(tmp_path, tiny_setup), "--run-id", "no-token"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error: --ot-tokens content leaves no token to transport in 1 bitext caption(s) that "
                          "optical would train on: '☃' (de);")
    run = load_run("no-token")
    assert run.state == "failed" and "'☃' (de)" in run.status["error"]
    assert not (run.path / "work" / "mse").exists() and not (run.path / "work" / "optical").exists()


def test_eval_of_a_run_with_damaged_student_weights_names_the_method(stamps_setup, capsys):
    from safetensors.torch import load_file, save_file

    from optical.config import ExperimentConfig
    from optical.experiment import run_experiment
    from optical.store import create_run

    stamps_setup.update(languages=["de"], methods=["zero-shot", "mse"])
    stamps_setup["student"]["epochs"] = 1
    config = ExperimentConfig.from_dict(stamps_setup)
    run = create_run(config.to_dict(), "damaged")
    run_experiment(config, run, progress=lambda f, m: None)
    weights = run.student_dir("mse") / "weights.safetensors"
    tensors = load_file(weights)
    tensors["proj.weight"].fill_(float("nan"))  # what damaged bytes give: the run's mR was 100.0 for every language
    save_file(tensors, weights)
    capsys.readouterr()
    assert main(["eval", "damaged", "--dataset", "stamps", "--name", "again"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error: mse: the en caption embeddings: ") and "rows hold NaN or infinite values" in err
    assert not (run.path / "evals" / "again").exists()
