"""Plans that carry an alignment: the relative epsilon scale as a setting, and the plan diagnostics of a run (the
fixed pair sample, the statistics per method, their summary over runs and the report's table)."""

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from optical.cli import build_parser, main
from optical.cli.run import config_from_args
from optical.data import RetrievalSet
from optical.distill._models import ProjectedTextEncoder
from optical.distill.losses import LossConfig, create_loss
from optical.errors import InputError
from optical.config import ExperimentConfig, parse_grid
from optical.experiment import diagnostic_pairs, encode_pairs, plan_loss, plan_statistics, transport_statistics
from optical.results import format_report, plan_table, summarize_seed
from optical.results._run_status import run_plan_diagnostics
from optical.transport import cost_matrix, plan_diagnostics, sinkhorn_plan
from tests.fakes import tiny_text_encoder


# --- the setting -----------------------------------------------------------------------------------------------


def test_reg_scale_setting_defaults_old_configs_flags_and_grid():
    assert LossConfig().reg_scale == "absolute" and (LossConfig().n_iter, LossConfig().tol) == (60, 1e-4)
    old = ExperimentConfig().to_dict()
    del old["ot"]["reg_scale"]  # a run folder from before the option
    assert ExperimentConfig.from_dict(old).ot.reg_scale == "absolute"
    config = ExperimentConfig.from_dict({"ot": {"reg": 0.3, "reg_scale": "relative"}})
    assert (config.ot.reg, config.ot.reg_scale) == (0.3, "relative")
    with pytest.raises(InputError, match="ot.reg_scale"):
        ExperimentConfig.from_dict({"ot": {"reg_scale": "percent"}})
    args = build_parser().parse_args(["run", "--preset", "quick", "--ot-reg", "0.3", "--ot-reg-scale", "relative"])
    assert config_from_args(args).ot.reg_scale == "relative"
    assert parse_grid(["ot.reg_scale=absolute,relative"]) == {"ot.reg_scale": ["absolute", "relative"]}


def test_a_bad_reg_scale_flag_fails_at_once(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["run", "--ot-reg-scale", "percent", "--run-id", "bad"])
    assert exit_.value.code == 2 and "--ot-reg-scale" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["optical", "optical+mse", "optical-uot", "optical-idf"])
def test_every_ot_loss_takes_the_scale(name):
    loss = create_loss(name, LossConfig(reg_scale="relative"))
    ot = getattr(loss, "optical", loss)
    assert ot.reg_scale == "relative" and ot.get_config_dict()["reg_scale"] == "relative"
    with pytest.raises(ValueError, match="reg_scale"):
        create_loss("optical", reg_scale="percent")


def test_relative_loss_solves_with_reg_times_each_pairs_spread():
    gen = torch.Generator().manual_seed(0)
    S, E = torch.randn(3, 5, 8, generator=gen), torch.randn(3, 6, 8, generator=gen)
    mask_s, mask_e = torch.ones(3, 5, dtype=torch.long), torch.ones(3, 6, dtype=torch.long)
    mask_s[1, 3:] = 0
    loss = create_loss("optical", LossConfig(reg=0.2, reg_scale="relative", n_iter=3000, tol=1e-7))
    result = loss.transport({"token_embeddings": S, "attention_mask": mask_s},
                            {"token_embeddings": E, "attention_mask": mask_e})
    cost = cost_matrix(S, E, mask_s, mask_e)
    direct = sinkhorn_plan(cost, 0.2, mask_a=mask_s, mask_b=mask_e, n_iter=3000, tol=1e-7, reg_scale="relative")
    torch.testing.assert_close(result.plan, direct.plan)
    assert result.error.max() < 1e-7


# --- the sample of pairs ---------------------------------------------------------------------------------------


def _set(lang: str, paths: list[str], captions: list[str], images: list[int]) -> RetrievalSet:
    return RetrievalSet(lang, [Path(p) for p in paths], np.arange(len(paths)), captions, np.array(images))


