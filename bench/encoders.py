"""Encoder throughput on this machine (design section 7), printed; nothing is asserted.

Run from the repository root: ``python -m bench.encoders``. Each ``bench_*`` function measures one tower,
prints its figures and returns them; ``main`` runs every function listed in ``BENCHES``.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch
from PIL import Image

from optical.encoders import EfficientNetLite0, create_text_encoder


def best_seconds(fn: Callable[[], object], repeats: int) -> float:
    """The fastest of ``repeats`` timed calls, after one untimed warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def bench_image_tower(batch_size: int = 64, repeats: int = 3) -> dict[str, float]:
    """EfficientNet-Lite0: images/s of the forward pass at ``batch_size`` (224 px) and of ``preprocess``."""
    model = EfficientNetLite0.from_pretrained()
    pixels = torch.randn(batch_size, 3, model.image_size, model.image_size)
    with torch.inference_mode():
        forward_s = best_seconds(lambda: model(pixels), repeats)
    photo = Image.new("RGB", (400, 300), (120, 160, 90))  # a typical stamp size
    preprocess_s = best_seconds(lambda: [model.preprocess(photo) for _ in range(batch_size)], repeats)
    result = {
        "image_forward_img_per_s": batch_size / forward_s,
        "image_preprocess_img_per_s": batch_size / preprocess_s,
        "image_ms_per_img": 1000 * (forward_s + preprocess_s) / batch_size,
    }
    print(
        f"image tower {model.name}, batch {batch_size}, {torch.get_num_threads()} threads: "
        f"forward {result['image_forward_img_per_s']:.1f} img/s, "
        f"preprocess {result['image_preprocess_img_per_s']:.0f} img/s, "
        f"{result['image_ms_per_img']:.1f} ms/img together"
    )
    return result


# Stamp-like captions (a few words, ~10 tokens with the "query: " prefix), cycled to fill a batch.
CAPTIONS = [
    "red apple", "ein kleiner Hund", "un chat noir", "caballo marrón", "žlutý tulipán", "большой корабль",
    "קוף", "قطة صغيرة", "पीला फूल", "一只小鸟", "桜の花", "축구공", "ngwenya eluhlaza", "sailboat on the sea",
]


def bench_text_tower(name: str = "multilingual-e5-small", batch_size: int = 64, repeats: int = 3) -> dict[str, float]:
    """A text tower (e5 needs `python -m optical prepare`): sentences/s of ``tokenize``, ``forward``, ``encode``."""
    encoder = create_text_encoder(name)
    texts = [CAPTIONS[i % len(CAPTIONS)] for i in range(batch_size)]
    features = encoder.tokenize(texts)
    tokenize_s = best_seconds(lambda: encoder.tokenize(texts), repeats)
    with torch.inference_mode():
        forward_s = best_seconds(lambda: encoder(features), repeats)
    encode_s = best_seconds(lambda: encoder.encode(texts, batch_size=batch_size), repeats)
    result = {
        "text_tokenize_sent_per_s": batch_size / tokenize_s,
        "text_forward_sent_per_s": batch_size / forward_s,
        "text_encode_sent_per_s": batch_size / encode_s,
    }
    print(
        f"text tower {name}, batch {batch_size} x {features['input_ids'].shape[1]} tokens, "
        f"{torch.get_num_threads()} threads: tokenize {result['text_tokenize_sent_per_s']:.0f} sent/s, "
        f"forward {result['text_forward_sent_per_s']:.0f} sent/s, encode {result['text_encode_sent_per_s']:.0f} sent/s"
    )
    return result


BENCHES: list[Callable[[], dict[str, float]]] = [bench_image_tower, bench_text_tower]


def main() -> None:
    for bench in BENCHES:
        bench()


if __name__ == "__main__":
    main()
