import numpy as np
import pytest

import optical.evaluate._search as search_module
from optical.evaluate import build_index, search, similarity


def normalised(rng, n, dim):
    x = rng.randn(n, dim).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_similarity_is_inner_product():
    rng = np.random.RandomState(0)
    queries, gallery = normalised(rng, 5, 16), normalised(rng, 9, 16)
    sim = similarity(queries, gallery)
    assert sim.shape == (5, 9) and sim.dtype == np.float32
    np.testing.assert_allclose(sim, queries.astype(np.float64) @ gallery.T.astype(np.float64), atol=1e-6)


@pytest.mark.parametrize("n_gallery,k", [(300, 10), (300, 1), (7, 10)])
def test_exact_and_faiss_match_full_sort(n_gallery, k):
    rng = np.random.RandomState(1)
    queries, gallery = normalised(rng, 23, 32), normalised(rng, n_gallery, 32)
    expected = np.argsort(-similarity(queries, gallery), axis=1, kind="stable")[:, :k]
    for method in ("exact", "faiss"):
        scores, indices = search(queries, gallery, k, method=method)
        assert scores.shape == indices.shape == (23, min(k, n_gallery))
        assert indices.dtype == np.int64
        np.testing.assert_array_equal(indices, expected)
        np.testing.assert_allclose(scores, np.take_along_axis(similarity(queries, gallery), expected, 1), atol=1e-5)
        assert (np.diff(scores, axis=1) <= 0).all()


def test_auto_uses_faiss_above_threshold(monkeypatch):
    monkeypatch.setattr(search_module, "FAISS_MIN_GALLERY", 2_000)  # keep the gallery small
    rng = np.random.RandomState(2)
    queries, gallery = normalised(rng, 5, 16), normalised(rng, search_module.FAISS_MIN_GALLERY + 100, 16)
    exact = search(queries, gallery, 10, method="exact")

    def no_exact(*args):
        raise AssertionError("exact path used above the threshold")

    monkeypatch.setattr(search_module, "_exact_top_k", no_exact)
    auto = search(queries, gallery, 10)
    np.testing.assert_array_equal(auto[1], exact[1])
    np.testing.assert_allclose(auto[0], exact[0], atol=1e-5)


def test_prebuilt_index_matches_array():
    rng = np.random.RandomState(3)
    queries, gallery = normalised(rng, 4, 16), normalised(rng, 50, 16)
    index = build_index(gallery)
    from_index, from_array = search(queries, index, 5), search(queries, gallery, 5, method="exact")
    np.testing.assert_array_equal(from_index[1], from_array[1])
    np.testing.assert_allclose(from_index[0], from_array[0], atol=1e-5)


def test_bad_arguments():
    rng = np.random.RandomState(4)
    queries, gallery = normalised(rng, 2, 8), normalised(rng, 5, 8)
    with pytest.raises(ValueError, match="unknown search method"):
        search(queries, gallery, 3, method="hnsw")
    with pytest.raises(ValueError, match="width mismatch"):
        search(queries[:, :4], gallery, 3)
    with pytest.raises(ValueError, match="k must be"):
        search(queries, gallery, 0)
    with pytest.raises(ValueError, match="exact"):
        search(queries, build_index(gallery), 3, method="exact")


def test_auto_uses_exact_below_threshold(monkeypatch):
    rng = np.random.RandomState(5)
    queries, gallery = normalised(rng, 3, 16), normalised(rng, 40, 16)
    monkeypatch.setattr(search_module, "build_index", None)  # would fail if called
    np.testing.assert_array_equal(search(queries, gallery, 4)[1], search(queries, gallery, 4, method="exact")[1])


@pytest.mark.parametrize("method", ["exact", "faiss"])
def test_search_refuses_non_finite_queries_and_galleries(method):
    from optical.errors import NonFiniteError

    rng = np.random.RandomState(0)
    queries, gallery = normalised(rng, 3, 8), normalised(rng, 6, 8)
    bad_queries, bad_gallery = queries.copy(), gallery.copy()
    bad_queries[2] = np.nan
    bad_gallery[[1, 4], 0] = np.inf
    with pytest.raises(NonFiniteError, match="queries: 1 of 3 rows"):
        search(bad_queries, gallery, 2, method=method)
    with pytest.raises(NonFiniteError, match="gallery: 2 of 6 rows"):
        search(queries, bad_gallery, 2, method=method)
    with pytest.raises(NonFiniteError, match="gallery: 2 of 6 rows"):  # faiss would silently leave them out
        build_index(bad_gallery)


def test_a_prebuilt_faiss_index_over_nan_vectors_is_an_error_not_fewer_hits():
    import faiss

    from optical.errors import NonFiniteError

    gallery = np.eye(4, dtype=np.float32)
    gallery[1] = np.nan
    index = faiss.IndexFlatIP(4)
    index.add(gallery)
    with pytest.raises(NonFiniteError, match="fewer than 4 results"):
        search(np.ones((1, 4), np.float32), index, 4)
