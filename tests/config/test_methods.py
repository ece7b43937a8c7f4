"""The method registry: a new method is one declaration, and config, runner, summary pairs and app read it."""

import pytest

from optical import explore
from optical.errors import InputError
from optical.config import METHODS, ExperimentConfig, Method, comparisons, register_method
from optical.distill.losses import method_loss
from optical.experiment import run_experiment
from optical.results import COMPARISONS
from optical.store import create_run


@pytest.fixture
def toy():
    """A student distilled with the MSE loss under another name, compared with zero-shot."""
    method = register_method(Method("toy", encoder="student", loss="mse", baselines=("zero-shot",)))
    yield method
    del METHODS["toy"]


def test_the_built_in_methods_and_their_comparisons():
    assert list(METHODS) == ["optical", "optical+mse", "mse", "zero-shot", "translate-test", "optical-uot", "optical-idf",
                             "token-nn"]
    assert [m for m in METHODS if METHODS[m].trained] == ["optical", "optical+mse", "mse", "optical-uot", "optical-idf",
                                                          "token-nn"]
    assert COMPARISONS == (
        ("optical", "mse"), ("optical", "zero-shot"), ("optical+mse", "mse"), ("mse", "zero-shot"),
        ("optical-uot", "optical"), ("optical-uot", "mse"), ("optical-idf", "optical"), ("optical-idf", "mse"),
        ("token-nn", "optical"), ("token-nn", "mse"),
    )
    assert METHODS["translate-test"].encoder == "translate" and METHODS["zero-shot"].encoder == "teacher"


def test_declarations_are_checked(toy):
    with pytest.raises(ValueError, match="already declared"):
        register_method(Method("toy", encoder="teacher"))
    with pytest.raises(ValueError, match="encoder must be one of"):
        register_method(Method("toy2", encoder="dictionary"))
    with pytest.raises(ValueError, match="a loss is given exactly when"):
        register_method(Method("toy2", encoder="student"))
    with pytest.raises(ValueError, match="trains no student"):
        method_loss(METHODS["zero-shot"], ExperimentConfig().ot)
    assert "toy2" not in METHODS


def test_a_method_with_an_unknown_loss_or_baseline_fails_validation():
    for method, message in ((Method("bad", encoder="student", loss="l2"), "declares loss 'l2'"),
                            (Method("bad", encoder="teacher", baselines=("nope",)), "undeclared methods \\['nope'\\]")):
        register_method(method)
        try:
            with pytest.raises(InputError, match=message):
                ExperimentConfig.from_dict({"methods": ["bad"]})
        finally:
            del METHODS["bad"]


def test_a_new_method_is_one_declaration(tiny_setup, toy):
    tiny_setup["methods"] = ["zero-shot", "mse", "toy"]
    config = ExperimentConfig.from_dict(tiny_setup)  # validation knows it
    assert ("toy", "zero-shot") in comparisons()
    run = create_run(config.to_dict(), "toy")
    metrics = run_experiment(config, run, progress=lambda f, m: None)
    assert metrics["methods"] == ["zero-shot", "mse", "toy"]
    assert (run.student_dir("toy") / "optical_model.json").is_file()
    assert (run.path / "ranks" / "test" / "toy.csv").is_file()
    # the same loss and seed as mse: the runner built its student the same way
    assert metrics["results"]["toy"] == metrics["results"]["mse"]
    assert {p["method"] for p in run.plans()} == {"zero-shot", "mse", "toy"}
    assert set(explore.load_models(run).students) == {"mse", "toy"}  # the app finds its student
