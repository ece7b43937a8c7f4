"""Late interaction in optical.explore, on the tiny late-teacher run: loading its regions, late search against brute
force ``late_scores`` (exact and two-stage), an upload against captions, and the token -> region matrix and figures."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from optical import explore
from optical.data import open_rgb
from optical.encoders import create_image_encoder
from optical.errors import NonFiniteError
from optical.scoring import late_scores
from optical.store import RunFormatError, load_run
from tests.app.fixtures import LATE_RUN, STAMPS

QUERIES = ["ein roter apfel", "the green tree", "🍎", "un bateau bleu sur la mer"]


@pytest.fixture
def late(late_cache):
    run = load_run(LATE_RUN)
    return explore.load_gallery(run), explore.load_models(run)


def brute_force(model, query: str, regions: np.ndarray) -> np.ndarray:
    """Every image's late score (I,) for ``query``, from ``optical.scoring.late_scores`` on the whole gallery."""
    tokens = model.encode_tokens([query])
    return late_scores(tokens.values, tokens.mask, torch.from_numpy(np.asarray(regions, dtype=np.float32)))[0].numpy()


def test_a_late_gallery_has_memory_mapped_regions_and_a_pooled_prefilter(late, app_cache):
    gallery, models = late
    assert models.teacher.scoring == "late" and gallery.late
    assert isinstance(gallery.regions, np.memmap) and gallery.regions.dtype == np.float16
    assert gallery.regions.shape == (len(STAMPS), 16, 16) and gallery.region_side == 4  # the tiny CLIP's 4 x 4 patches
    assert gallery.embeddings.shape == (len(STAMPS), 16)
    np.testing.assert_allclose(np.linalg.norm(gallery.regions.astype(np.float32), axis=-1), 1, atol=2e-3)
    pooled = explore.load_gallery(load_run(app_cache / "runs" / "tiny"))  # a pooled run has none
    assert not pooled.late and pooled.regions is None and pooled.region_side == 0


def test_a_late_gallery_without_its_regions_or_of_another_shape_is_rejected(late_cache, tmp_path):
    copy = tmp_path / "runs" / LATE_RUN
    shutil.copytree(late_cache / "runs" / LATE_RUN, copy, ignore=shutil.ignore_patterns("teacher", "students"))
    (copy / "gallery_regions.npy").unlink()
    with pytest.raises(RunFormatError, match="gallery_regions.npy: missing"):
        explore.load_gallery(load_run(copy))
    np.save(copy / "gallery_regions.npy", np.zeros((len(STAMPS), 15, 16), dtype=np.float16))  # no square grid
    with pytest.raises(RunFormatError, match=r"shape \(6, 15, 16\)"):
        explore.load_gallery(load_run(copy))


@pytest.mark.parametrize("query", QUERIES)
def test_late_search_equals_brute_force_late_scores(late, query):
    gallery, models = late
    for name, model in models.text_models.items():
        scores = brute_force(model, query, gallery.regions)
        result = explore.search_images_late(model, query, gallery.regions, gallery.index, k=len(STAMPS), name=name)
        assert result.how == f"late, exact over {len(STAMPS)} images"
        np.testing.assert_array_equal(result.indices, np.argsort(-scores, kind="stable"))
        np.testing.assert_allclose(result.scores, np.sort(scores)[::-1], rtol=1e-5, atol=1e-6)
        top = explore.search_images_late(model, query, gallery.regions, gallery.index, k=3, name=name)
        np.testing.assert_array_equal(top.indices, result.indices[:3])
        assert top.latency_ms >= top.search_ms > 0


