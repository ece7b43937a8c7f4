"""A run and an evaluation with a late-interaction teacher (``--scoring late``), end to end on the tiny models."""

import json

import numpy as np
import pytest
import torch

from optical.cli import main
from optical.config import ExperimentConfig
from optical.data import RetrievalSet, benchmark_retrieval_set, common_images, load_stamps
from optical.distill import DualEncoder, ProjectedTextEncoder
from optical.encoders import create_image_encoder
from optical.errors import InputError
from optical.evaluate import image_to_text_ranks, text_to_image_ranks
from optical.experiment import run_experiment
from optical.experiment._data import image_regions, load_experiment_data
from optical.experiment._teachers import teacher_key
from optical.results import RankSource
from optical.scoring import late_scores
from optical.store import create_run, load_run, runs_dir


@pytest.fixture
def late_run(stamps_setup):
    """A finished tiny late stamps run (zero-shot, mse, optical, token-nn), German distilled."""
    stamps_setup.update(languages=["de", "fr"], methods=["zero-shot", "mse", "optical", "token-nn"], scoring="late",
                        student_train_layers=1)
    stamps_setup["student"]["epochs"] = 1
    config = ExperimentConfig.from_dict(stamps_setup)
    run = create_run(config.to_dict(), "late-run")
    run_experiment(config, run, progress=lambda f, m: None)
    return load_run("late-run")


def _brute_ranks(model: ProjectedTextEncoder, rs: RetrievalSet, regions: torch.Tensor):
    """Ranks from a float64 loop over captions and images of FILIP's formula, the model's own token states."""
    states = model.encode_tokens(rs.captions)
    sim = np.zeros((len(rs.captions), len(regions)))
    for n, tokens in enumerate(states.unpadded()):
        t = torch.nn.functional.normalize(tokens.double(), dim=-1)
        for m, image in enumerate(regions):
            r = torch.nn.functional.normalize(image.double(), dim=-1)
            cos = t @ r.T  # (L, R)
            sim[n, m] = 0.5 * (cos.max(1).values.mean() + cos.max(0).values.mean())
    return text_to_image_ranks(sim, rs.caption_image, rs.image_groups), image_to_text_ranks(sim, rs.caption_image,
                                                                                          rs.image_groups)


def test_a_late_run_scores_tokens_against_regions_everywhere(late_run):
    config = ExperimentConfig.from_dict(late_run.config)
    teacher = DualEncoder.load(late_run.teacher_dir)
    assert teacher.scoring == "late" and json.loads((late_run.teacher_dir / "optical_model.json").read_text())["scoring"] == "late"
    gallery = json.loads((late_run.path / "gallery.json").read_text())
    regions = np.load(late_run.path / "gallery_regions.npy")
    pooled = np.load(late_run.path / "gallery.npy")
    n_images = len(gallery["images"]) if "images" in gallery else pooled.shape[0]
    assert regions.dtype == np.float16 and regions.shape == (n_images, 16, 8)  # tiny CLIP: a 4 x 4 patch grid
    np.testing.assert_allclose(np.linalg.norm(regions.astype(np.float32), axis=-1), 1, atol=2e-3)
    assert pooled.shape == (n_images, 8)
    # the run's test ranks are the brute-force late ranks of the teacher and of a student on the comparable set
    ranks, _ = RankSource("test").load(late_run)
    sets = common_images({lang: benchmark_retrieval_set(load_stamps(), lang, split="test")
                          for lang in ("en", "de", "fr")})
    encoder = create_image_encoder(config.image_encoder)
    student = ProjectedTextEncoder.load(late_run.student_dir("optical"), shared_text=teacher.text)
    for method, model in (("zero-shot", teacher), ("optical", student)):
        for lang in ("en", "de"):
            rs = sets[lang]
            raw = image_regions(rs.image_paths, encoder, config.region_grid)
            projected = teacher.embed_regions(raw).values
            t2i, i2t = _brute_ranks(model, rs, projected)
            np.testing.assert_array_equal(ranks[method][lang][0], t2i)
            np.testing.assert_array_equal(ranks[method][lang][1], i2t)
    metrics = late_run.metrics()
    assert set(metrics["results"]["token-nn"]) == {"en", "de", "fr"}


def test_eval_of_a_late_run_reproduces_its_ranks(late_run, capsys):
    assert main(["eval", "late-run", "--dataset", "stamps", "--languages", "de,fr", "--name", "again"]) == 0
    folder = late_run.path / "evals" / "again"
    for method in ("zero-shot", "mse", "optical", "token-nn"):
        own = (late_run.path / "ranks" / "test" / f"{method}.csv").read_text().splitlines()
        again = (folder / "ranks" / f"{method}.csv").read_text().splitlines()
        for lang in ("en", "de"):
            assert [l for l in again if l.startswith(lang + ",")] == [l for l in own if l.startswith(lang + ",")]
    assert np.load(folder / "gallery_regions.npy").shape[1:] == (16, 8)


