"""Which teacher? Train teacher settings and print their English mR on validation data.

    OPTICAL_CACHE=cache python bench/teacher.py [--only 'NAME;...'] [--layers N] [--test] [--threads 2]
                                                [--image-encoder efficientnet-lite2]

Validation columns (what the choice is made on): the stamps val split (also the teacher's early stopping), the
held-out val slice of OpenClipart (only its train split is ever a source), and art4apps val (a check: art4apps is
never a source). ``--test`` adds the stamps test split and all of art4apps, to report (not choose) on.

``--layers 0`` (the default) trains the heads only (projections and temperature) on the frozen text tower's
sentence embeddings, computed once per caption: each setting takes seconds, so the grid is cheap. ``--layers N``
trains the top N text layers as a run does (``train_teacher``, minutes per setting). ``--image-encoder`` picks the
image tower (default efficientnet-lite0): every image feature and the ImageNet prototypes (its classifier head)
come from it; a tower's first pass encodes every image once (minutes), later ones read the feature cache.
Needs ``python -m optical prepare --with art4apps --with openclipart``.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from optical.data import benchmark_retrieval_set, load_art4apps, load_openclipart, load_stamps  # noqa: E402
from optical.distill import DualEncoder, FrozenPrefix, clip_loss, train_teacher  # noqa: E402
from optical.distill.distributed import init_distributed  # noqa: E402
from optical.encoders import create_image_encoder, create_text_encoder, encode_image_files  # noqa: E402
from optical.evaluate import retrieval_metrics, retrieval_ranks  # noqa: E402
from optical.config import ExperimentConfig  # noqa: E402
from optical.experiment import load_experiment_data, teacher_pairs  # noqa: E402

ALL = ["dataset", "openclipart", "imagenet-prototypes"]
SETTINGS: dict[str, dict] = {
    "stamps only (old sources)": {"teacher_sources": ["dataset"]},
    "stamps+prototypes": {"teacher_sources": ["dataset", "imagenet-prototypes"]},
    "stamps+openclipart": {"teacher_sources": ["dataset", "openclipart"]},
    "all three": {"teacher_sources": ALL},
    "all: 'a drawing of a'": {"teacher_sources": ALL, "prototype_template": "a drawing of a {lemma}"},
    "all: '{lemma}'": {"teacher_sources": ALL, "prototype_template": "{lemma}"},
    "all: 20 epochs": {"teacher_sources": ALL, "teacher": {"epochs": 20, "patience": 4}},
    "all: batch 256": {"teacher_sources": ALL, "teacher": {"epochs": 20, "patience": 4, "batch_size": 256}},
    "all: synonyms": {"teacher_sources": ALL, "prototype_synonyms": True},
    "all: scale 2": {"teacher_sources": ALL, "prototype_scale": 2.0},
    "all: scale 0.5": {"teacher_sources": ALL, "prototype_scale": 0.5},
    "all: with gloss": {"teacher_sources": ALL, "prototype_template": "a photo of a {lemma}, {definition}"},
    "all: head lr 3e-3": {"teacher_sources": ALL, "teacher": {"head_lr": 3e-3}},
    "all: batch 256, 40 epochs": {"teacher_sources": ALL,
                                  "teacher": {"epochs": 40, "patience": 8, "batch_size": 256}},
    "all: batch 512": {"teacher_sources": ALL, "teacher": {"epochs": 40, "patience": 8, "batch_size": 512}},
    "all: synonyms, batch 256": {"teacher_sources": ALL, "prototype_synonyms": True,
                                 "teacher": {"epochs": 40, "patience": 8, "batch_size": 256}},
    "stamps+protos: batch 256": {"teacher_sources": ["dataset", "imagenet-prototypes"],
                                 "teacher": {"epochs": 40, "patience": 8, "batch_size": 256}},
    "stamps+openclipart: batch 256": {"teacher_sources": ["dataset", "openclipart"],
                                      "teacher": {"epochs": 40, "patience": 8, "batch_size": 256}},
    "stamps+protos: 20 epochs": {"teacher_sources": ["dataset", "imagenet-prototypes"],
                                 "teacher": {"epochs": 20, "patience": 4}},
}


class SentenceCache:
    """Frozen text-tower sentence embeddings (N, H), computed once per caption."""

    def __init__(self, text) -> None:
        self.text, self.vectors = text, {}

    def __call__(self, captions: list[str]) -> torch.Tensor:
        todo = list(dict.fromkeys(c for c in captions if c not in self.vectors))
        if todo:
            with torch.no_grad():
                for caption, vector in zip(todo, self.text.encode(todo, normalize=False)):
                    self.vectors[caption] = vector
        return torch.stack([self.vectors[c] for c in captions])


def english_mr(text: torch.Tensor, images: torch.Tensor, rs) -> float:
    """mR of normalised caption (Q, D) and image (I, D) embeddings on ``rs``."""
    return retrieval_metrics(*retrieval_ranks(text.numpy(), images.numpy(), rs.caption_image, rs.image_groups))["mR"]


def train_heads(teacher: DualEncoder, sentences: torch.Tensor, features: torch.Tensor, groups: list[str],
                config, validate) -> int:
    """Fit proj, image_proj and logit_scale on fixed sentence embeddings (N, H); returns the best epoch."""
    ids: dict[str, int] = {}
    group_ids = torch.tensor([ids.setdefault(g, len(ids)) for g in groups])
    params = [teacher.proj.weight, teacher.image_proj.weight, teacher.logit_scale]
    optimizer = torch.optim.AdamW(params, lr=config.head_lr, weight_decay=config.weight_decay)
    best, best_epoch, best_state = -1.0, 0, None
    for epoch in range(1, config.epochs + 1):
        order = torch.randperm(len(groups), generator=torch.Generator().manual_seed(config.seed * 1000 + epoch))
        for start in range(0, len(order), config.batch_size):
            idx = order[start:start + config.batch_size]
            text = nn.functional.normalize(teacher.proj(sentences[idx]), dim=-1)
            loss = clip_loss(text, teacher.encode_image_features(features[idx]), group_ids[idx], teacher.logit_scale)
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(params, config.grad_clip)
            optimizer.step()
        score = validate()
        if score > best:
            best, best_epoch, best_state = score, epoch, [p.detach().clone() for p in params]
        elif epoch - best_epoch >= config.patience:
            break
    with torch.no_grad():
        for p, saved in zip(params, best_state):
            p.copy_(saved)
    return best_epoch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="setting names separated by ';' (default: all)")
    parser.add_argument("--layers", type=int, default=0, help="top text layers trained (0: heads only, fast)")
    parser.add_argument("--test", action="store_true", help="also print the test columns")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--image-encoder", default="efficientnet-lite0",
                        help="image tower: a built-in name (list_encoders('image')) or a CLIPModel")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    names = args.only.split(";") if args.only else list(SETTINGS)
    image_encoder = create_image_encoder(args.image_encoder)
    base = ExperimentConfig(languages=["de"], teacher_train_layers=args.layers, image_encoder=args.image_encoder)
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
    sentences = SentenceCache(create_text_encoder(base.text_encoder))
    print(f"image encoder: {args.image_encoder}; text layers trained: {args.layers or 'none (heads only)'}; English mR")
    print(f"{'setting':28s} {'pairs':>6s} {'epoch':>5s} {'min':>5s} " + " ".join(f"{k:>15s}" for k in columns),
          flush=True)
    for name in names:
        spec = dict(SETTINGS[name])
        teacher_cfg = dataclasses.replace(base.teacher, **spec.pop("teacher", {}))
        config = dataclasses.replace(base, teacher=teacher_cfg, **spec)
        t0 = time.time()
        pairs = teacher_pairs(config, data, image_encoder, progress=False)
        torch.manual_seed(config.seed)
        teacher = DualEncoder(create_text_encoder(config.text_encoder), config.embed_dim, pairs.features.shape[1])

        def embed(rs, image_features):
            if args.layers:
                text = teacher.encode(rs.captions)
            else:
                with torch.no_grad():
                    text = nn.functional.normalize(teacher.proj(sentences(rs.captions)), dim=-1)
            return text, teacher.embed_images(image_features)

        def validate() -> float:
            return english_mr(*embed(data.val.retrieval, data.val.features), data.val.retrieval)

        if args.layers:
            teacher.freeze(config.teacher_train_layers)
            with tempfile.TemporaryDirectory() as work:
                best_epoch = train_teacher(
                    teacher, pairs.captions, pairs.features, pairs.groups, config.teacher, info, Path(work),
                    validate=validate,
                    prefix=FrozenPrefix.for_top_layers(teacher, config.teacher_train_layers, pairs.captions),
                ).best_epoch
        else:
            best_epoch = train_heads(teacher, sentences(pairs.captions), pairs.features, pairs.groups,
                                     config.teacher, validate)
        teacher.eval()
        scores = " ".join(f"{english_mr(*embed(rs, features[k]), rs):15.1f}" for k, rs in columns.items())
        print(f"{name:28s} {len(pairs.captions):6d} {best_epoch:5d} {(time.time() - t0) / 60:5.1f} {scores}",
              flush=True)
    print(f"pairs left out as evaluation data (last setting): {pairs.excluded}")


if __name__ == "__main__":
    main()
