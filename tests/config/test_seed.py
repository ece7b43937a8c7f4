"""The experiment's seed reseeds training: the teacher's and the students' TrainConfig follow it."""

from dataclasses import replace

import pytest

from optical.cli import build_parser
from optical.cli.run import config_from_args
from optical.config import ExperimentConfig, TrainConfig, preset


@pytest.mark.parametrize("argv", [["run", "--seed", "1"], ["run", "--preset", "quick", "--seed", "1"]])
def test_seed_flag_reseeds_teacher_and_students(argv):
    config = config_from_args(build_parser().parse_args(argv))
    assert config.seed == config.teacher.seed == config.student.seed == 1
    assert config.to_dict()["teacher"]["seed"] == config.to_dict()["student"]["seed"] == 1


def test_seed_zero_trains_as_before():
    config = config_from_args(build_parser().parse_args(["run"]))
    # the full preset's teacher (heads only, chosen on val: bench/teacher.py) with seed 0
    assert config.teacher == TrainConfig(epochs=20, batch_size=256, lr=2e-5, head_lr=1e-3, patience=4, seed=0)
    assert config.student == TrainConfig(epochs=2, lr=5e-5, head_lr=1e-4, seed=0)


def test_seed_wins_over_the_training_configs_and_copies_do_not_alias():
    config = ExperimentConfig.from_dict({"seed": 3, "teacher": {"seed": 7}, "student": {"epochs": 1}})
    assert config.teacher.seed == config.student.seed == 3 and config.student.epochs == 1
    base = preset("full")
    other = replace(base, seed=2)
    assert other.teacher.seed == other.student.seed == 2
    assert base.teacher.seed == base.student.seed == 0  # the original is untouched
    assert ExperimentConfig.from_dict(other.to_dict()) == other