def test_region_grid_pools_the_images_regions_and_keys_the_teacher(stamps_setup):
    late = ExperimentConfig.from_dict({**stamps_setup, "scoring": "late", "region_grid": 2})
    data = load_experiment_data(late, create_image_encoder(late.image_encoder), progress=False)
    assert data.train.regions.values.shape[1:] == (4, 16) and data.test_regions.values.shape[1] == 4  # (R, image_dim)
    pooled = ExperimentConfig.from_dict(stamps_setup)
    pooled_data = load_experiment_data(pooled, create_image_encoder(pooled.image_encoder), progress=False)
    assert pooled_data.train.regions is None and pooled_data.test_regions is None  # pooled runs encode no regions
    # a pooled teacher's key ignores the late settings (pooled teachers keep the keys they had); late ones differ
    other_grid = ExperimentConfig.from_dict({**stamps_setup, "region_grid": 3})
    assert teacher_key(pooled, pooled_data) == teacher_key(other_grid, pooled_data)
    assert teacher_key(late, pooled_data) != teacher_key(pooled, pooled_data)
    assert teacher_key(late, pooled_data) != teacher_key(ExperimentConfig.from_dict({**stamps_setup, "scoring": "late"}),
                                                         pooled_data)


def test_late_scoring_is_refused_for_a_pretrained_clip_teacher_and_an_image_tower_without_regions(tiny_setup,
                                                                                                  monkeypatch):
    with pytest.raises(InputError, match="pretrained CLIP model used as is.*--scoring pooled"):
        ExperimentConfig.from_dict({**tiny_setup, "teacher_model": "clip:" + tiny_setup["image_encoder"],
                                    "image_encoder": tiny_setup["image_encoder"], "scoring": "late"}).validate()
    with pytest.raises(InputError, match="scoring"):
        ExperimentConfig.from_dict({**tiny_setup, "scoring": "tokens"}).validate()
    encoder = create_image_encoder(tiny_setup["image_encoder"])
    monkeypatch.delattr(type(encoder), "regions")
    with pytest.raises(InputError, match="region grid.*--scoring pooled"):
        image_regions([], encoder, 7)


def test_the_cli_refuses_late_with_a_clip_teacher_before_any_run_folder(tiny_setup, capsys):
    code = main(["run", "--preset", "quick", "--teacher", "clip:" + tiny_setup["image_encoder"], "--scoring", "late",
                 "--run-id", "refused"])
    assert code != 0
    assert "pretrained CLIP model used as is" in capsys.readouterr().err
    assert not (runs_dir() / "refused").exists()


def test_export_of_a_late_run_says_how_to_score_and_the_recipe_gives_the_runs_scores(late_run, tmp_path, capsys):
    from safetensors.torch import load_file
    from transformers import AutoModel, AutoTokenizer

    assert main(["export", "late-run", "optical", str(tmp_path / "out")]) == 0
    readme = (tmp_path / "out" / "README.md").read_text()
    assert "late interaction" in readme and "gallery_regions.npy" in readme
    teacher = DualEncoder.load(late_run.teacher_dir)
    student = ProjectedTextEncoder.load(late_run.student_dir("optical"), shared_text=teacher.text)
    caption = json.loads((late_run.path / "gallery.json").read_text())["captions"]["de"]["texts"][0]
    regions = torch.from_numpy(np.load(late_run.path / "gallery_regions.npy")).float()
    tokenizer, model = AutoTokenizer.from_pretrained(tmp_path / "out"), AutoModel.from_pretrained(tmp_path / "out").eval()
    proj = load_file(str(tmp_path / "out" / "2_Dense" / "model.safetensors"))["linear.weight"]
    batch = tokenizer([student.text.prefix + caption], return_tensors="pt")
    with torch.no_grad():
        states = model(**batch).last_hidden_state
    tokens = torch.nn.functional.normalize(states[0][batch["attention_mask"][0].bool()] @ proj.T, dim=-1)
    sim = torch.einsum("ld,ird->ilr", tokens, regions)
    recipe = 0.5 * (sim.amax(2).mean(1) + sim.amax(1).mean(1))
    own = student.encode_tokens([caption])
    expected = late_scores(own.values, own.mask, regions, None)[0]
    torch.testing.assert_close(recipe, expected, atol=2e-3, rtol=0)  # the regions are stored in float16
