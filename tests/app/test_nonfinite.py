"""The app's searches refuse NaN or infinite embeddings, naming the model, instead of showing garbage hits."""

import numpy as np
import pytest
import torch

from optical import explore
from optical.errors import NonFiniteError
from optical.store import load_run
from tests.fakes import png_bytes


def test_search_with_a_nan_model_or_gallery_names_it(cache):
    run = load_run("tiny")
    models, gallery = explore.load_models(run), explore.load_gallery(run)
    damaged = models.students["mse"]
    with torch.no_grad():
        damaged.proj.weight.fill_(float("nan"))
    with pytest.raises(NonFiniteError, match=r"^mse: the query's embedding: 1 of 1 rows hold NaN"):
        explore.search_images(damaged, "der hund", gallery.index, 3, "mse")
    assert len(explore.search_images(models.students["optical"], "der hund", gallery.index, 3).indices) == 3
    broken = explore.Gallery(gallery.images, gallery.groups, gallery.captions, gallery.embeddings.copy())
    broken.embeddings[2] = np.inf
    with pytest.raises(NonFiniteError, match="gallery: 1 of"):
        explore.search_images(models.students["optical"], "der hund", broken.index, 3, "optical")


def test_ranking_captions_with_nan_embeddings_names_the_method(cache):
    from optical.encoders import create_image_encoder

    run = load_run("tiny")
    models, gallery = explore.load_models(run), explore.load_gallery(run)
    image = explore.read_image(png_bytes(), "apple.png")
    encoder = create_image_encoder(run.config["image_encoder"])
    texts = gallery.captions["de"]["texts"]
    captions = {m: model.encode(texts).numpy() for m, model in models.text_models.items()}
    captions["mse"][1] = np.nan
    with pytest.raises(NonFiniteError, match=rf"^mse: the caption embeddings: 1 of {len(texts)} rows"):
        explore.rank_captions(image, encoder, models.teacher, captions, k=2)


@pytest.fixture
def nan_students(cache, monkeypatch):
    """Every student (not the teacher) embeds text as NaN, as damaged weights do; the app's caches are cleared
    after, so no other test sees those embeddings."""
    import streamlit as st

    from optical.distill import DualEncoder, ProjectedTextEncoder

    encode = ProjectedTextEncoder.encode

    def damaged(self, texts, *args, **kwargs):
        out = encode(self, texts, *args, **kwargs)
        return out if isinstance(self, DualEncoder) else out * float("nan")

    st.cache_resource.clear()
    monkeypatch.setattr(ProjectedTextEncoder, "encode", damaged)
    yield
    st.cache_resource.clear()


def test_image_search_page_says_which_model_is_damaged_and_shows_the_others(nan_students):
    from tests.app.test_app import SEARCH, open_app, texts

    at = open_app(SEARCH)
    at.text_input[0].input("ein roter apfel").run()
    assert not at.exception
    assert len(at.image) == 5  # zero-shot's top 5; mse and optical say why they have none
    errors = texts(at.error)
    assert "mse: the query's embedding: 1 of 1 rows hold NaN" in errors and "optical: the query's" in errors
    at.radio[0].set_value("Image → captions").run()
    at.file_uploader[0].set_value(("apple.png", png_bytes(), "image/png")).run()
    assert not at.exception and "the caption embeddings" in texts(at.error) and not at.table