def test_diagnostic_pairs_match_images_by_path_and_share_the_limit():
    english = _set("en", ["a.png", "b.png", "c.png"], ["an apple", "a tree", "an apple too", "a boat"], [0, 1, 0, 2])
    de = _set("de", ["c.png", "a.png", "x.png"], ["ein boot", "ein apfel", "nichts", "der apfel"], [0, 1, 2, 1])
    fr = _set("fr", ["b.png"], ["un arbre"], [0])
    pairs = diagnostic_pairs({"de": de, "fr": fr}, english, limit=4)
    # de: its own gallery's indices, matched to English by path (x.png has no English caption); the first English
    # caption of an image; at most ceil(4 / 2) per language
    assert pairs == [("de", "ein boot", "a boat"), ("de", "ein apfel", "an apple"), ("fr", "un arbre", "a tree")]
    assert diagnostic_pairs({"en": english}, english) == []  # no foreign language: nothing


# --- the statistics --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_pair():
    torch.manual_seed(0)
    teacher = ProjectedTextEncoder(tiny_text_encoder(), 8).eval()
    student = ProjectedTextEncoder(tiny_text_encoder(seed=1), 8).eval()
    return student, teacher


PAIRS = [("ein roter apfel", "a red apple"), ("der hund", "the dog"), ("die katze", "the cat"),
         ("ein blaues boot", "a blue boat"), ("das haus", "the house")]


def test_plan_statistics_are_the_means_of_the_diagnostics_over_the_pairs(tiny_pair):
    student, teacher = tiny_pair
    loss = plan_loss(LossConfig(n_iter=5000, tol=1e-7))
    stats = plan_statistics(student, teacher, PAIRS, loss)
    # by hand: one batch of all the pairs
    s_feats, t_feats = student.tokenize([f for f, _ in PAIRS]), teacher.tokenize([e for _, e in PAIRS])
    s_out, t_out = student(s_feats), teacher(t_feats)
    with torch.no_grad():
        result = loss.transport(s_out, t_out)
    a = s_out["attention_mask"] / s_out["attention_mask"].sum(1, keepdim=True)
    b = t_out["attention_mask"] / t_out["attention_mask"].sum(1, keepdim=True)
    ids = torch.tensor(teacher.text.tokenizer.all_special_ids)  # the tiny tokenizer has no input prefix
    special = [torch.isin(f["input_ids"], ids) & (f["attention_mask"] > 0) for f in (s_feats, t_feats)]
    expected = plan_diagnostics(result.plan, a, b, *special)
    assert stats["pairs"] == 5 and stats["converged"] is True and stats["row_error"] < 1e-7
    for key in ("relative_entropy", "best_match_share", "marked_mass"):
        assert stats[key] == pytest.approx(getattr(expected, key), abs=1e-6)
    assert stats["loss"] == pytest.approx(float(result.value.mean()), abs=1e-6)
    assert stats["epsilon"] == pytest.approx(0.05) and 1 <= stats["iterations"] < 5000
    # solved a few pairs at a time (as in training), converged plans give the same means
    small = plan_statistics(student, teacher, PAIRS, loss, batch_size=2)
    for key in ("relative_entropy", "best_match_share", "marked_mass", "loss"):
        assert small[key] == pytest.approx(stats[key], abs=1e-5)


def test_encode_pairs_reuses_the_teachers_english_states(tiny_pair):
    student, teacher = tiny_pair
    first = encode_pairs(teacher, teacher, PAIRS, batch_size=2)
    reused = encode_pairs(student, teacher, PAIRS, batch_size=2, english=[t_out for _, t_out in first])
    fresh = encode_pairs(student, teacher, PAIRS, batch_size=2)
    assert [len(b[0]["token_embeddings"]) for b in reused] == [2, 2, 1]
    loss = plan_loss(LossConfig(n_iter=5000, tol=1e-7))
    assert transport_statistics(reused, loss) == pytest.approx(transport_statistics(fresh, loss))


