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
