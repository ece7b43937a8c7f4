"""The Image Search page with damaged (NaN) students: it names the damaged models and shows the others' hits
(the searches' own refusals are tested in tests/explore/test_nonfinite.py)."""

import pytest

from tests.fakes import png_bytes


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
    from tests.app.fixtures import SEARCH, open_app, texts

    at = open_app(SEARCH)
    at.text_input[0].input("ein roter apfel").run()
    assert not at.exception
    assert len(at.image) == 5  # zero-shot's top 5; mse and optical say why they have none
    errors = texts(at.error)
    assert "mse: the query's embedding: 1 of 1 rows hold NaN" in errors and "optical: the query's" in errors
    at.radio[0].set_value("Image → captions").run()
    at.file_uploader[0].set_value(("apple.png", png_bytes(), "image/png")).run()
    assert not at.exception and "the caption embeddings" in texts(at.error) and not at.table
