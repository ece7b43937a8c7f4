"""ExperimentConfig: the ``ot`` section (old flat keys read into it), CLI flags, and validation of every setting."""

import pytest

from optical.cli import build_parser, main
from optical.cli.run import config_from_args
from optical.distill.losses import LossConfig
from optical.encoders import text_layer_count
from optical.errors import InputError, MissingAssetError
from optical.config import ExperimentConfig, parse_grid, preset
from optical.experiment import check_models
from tests.fakes import saved_tiny_text_encoder


def test_old_flat_ot_keys_load_into_the_ot_section():
    old = ExperimentConfig().to_dict()  # a config.json of a run from before the ``ot`` section
    del old["ot"]
    old.update(ot_reg=0.2, ot_cost="sqeuclidean", ot_iters=30, mse_weight=0.5)
    config = ExperimentConfig.from_dict(old)
    # its optical+mse trained on the plain weighted sum
    assert config.ot == LossConfig(reg=0.2, cost="sqeuclidean", n_iter=30, mse_weight=0.5, weighting="fixed")
    assert "ot_reg" not in config.to_dict() and config.to_dict()["ot"]["reg"] == 0.2
    # a partial ``ot`` object keeps the other defaults; the new section wins over a flat key
    config = ExperimentConfig.from_dict({"ot": {"tol": 1e-4, "reg": 0.3}, "ot_reg": 0.1})
    assert config.ot == LossConfig(reg=0.3, tol=1e-4, weighting="fixed")  # a flat key: written before the option
    assert ExperimentConfig.from_dict(ExperimentConfig().to_dict()) == ExperimentConfig()


def test_ot_flags_on_the_command_line():
    args = build_parser().parse_args(
        ["run", "--preset", "quick", "--ot-reg", "0.1", "--ot-cost", "sqeuclidean", "--ot-iters", "20",
         "--ot-tol", "1e-5", "--ot-grad", "autodiff", "--mse-weight", "0.25", "--ot-tokens", "content",
         "--ot-reg-m", "0.5"]
    )
    config = config_from_args(args)
    assert config.ot == LossConfig(
        reg=0.1, cost="sqeuclidean", n_iter=20, tol=1e-5, grad="autodiff", mse_weight=0.25, tokens="content", reg_m=0.5
    )
    assert config.ot.layer == -1  # the default: the last layer's projected token states
    assert config.languages == preset("quick").languages


def test_old_mse_english_loads_as_the_shared_english_switch():
    assert ExperimentConfig().ot.english is True  # the default: every student also reads English
    for value in (True, False):
        old = ExperimentConfig().to_dict()  # a config.json of a run from before the shared switch
        del old["ot"]["english"]
        old["ot"]["mse_english"] = value
        config = ExperimentConfig.from_dict(old)
        assert config.ot.english is value
        assert "mse_english" not in config.to_dict()["ot"] and config.to_dict()["ot"]["english"] is value
        flat = {"mse_english": value}  # also beside the flat keys of the oldest run folders
        assert ExperimentConfig.from_dict(flat).ot.english is value
    # both names: the new one wins
    assert ExperimentConfig.from_dict({"ot": {"mse_english": True, "english": False}}).ot.english is False
    # sweeps: --grid ot.english and its older name
    assert parse_grid(["ot.english=true,false"]) == {"ot.english": [True, False]}
    assert parse_grid(["ot.mse_english=false"]) == {"ot.english": [False]}


def test_english_term_flag():
    def config(*flags):
        return config_from_args(build_parser().parse_args(["run", "--preset", "quick", *flags]))

    assert config().ot.english is True
    assert config("--english-term", "off").ot.english is False
    assert config("--english-term", "ON").ot.english is True
    with pytest.raises(SystemExit):
        build_parser().parse_args(["run", "--english-term", "maybe"])
    sweep = build_parser().parse_args(["sweep", "--grid", "ot.reg=0.1,0.2", "--english-term", "off"])
    assert sweep.english_term is False


