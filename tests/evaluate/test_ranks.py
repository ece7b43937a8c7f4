import numpy as np
import pytest

from optical.evaluate import (
    captioned_images,
    image_to_text_ranks,
    retrieval_metrics,
    retrieval_ranks,
    similarity,
    text_to_image_ranks,
)


def brute_force_ranks(sim, caption_image, image_groups):
    """Full-matrix reference: sort each row (score descending, wrong items first on ties), find the first hit."""
    sim = np.asarray(sim, dtype=np.float64)
    caption_groups = image_groups[caption_image]

    def first_hit(row, correct):
        order = np.lexsort((correct, -row))  # primary key: -score; ties: False (wrong) before True
        return int(np.flatnonzero(correct[order])[0])

    t2i = [first_hit(sim[q], image_groups == caption_groups[q]) for q in range(len(sim))]
    i2t = [first_hit(sim[:, i], caption_groups == image_groups[i]) for i in np.unique(caption_image)]
    return np.array(t2i), np.array(i2t)


def toy_set(seed, n_captions, n_images, n_groups, dim=8, integer=False):
    rng = np.random.RandomState(seed)
    if integer:  # small integers: exact float32 dot products, so ties are exact whatever the summation order
        text = rng.randint(-1, 2, size=(n_captions, dim)).astype(np.float32)
        images = rng.randint(-1, 2, size=(n_images, dim)).astype(np.float32)
    else:
        text = rng.randn(n_captions, dim).astype(np.float32)
        images = rng.randn(n_images, dim).astype(np.float32)
    caption_image = rng.randint(0, n_images, size=n_captions)
    image_groups = rng.randint(0, n_groups, size=n_images)
    return text, images, caption_image, image_groups


@pytest.mark.parametrize("integer", [False, True])
@pytest.mark.parametrize("seed,n_captions,n_images,n_groups", [(0, 40, 25, 25), (1, 60, 30, 12), (2, 17, 40, 5)])
@pytest.mark.parametrize("chunk_size", [None, 1, 7])
def test_ranks_match_brute_force(integer, seed, n_captions, n_images, n_groups, chunk_size):
    text, images, caption_image, image_groups = toy_set(seed, n_captions, n_images, n_groups, integer=integer)
    sim = similarity(text, images)
    ref_t2i, ref_i2t = brute_force_ranks(sim, caption_image, image_groups)

    np.testing.assert_array_equal(text_to_image_ranks(sim, caption_image, image_groups), ref_t2i)
    np.testing.assert_array_equal(image_to_text_ranks(sim, caption_image, image_groups), ref_i2t)
    t2i, i2t = retrieval_ranks(text, images, caption_image, image_groups, chunk_size=chunk_size)
    np.testing.assert_array_equal(t2i, ref_t2i)
    np.testing.assert_array_equal(i2t, ref_i2t)


def test_hand_computed_groups_and_ties():
    # images 0 and 1 are one group (identical captions), image 2 another; image 1 has no caption of its own
    sim = np.array(
        [
            [0.1, 0.9, 0.5],  # caption 0 -> image 0: image 1 is in its group -> rank 0
            [0.8, 0.7, 0.7],  # caption 1 -> image 2: image 0 above, image 1 tied (pessimistic) -> rank 2
            [0.3, 0.2, 0.6],  # caption 2 -> image 0: image 2 above -> rank 1
        ]
    )
    caption_image = np.array([0, 2, 0])
    groups = np.array([7, 7, 3])
    np.testing.assert_array_equal(text_to_image_ranks(sim, caption_image, groups), [0, 2, 1])
    np.testing.assert_array_equal(captioned_images(caption_image), [0, 2])
    # image 0: its captions 0 and 2 score 0.1 and 0.3, caption 1 scores 0.8 -> rank 1; image 2: caption 1 is best
    np.testing.assert_array_equal(image_to_text_ranks(sim, caption_image, groups), [1, 0])
    # without groups image 1 is a wrong answer for caption 0
    np.testing.assert_array_equal(text_to_image_ranks(sim, caption_image), [2, 2, 1])
    np.testing.assert_array_equal(image_to_text_ranks(sim, caption_image), [1, 0])


