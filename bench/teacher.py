"""Which teacher? Train a few teacher settings and print their English mR on validation data.

    OPTICAL_CACHE=cache python bench/teacher.py [--only NAME,...] [--test] [--threads 2]

Validation columns (what the choice is made on): the stamps val split (also the teacher's early stopping), the
held-out val slice of OpenClipart (never trained on: only its train split is a source), and art4apps val (a
check: art4apps is never a source). ``--test`` adds the stamps test split and all of art4apps, for the chosen
setting only (report, do not choose, on them). Needs ``python -m optical prepare --with art4apps --with
openclipart``.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from optical.data import benchmark_retrieval_set, load_art4apps, load_openclipart, load_stamps  # noqa: E402
from optical.distill._models import DualEncoder  # noqa: E402
from optical.distill._prefix import FrozenPrefix  # noqa: E402
from optical.distill._teacher import train_teacher  # noqa: E402
from optical.distill.distributed import init_distributed  # noqa: E402
from optical.encoders import create_image_encoder, create_text_encoder, encode_image_files  # noqa: E402
from optical.evaluate import retrieval_metrics, retrieval_ranks  # noqa: E402
from optical.experiment import ExperimentConfig  # noqa: E402
from optical.experiment._data import load_experiment_data  # noqa: E402
from optical.experiment._teacher_data import teacher_pairs  # noqa: E402

ALL = ["dataset", "openclipart", "imagenet-prototypes"]
SETTINGS: dict[str, dict] = {
    "stamps only (old default)": {"teacher_sources": ["dataset"]},
    "stamps+prototypes": {"teacher_sources": ["dataset", "imagenet-prototypes"]},
    "stamps+openclipart": {"teacher_sources": ["dataset", "openclipart"]},
    "all three": {"teacher_sources": ALL},
    "all, 8 text layers": {"teacher_sources": ALL, "teacher_train_layers": 8},
    "all, 'a drawing of a'": {"teacher_sources": ALL, "prototype_template": "a drawing of a {lemma}"},
    "all, 'a {lemma}'": {"teacher_sources": ALL, "prototype_template": "{lemma}"},
    "all, 10 epochs": {"teacher_sources": ALL, "teacher": {"epochs": 10}},
}


def english_mr(teacher: DualEncoder, rs, features: torch.Tensor) -> float:
    images = teacher.embed_images(features).numpy()
    text = teacher.encode(rs.captions).numpy()
    return retrieval_metrics(*retrieval_ranks(text, images, rs.caption_image, rs.image_groups))["mR"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="comma-separated setting names (default: all)")
    parser.add_argument("--test", action="store_true", help="also print the test columns")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    names = args.only.split(",") if args.only else list(SETTINGS)
    image_encoder = create_image_encoder("efficientnet-lite0")
    base = ExperimentConfig(languages=["de"])
    data = load_experiment_data(base, image_encoder, progress=False)
    columns = {"stamps val": data.val.retrieval,
               "openclipart val": benchmark_retrieval_set(load_openclipart(), "en", "val"),
               "art4apps val": benchmark_retrieval_set(load_art4apps(), "en", "val")}
    if args.test:
        columns["stamps test"] = benchmark_retrieval_set(load_stamps(), "en", "test")
        columns["art4apps all"] = benchmark_retrieval_set(load_art4apps(), "en", None)
    features = {k: torch.from_numpy(encode_image_files(rs.image_paths, image_encoder, progress=False))
                for k, rs in columns.items()}
    info = init_distributed("cpu")
    header = f"{'setting':30s} {'pairs':>6s} {'epochs':>6s} {'min':>5s} " + " ".join(f"{k:>15s}" for k in columns)
    print(header, flush=True)
    for name in names:
        spec = dict(SETTINGS[name])
        teacher_cfg = dataclasses.replace(base.teacher, **spec.pop("teacher", {}))
        config = dataclasses.replace(base, teacher=teacher_cfg, **spec)
        t0 = time.time()
        pairs = teacher_pairs(config, data, image_encoder, progress=False)
        torch.manual_seed(config.seed)
        teacher = DualEncoder(create_text_encoder(config.text_encoder), config.embed_dim, pairs.features.shape[1])
        teacher.freeze(config.teacher_train_layers)
        with tempfile.TemporaryDirectory() as work:
            state = train_teacher(
                teacher, pairs.captions, pairs.features, pairs.groups, config.teacher, info, Path(work),
                validate=lambda: english_mr(teacher, data.val.retrieval, data.val.features),
                prefix=FrozenPrefix.for_top_layers(teacher, config.teacher_train_layers, pairs.captions),
            )
        teacher.eval()
        scores = " ".join(f"{english_mr(teacher, rs, features[k]):15.1f}" for k, rs in columns.items())
        print(f"{name:30s} {len(pairs.captions):6d} {state.best_epoch:6d} {(time.time() - t0) / 60:5.1f} {scores}",
              flush=True)
    print(f"excluded as evaluation data (last setting): {pairs.excluded}")


if __name__ == "__main__":
    main()