def test_weighting_default_old_run_folders_and_flag():
    assert ExperimentConfig().ot.weighting == "scale-free"  # the default: each term divided by its own value
    old = ExperimentConfig().to_dict()  # a run folder's config.json from before the option: its full ``ot`` section
    del old["ot"]["weighting"]
    assert ExperimentConfig.from_dict(old).ot.weighting == "fixed"  # it trained on the plain weighted sum
    # a hand-written config naming some settings gets the default; an explicit weighting is kept
    assert ExperimentConfig.from_dict({"ot": {"reg": 0.1, "mse_weight": 0.5}}).ot.weighting == "scale-free"
    assert ExperimentConfig.from_dict({**old, "ot": {**old["ot"], "weighting": "scale-free"}}).ot.weighting == (
        "scale-free")
    written = ExperimentConfig().to_dict()
    assert written["ot"]["weighting"] == "scale-free" and ExperimentConfig.from_dict(written) == ExperimentConfig()

    def config(*flags):
        return config_from_args(build_parser().parse_args(["run", "--preset", "quick", *flags]))

    assert config().ot.weighting == "scale-free"
    assert config("--weighting", "fixed").ot.weighting == "fixed"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["run", "--weighting", "equal"])
    assert build_parser().parse_args(["sweep", "--grid", "ot.reg=0.1", "--weighting", "fixed"]).weighting == "fixed"
    assert parse_grid(["ot.weighting=fixed,scale-free"]) == {"ot.weighting": ["fixed", "scale-free"]}


BAD = [
    ({"ot": {"cost": "l1"}}, "ot.cost must be one of \\['cosine', 'sqeuclidean', 'sqeuclidean-mean'\\], got 'l1'"),
    ({"ot": {"tokens": "nouns"}}, "ot.tokens must be one of \\['all', 'no-special', 'content'\\], got 'nouns'"),
    ({"ot": {"reg_m": 0}}, "ot.reg_m must be a number > 0, got 0"),
    ({"ot": {"grad": "implicit"}}, "ot.grad must be one of \\['envelope', 'autodiff'\\]"),
    ({"ot": {"reg": 0}}, "ot.reg must be a number > 0, got 0"),
    ({"ot": {"reg": "big"}}, "ot.reg must be a number > 0, got 'big'"),
    ({"ot": {"n_iter": 0}}, "ot.n_iter must be an integer >= 1, got 0"),
    ({"ot": {"n_iter": 2.5}}, "ot.n_iter must be an integer >= 1"),
    ({"ot": {"tol": 0.0}}, "ot.tol must be a number > 0"),
    ({"ot": {"mse_weight": -1}}, "ot.mse_weight must be a number >= 0"),
    ({"ot": {"weighting": "equal"}}, "ot.weighting must be one of \\['scale-free', 'fixed'\\], got 'equal'"),
    ({"ot": {"sinkhorn": 3}}, "'ot': .*sinkhorn.*expected some of \\['reg'"),
    ({"ot": 3}, "'ot' must be an object"),
    ({"bootstrap": 0}, "bootstrap must be an integer >= 1, got 0"),
    ({"embed_dim": 0}, "embed_dim must be an integer >= 1"),
    ({"plan_samples": -1}, "plan_samples must be an integer >= 0"),
    ({"teacher_train_layers": -2}, "teacher_train_layers must be an integer >= -1 \\(-1: all but the word embeddings\\)"),
    ({"student_train_layers": 1.5}, "student_train_layers must be an integer >= -1"),
    ({"teacher": {"precision": "fp16"}}, "teacher.precision must be one of \\['auto', 'bf16', 'fp32'\\], got 'fp16'"),
    ({"student": {"precision": "half"}}, "student.precision must be one of"),
    ({"teacher": {"batch_size": 0}}, "teacher.batch_size must be an integer >= 1"),
    ({"student": {"batch_size": -4}}, "student.batch_size must be an integer >= 1"),
    ({"teacher": {"lr": 0}}, "teacher.lr must be a number > 0"),
    ({"student": {"lr": -1e-5}}, "student.lr must be a number > 0"),
    ({"student": {"head_lr": 0}}, "student.head_lr must be a number > 0"),
    ({"student": {"epochs": 0}}, "student.epochs must be an integer >= 1"),
    ({"teacher": {"patience": 0}}, "teacher.patience must be an integer >= 1"),
    ({"dataset": "coco"}, "dataset must be one of \\['stamps', 'art4apps', 'captions', 'multi30k'\\]"),
    ({"methods": ["zero-shot", "bogus"]}, "unknown methods \\['bogus'\\]"),
    ({"bitext_per_language": "most"}, "bitext_per_language must be one of \\['equal', 'all'\\], got 'most'"),
    ({"ot": {"english": "yes"}}, "ot.english must be true or false, got 'yes'"),
    ({"ot": {"mse_english": "yes"}}, "ot.english must be true or false, got 'yes'"),  # its older name
]