def _big_gallery(n: int = 300, r: int = 9, d: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """Random normalised regions (n, r, d) float16 and their pooled embeddings (n, d), the mean region normalised."""
    rng = np.random.default_rng(0)
    regions = rng.normal(size=(n, r, d)).astype(np.float32)
    regions /= np.linalg.norm(regions, axis=-1, keepdims=True)
    pooled = regions.mean(1)
    return regions.astype(np.float16), (pooled / np.linalg.norm(pooled, axis=-1, keepdims=True)).astype(np.float32)


@pytest.mark.parametrize("candidates", [300, 1000])
def test_two_stage_search_equals_exact_when_it_keeps_every_image(late, candidates):
    _, models = late
    regions, pooled = _big_gallery()
    for query in QUERIES:
        exact = explore.search_images_late(models.teacher, query, regions, pooled, k=20)
        staged = explore.search_images_late(models.teacher, query, regions, pooled, k=20, exact_max=0,
                                            candidates=candidates)
        assert exact.how == "late, exact over 300 images" and staged.how == "late, re-ranked pooled top 300 of 300"
        np.testing.assert_array_equal(staged.indices, exact.indices)
        np.testing.assert_allclose(staged.scores, exact.scores, rtol=1e-6)
        scores = brute_force(models.teacher, query, regions)
        np.testing.assert_array_equal(exact.indices, np.argsort(-scores, kind="stable")[:20])


def test_two_stage_search_re_ranks_only_the_pooled_top_k(late):
    _, models = late
    regions, pooled = _big_gallery()
    query = QUERIES[0]
    staged = explore.search_images_late(models.teacher, query, regions, pooled, k=5, exact_max=100, candidates=40)
    assert staged.how == "late, re-ranked pooled top 40 of 300"
    embedding = models.teacher.encode([query]).numpy()[0]
    shortlist = np.argsort(-(pooled @ embedding))[:40]
    scores = brute_force(models.teacher, query, regions)
    expected = shortlist[np.argsort(-scores[shortlist], kind="stable")[:5]]
    np.testing.assert_array_equal(staged.indices, expected)
    np.testing.assert_allclose(staged.scores, scores[expected], rtol=1e-5)
    assert explore.LATE_CANDIDATES <= explore.LATE_EXACT_MAX  # the shortlist is never larger than an exact gallery


def test_late_search_names_a_model_whose_token_states_are_not_finite(late):
    gallery, models = late
    student = models.students["mse"]
    saved = student.proj.weight.detach().clone()
    try:
        with torch.no_grad():
            student.proj.weight.fill_(float("nan"))
        with pytest.raises(NonFiniteError, match="mse: the query's token states"):
            explore.search_images_late(student, "der hund", gallery.regions, gallery.index, name="mse")
    finally:
        with torch.no_grad():
            student.proj.weight.copy_(saved)


def test_an_upload_is_embedded_as_the_gallery_and_ranks_captions_by_late_score(late):
    gallery, models = late
    encoder = create_image_encoder(models.config["image_encoder"])
    image = open_rgb(gallery.images[2])
    regions = explore.embed_image_regions(image, encoder, models.teacher, models.config["region_grid"])
    assert regions.shape == (1, 16, 16)
    np.testing.assert_allclose(regions[0], gallery.regions[2].astype(np.float32), atol=2e-3)  # gallery: float16
    texts = gallery.captions["de"]["texts"]
    tokens = {method: model.encode_tokens(texts) for method, model in models.text_models.items()}
    ranked = explore.rank_captions_late(image, encoder, models.teacher, tokens, models.config["region_grid"], k=4)
    assert list(ranked) == ["zero-shot", "mse", "optical"]
    for method, result in ranked.items():
        scores = late_scores(tokens[method].values, tokens[method].mask, torch.from_numpy(regions))[:, 0].numpy()
        np.testing.assert_array_equal(result.indices, np.argsort(-scores, kind="stable")[:4])
        np.testing.assert_allclose(result.scores, np.sort(scores)[::-1][:4], rtol=1e-5)
        assert result.how == "late" and result.latency_ms >= result.search_ms


def test_token_regions_is_the_cosine_of_each_token_state_with_each_region(late):
    gallery, models = late
    caption = "ein roter apfel"
    for model in models.text_models.values():
        found = explore.token_regions(model, caption, gallery.regions[0])
        states = model.encode_tokens([caption]).unpadded()[0]  # (L, D)
        regions = torch.from_numpy(gallery.regions[0].astype(np.float32))  # (R, D)
        manual = np.array([[float(F.cosine_similarity(t, r, dim=0)) for r in regions] for t in states])
        assert found.similarity.shape == (len(states), 16) and found.side == 4
        np.testing.assert_allclose(found.similarity, manual, atol=1e-5)
        ids = model.tokenize([caption])["input_ids"][0].tolist()
        assert found.tokens == model.text.tokenizer.convert_ids_to_tokens(ids)
        assert found.roles[0] == found.roles[-1] == "special" and found.roles[1] == "content"
        assert found.first_content == 1
        np.testing.assert_array_equal(found.grid(2), found.similarity[2].reshape(4, 4))
    with pytest.raises(ValueError, match="no square grid"):
        explore.token_regions(models.teacher, caption, gallery.regions[0][:15])


def test_token_region_figures_overlay_the_grid_on_the_tower_view(late):
    gallery, models = late
    found = explore.token_regions(models.teacher, "a red apple", gallery.regions[0])
    picture = explore.tower_view(open_rgb(gallery.images[0]), models.config["image_encoder"])
    assert picture.size == (224, 224)
    figure = explore.region_figure(found.grid(3), picture, "apple", -1, 1)
    assert [trace.type for trace in figure.data] == ["image", "heatmap"]
    heatmap = figure.data[1]
    assert np.asarray(heatmap.z).shape == (4, 4) and heatmap.dx * 4 == picture.width and heatmap.zsmooth == "best"
    assert [trace.type for trace in explore.region_figure(found.grid(3)).data] == ["heatmap"]  # no image file
    grid = explore.token_grid_figure(found)
    assert len(grid.data) == len(found.tokens)
    assert [a.text for a in grid.layout.annotations] == explore.axis_labels(found.tokens)
    padded = explore.tower_view(open_rgb(gallery.images[0]), "efficientnet-lite0")
    assert padded.getpixel((0, 0)) == (255, 255, 255)  # 40 x 24 padded onto white, as EfficientNet-Lite sees it


def test_plan_figure_outlines_the_chosen_tokens_and_plan_partner_follows_the_mass(late_cache):
    sample = load_run(LATE_RUN).plans()[0]
    plan = np.asarray(sample["plan"])
    figure = explore.plan_figure(sample, "plan", "de", "optical", highlight=(1, 2))
    assert len(figure.layout.shapes) == 2 and figure.layout.yaxis.title.text == "de (optical)"
    assert len(explore.plan_figure(sample, "cost").layout.shapes) == 0
    column, share = explore.plan_partner(sample, 1)
    assert column == int(plan[1].argmax()) and share == pytest.approx(plan[1].max() / plan[1].sum())
    assert explore.plan_partner(sample, len(plan)) is None