def test_plan_statistics_report_the_cap_and_the_relative_epsilon(tiny_pair):
    student, teacher = tiny_pair
    capped = plan_statistics(student, teacher, PAIRS, plan_loss(LossConfig(reg=0.005, n_iter=3, tol=1e-6)))
    assert capped["iterations"] == 3 and capped["converged"] is False and capped["row_error"] > 1e-6
    relative = plan_statistics(student, teacher, PAIRS, plan_loss(LossConfig(reg=0.5, reg_scale="relative")))
    assert 0 < relative["epsilon"] < 0.5  # reg times the pairs' cost spread (cosine costs: spread well under 1)
    content = plan_statistics(student, teacher, PAIRS, plan_loss(LossConfig(tokens="content")))
    assert content["marked_mass"] == 0.0  # no mass on special tokens when they carry none


# --- over runs, and in the report ------------------------------------------------------------------------------


def _recorded(entropy: float, error: float, converged: bool) -> dict:
    figures = {"relative_entropy": entropy, "best_match_share": 0.5, "marked_mass": 0.4, "epsilon": 0.05,
               "loss": 0.2, "row_error": error, "column_error": 1e-8, "iterations": 60 if not converged else 20,
               "converged": converged, "pairs": 10}
    return {"split": "val", "pairs": 10, "languages": ["de"],
            "settings": {"reg": 0.05, "reg_scale": "absolute", "n_iter": 60, "tol": 1e-4, "tokens": "all",
                         "cost": "cosine"},
            "methods": {"zero-shot": figures, "optical": {**figures, "relative_entropy": entropy - 0.1}}}


def test_diagnostics_over_a_studys_runs_mean_the_figures_and_keep_the_worst_error():
    runs = [SimpleNamespace(status={"plan_diagnostics": _recorded(0.8, 5e-5, True)}),
            SimpleNamespace(status={"plan_diagnostics": _recorded(0.9, 3e-3, False)}),
            SimpleNamespace(status={})]  # a run from before the diagnostics
    combined = run_plan_diagnostics(runs)
    assert combined["runs"] == 2 and combined["split"] == "val" and combined["pairs"] == 10
    zero_shot = combined["methods"]["zero-shot"]
    assert zero_shot["relative_entropy"] == pytest.approx(0.85)
    assert zero_shot["row_error"] == 3e-3 and zero_shot["iterations"] == 60 and zero_shot["converged"] is False
    assert combined["methods"]["optical"]["relative_entropy"] == pytest.approx(0.75)
    assert run_plan_diagnostics([SimpleNamespace(status={})]) is None


def test_report_prints_the_plan_table_and_names_plans_the_cap_stopped():
    rng = np.random.default_rng(0)
    ranks = {m: {lang: (rng.integers(0, 20, 30), rng.integers(0, 20, 30)) for lang in ("en", "de", "ga")}
             for m in ("zero-shot", "optical")}
    body = summarize_seed(ranks, n_boot=20)
    assert "Transport plans" not in format_report(body) and plan_table(body).empty  # an older run: no section
    recorded = _recorded(0.8, 3e-3, False)
    text = format_report({**body, "plan_diagnostics": {**recorded, "runs": 1}})
    assert "Transport plans: how much alignment they carry" in text
    assert "10 val pairs; reg 0.05 (absolute), n_iter cap 60, tol 0.0001, tokens all" in text
    assert "not converged: the cap stopped zero-shot, optical above tol" in text
    table = plan_table({"plan_diagnostics": recorded})
    assert list(table.index) == ["zero-shot", "optical"]
    assert table.loc["optical", "entropy / uniform"] == pytest.approx(0.7)
    assert table.loc["zero-shot", "row error at stop"] == 3e-3
    line = next(line for line in text.splitlines() if line.startswith("optical "))
    assert "0.700" in line and "3.0e-03" in line and line.rstrip().endswith("60")