@pytest.mark.parametrize(("change", "message"), BAD, ids=[str(c) for c, _ in BAD])
def test_bad_values_name_the_key_and_what_is_allowed(change, message):
    with pytest.raises(InputError, match=message):
        ExperimentConfig.from_dict(change, "my.json")


def test_bad_flags_fail_before_any_run_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("OPTICAL_CACHE", str(tmp_path / "cache"))
    assert main(["run", "--ot-cost", "l1", "--run-id", "bad"]) == 2
    assert "ot.cost must be one of ['cosine', 'sqeuclidean', 'sqeuclidean-mean'], got 'l1'" in capsys.readouterr().err
    assert main(["run", "--ot-iters", "0", "--run-id", "bad"]) == 2
    assert "ot.n_iter must be an integer >= 1" in capsys.readouterr().err
    assert not (tmp_path / "cache" / "runs").exists()


def test_ot_layer_must_be_a_layer_the_students_train(tmp_path, monkeypatch):
    text = str(saved_tiny_text_encoder(tmp_path))  # 2 transformer layers
    assert text_layer_count(text) == 2

    def config(layer, student_layers):  # the layer count is read from the tower by check_models
        config = ExperimentConfig.from_dict({"text_encoder": text, "student_train_layers": student_layers,
                                             "ot": {"layer": layer}}, "my.json")
        check_models(config, "my.json")
        return config

    assert config(2, 1).ot.layer == 2 and config(1, -1).ot.layer == 1 and config(1, 5).ot.layer == 1
    assert config(-1, 0).ot.layer == -1  # the default needs no layer count
    with pytest.raises(InputError, match=r"my.json: ot.layer 1: the students train the top 1 of 2 layers of .*tiny-text "
                                         r"\(student_train_layers 1\), so ot.layer must be in 2..2 or -1"):
        config(1, 1)
    with pytest.raises(InputError, match="ot.layer 3: the students train all 2 layers .* must be in 1..2 or -1"):
        config(3, -1)
    with pytest.raises(InputError, match="train no transformer layer \\(only the projection\\).* must be -1"):
        config(1, 0)
    for bad in (0, -2, 1.5, True):
        with pytest.raises(InputError, match="ot.layer must be an integer >= 1 \\(or -1"):
            config(bad, -1)
    monkeypatch.setenv("OPTICAL_CACHE", str(tmp_path / "empty"))  # the built-in e5 is not prepared there
    with pytest.raises(MissingAssetError, match="multilingual-e5-small text model is missing: run `python -m optical"):
        check_models(ExperimentConfig.from_dict({"ot": {"layer": 12}}))


def test_ot_layer_flag_and_grid(tmp_path):
    text = str(saved_tiny_text_encoder(tmp_path))
    args = build_parser().parse_args(["run", "--text-encoder", text, "--ot-layer", "2"])
    assert config_from_args(args).ot.layer == 2
    args = build_parser().parse_args(["sweep", "--text-encoder", text, "--ot-layer", "1", "--grid", "ot.reg=0.1,0.2"])
    assert config_from_args(args).ot.layer == 1
    assert parse_grid(["ot.layer=-1,1,2"]) == {"ot.layer": [-1, 1, 2]}


def test_text_layer_count_reads_a_clip_checkpoints_text_tower(tmp_path):
    from transformers import CLIPConfig

    CLIPConfig(text_config={"num_hidden_layers": 3}, vision_config={"num_hidden_layers": 5}).save_pretrained(tmp_path)
    assert text_layer_count(tmp_path) == 3