def test_five_captions_per_image():
    # Multi30k task 2 layout: captions 0-4 describe image 0, captions 5-9 image 1
    caption_image = np.repeat([0, 1], 5)
    sim = np.array(
        [
            [0.2, 0.1, 0.3, 0.2, 0.1, 0.5, 0.4, 0.1, 0.1, 0.1],  # image 0
            [0.1, 0.1, 0.1, 0.1, 0.1, 0.9, 0.3, 0.1, 0.05, 0.2],  # image 1
        ]
    ).T  # (Q=10, I=2)
    t2i = text_to_image_ranks(sim, caption_image)
    i2t = image_to_text_ranks(sim, caption_image)
    np.testing.assert_array_equal(t2i, [0, 1, 0, 0, 1, 0, 1, 1, 1, 0])
    np.testing.assert_array_equal(i2t, [2, 0])  # image 0: best own caption 0.3 < captions 5 (0.5) and 6 (0.4)
    metrics = retrieval_metrics(t2i, i2t)
    assert metrics["t2i_R@1"] == pytest.approx(50.0)
    assert metrics["i2t_R@1"] == pytest.approx(50.0)
    assert metrics["i2t_R@5"] == pytest.approx(100.0)


def test_constant_scores_rank_last():
    sim = np.zeros((4, 6))
    caption_image = np.array([0, 1, 2, 3])
    groups = np.array([0, 0, 1, 2, 3, 4])
    np.testing.assert_array_equal(text_to_image_ranks(sim, caption_image, groups), [4, 4, 5, 5])
    np.testing.assert_array_equal(image_to_text_ranks(sim, caption_image, groups), [2, 2, 3, 3])


def test_bad_inputs():
    sim = np.zeros((2, 3))
    with pytest.raises(ValueError, match="index into 3 images"):
        text_to_image_ranks(sim, np.array([0, 3]))
    with pytest.raises(ValueError, match="image_groups"):
        text_to_image_ranks(sim, np.array([0, 1]), np.array([0, 1]))
    with pytest.raises(ValueError, match="rows"):
        image_to_text_ranks(sim, np.array([0, 1, 2]))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_scores_are_an_error_never_a_hit(bad):
    from optical.errors import NonFiniteError, OpticalError
    from optical.evaluate import first_hit_ranks

    correct = np.array([[1, 0, 0], [0, 1, 0]], bool)
    with pytest.raises(NonFiniteError, match="scores: 2 of 2 rows hold NaN or infinite values"):
        first_hit_ranks(np.full((2, 3), bad), correct)  # NaN compares neither >= nor <: it was rank 0, a hit
    scores = np.array([[0.1, 0.9, 0.5], [0.2, 0.3, bad]])  # one bad wrong item in row 1
    with pytest.raises(OpticalError, match="scores: 1 of 2 rows"):
        first_hit_ranks(scores, correct)
    with pytest.raises(NonFiniteError):
        text_to_image_ranks(scores, np.array([0, 1]))


def test_retrieval_ranks_refuse_non_finite_embeddings_by_side_and_row_count():
    from optical.errors import NonFiniteError
    from optical.evaluate import check_finite

    rng = np.random.RandomState(0)
    text, images = rng.randn(4, 3), rng.randn(2, 3)
    caption_image = np.array([0, 0, 1, 1])
    text[[1, 3], 0] = np.nan
    with pytest.raises(NonFiniteError, match="caption embeddings: 2 of 4 rows"):
        retrieval_ranks(text, images, caption_image)
    images[1, 2] = np.inf
    with pytest.raises(NonFiniteError, match="image embeddings: 1 of 2 rows"):
        retrieval_ranks(np.zeros((4, 3)), images, caption_image)
    assert check_finite(np.zeros((2, 3)), "fine") is not None
    with pytest.raises(NonFiniteError, match=r"^mse: the de caption embeddings: 1 of 1 rows"):
        check_finite(np.array([np.nan]), "mse: the de caption embeddings")
