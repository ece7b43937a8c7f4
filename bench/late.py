"""Late interaction (FILIP) against pooled scoring: the issue's budgets, as ratios of runs in one process.

    OMP_NUM_THREADS=1 python bench/late.py [--parts 1,2,3,4] [--region-grid 7] [--steps 54] [--captions 60000]
        [--images 800] [--galleries 1000,100000] [--queries 50] [--exact-queries 5] [--prefilter 100,1000]

Times are the process's CPU seconds (one thread: the wall time on an idle core; the cores here are shared).
1. Teacher, heads only (``freeze(0)``, ``FrozenPrefix``, val mR per epoch, as ``_train_teacher``), real e5-small,
   efficientnet-lite0 features of the stamps train split: late / pooled for --steps steps at --region-grid and 4
   (budget <= 2x), then with its images encoded from an empty cache (late: pooled and region passes, as a run).
2. ``optical eval``-like, 4 models (random-head teacher + 3 students, loaded as ``evaluate_run`` loads them),
   --captions synthetic captions (bench/eval.py's words, 5 languages) x --images random images, each path in a
   fresh process: pooled ``encode_shared`` + ``retrieval_ranks``; late ``encode_shared(tokens=True)`` + ``late_scores``
   (chunk 64) + both directions, per language. Ratio scaled to 60,000 x 800 (encoding linear in captions, ranking
   in captions x images; budget <= 1.5x); each process's peak RSS (budget <= 3 GB).
3. App query, late teacher (part 1's, else random heads): cached regions of stamps, OpenClipart and art4apps, tiled
   to each gallery size (copies with --noise relative noise per region), fp16 as gallery_regions.npy; real
   captions as queries. Exact ``rank_late`` vs two-stage (faiss top-K of the pooled embeddings, ``rank_late`` of
   those K): median ms per query (budget <= 50 ms at 1k, 150 ms at 100k), two-stage recall@10 against exact.
4. Size and time of a finished late run and its pooled twin (--runs), read from cache/runs.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from unittest import mock

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.eval import LANGUAGES, WORDS  # noqa: E402
from bench.region_cache import DATASETS, SUFFIXES  # noqa: E402
from optical.config import ExperimentConfig  # noqa: E402
from optical.data import benchmark_retrieval_set, load_art4apps, load_stamps  # noqa: E402
from optical.distill import DualEncoder, FrozenPrefix, ProjectedTextEncoder, train_teacher  # noqa: E402
from optical.distill.distributed import init_distributed  # noqa: E402
from optical.encoders import (create_image_encoder, create_text_encoder, encode_image_files,  # noqa: E402
                              encode_image_regions)
from optical.evaluate import (build_index, image_to_text_ranks, retrieval_metrics, retrieval_ranks,  # noqa: E402
                              search, text_to_image_ranks)
from optical.experiment import encode_shared, shared_frozen_layers  # noqa: E402
from optical.scoring import Padded, late_scores, pool_grid, rank_late  # noqa: E402
from optical.store import cache_dir  # noqa: E402

E5, LITE0, DIM, FULL = "multilingual-e5-small", "efficientnet-lite0", 256, (60_000, 800)
now = time.process_time


def clock(fn, *args, **kwargs) -> tuple[float, object]:
    t0 = now()
    out = fn(*args, **kwargs)
    return now() - t0, out


def ranks(text: np.ndarray | Padded, images: np.ndarray | Padded, caption_image, groups) -> tuple:
    """(t2i, i2t) as the runner ranks: cosines of embeddings, or the full late-score matrix in chunks of 64."""
    if isinstance(text, Padded):
        sim = late_scores(text.values, text.mask, images.values, images.mask, chunk=64).numpy()
        return text_to_image_ranks(sim, caption_image, groups), image_to_text_ranks(sim, caption_image, groups)
    return retrieval_ranks(text, images, caption_image, groups)


def all_real(values: torch.Tensor) -> Padded:
    return Padded(values, torch.ones(values.shape[:2], dtype=torch.bool))


def part1(args: argparse.Namespace) -> DualEncoder:
    """Prints the teacher-training figures; returns the late teacher at --region-grid."""
    train, val = (benchmark_retrieval_set(load_stamps(), "en", s) for s in ("train", "val"))
    encoder = create_image_encoder(LITE0).eval()
    with tempfile.TemporaryDirectory() as tmp, mock.patch("optical.encoders._image_features.features_dir",
                                                          lambda: Path(tmp)):
        t_pooled = clock(encode_image_files, train.image_paths, encoder, progress=False)[0]
        t_regions = clock(encode_image_regions, train.image_paths, encoder, progress=False)[0]
    feats = {s: torch.from_numpy(encode_image_files(rs.image_paths, encoder, progress=False))
             for s, rs in (("train", train), ("val", val))}
    raw = {s: torch.from_numpy(encode_image_regions(rs.image_paths, encoder, progress=False))
           for s, rs in (("train", train), ("val", val))}
    epochs = math.ceil(args.steps / math.ceil(len(train.captions) / ExperimentConfig().teacher.batch_size))
    config = dataclasses.replace(ExperimentConfig().teacher, epochs=epochs, patience=epochs)  # no early stop
    groups = [str(g) for g in train.image_groups[train.caption_image]]
    print(f"1. teacher, heads only: {len(train.captions)} stamps train captions, batch {config.batch_size}, {epochs} "
          f"epochs; its {len(train.image_paths)} images from an empty cache: pooled {t_pooled:.1f} s, regions "
          f"{t_regions:.1f} s", flush=True)
    base = kept = None
    for grid in dict.fromkeys([0, args.region_grid, 4]):  # 0: pooled
        torch.manual_seed(0)
        teacher = DualEncoder(create_text_encoder(E5), DIM, feats["train"].shape[1], "late" if grid else "pooled")
        teacher.freeze(0)
        regions = {s: all_real(pool_grid(r, grid)) for s, r in raw.items()} if grid else {}
        spent = [0.0]

        def validate() -> float:
            t0 = now()
            if teacher.scoring == "late":
                text, images = teacher.encode_tokens(val.captions), teacher.embed_regions(regions["val"])
            else:
                text, images = teacher.encode(val.captions).numpy(), teacher.embed_images(feats["val"]).numpy()
            score = retrieval_metrics(*ranks(text, images, val.caption_image, val.image_groups))["mR"]
            spent[0] += now() - t0
            return score

        t_prefix, prefix = clock(FrozenPrefix.for_top_layers, teacher, 0, train.captions)
        with tempfile.TemporaryDirectory() as work:
            total, state = clock(train_teacher, teacher, train.captions, feats["train"][train.caption_image], groups,
                                 config, init_distributed("cpu"), Path(work), validate=validate, prefix=prefix,
                                 regions=(regions["train"], torch.as_tensor(train.caption_image)) if grid else None)
        row = (total - spent[0], t_prefix + total, t_prefix + total + t_pooled + (t_regions if grid else 0))
        base = row if not grid else base
        ratios = f"; / pooled {row[0] / base[0]:.2f}x, {row[1] / base[1]:.2f}x, {row[2] / base[2]:.2f}x" if grid else ""
        print(f"   {f'late {grid}x{grid}' if grid else 'pooled':9s}: {state.step} steps {row[0]:6.1f} s "
              f"({1e3 * row[0] / state.step:4.0f} ms/step), + prefix and val {row[1]:6.1f} s, + image features "
              f"{row[2]:6.1f} s{ratios}; val mR {state.best_score:.1f}", flush=True)
        kept = teacher.eval() if grid == args.region_grid else kept
    print("   (budget: late / pooled <= 2x)")
    return kept


def save_models(folder: Path) -> None:
    """A late teacher (random heads) and 3 students as distillation leaves them (top 4 layers and head perturbed)."""
    torch.manual_seed(0)
    teacher = DualEncoder(create_text_encoder(E5), DIM, 1280, "late")
    teacher.freeze(0)
    teacher.save(folder / "teacher")
    for seed in (1, 2, 3):
        student = teacher.text_side()
        student.freeze(4)
        torch.manual_seed(seed)
        with torch.no_grad():
            for p in (p for p in student.parameters() if p.requires_grad):
                p.add_(0.01 * torch.randn_like(p))
        student.save(folder / f"student{seed}")


def eval_path(late: bool, args: argparse.Namespace, folder: Path) -> tuple[float, float, float, int]:
    """One path of an eval, in a fresh process: (encode s, rank s, its peak RSS GiB, shared layers or tokens)."""
    rng = np.random.default_rng(0)
    per = max(1, args.captions // len(LANGUAGES))
    image, groups = np.arange(per) % args.images, np.arange(args.images)
    sets = [[f"{' '.join(rng.choice(WORDS[lang], size=rng.integers(3, 13)))} {i}" for i in image]
            for lang in LANGUAGES]
    teacher = DualEncoder.load(folder / "teacher").eval()
    models = {"teacher": teacher, **{k: ProjectedTextEncoder.load(folder / k, shared_text=teacher.text).eval()
                                     for k in ("student1", "student2", "student3")}}
    n_frozen, encode, rank, width = shared_frozen_layers(list(models.values())), 0.0, 0.0, 0
    if late:  # every caption once, token states through the shared bottom layers (encode_shared(tokens=True))
        regions = all_real(F.normalize(torch.randn(args.images, args.region_grid ** 2, DIM), dim=-1))
        encode, embedded = clock(encode_shared, models, [t for captions in sets for t in captions], n_frozen,
                                 tokens=True)
        for m in models:
            for k in range(len(LANGUAGES)):
                tokens = embedded[m].rows(range(k * per, (k + 1) * per))
                rank += clock(ranks, tokens, regions, image, groups)[0]
                width = max(width, tokens.values.shape[1])
    else:  # every caption once, the shared bottom layers once for all models (encode_shared)
        gallery = F.normalize(torch.randn(args.images, DIM), dim=-1).numpy()
        encode, embedded = clock(encode_shared, models, [t for captions in sets for t in captions], n_frozen)
        rank = sum(clock(ranks, embedded[m][k * per:(k + 1) * per], gallery, image, groups)[0]
                   for m in models for k in range(len(LANGUAGES)))
    # VmHWM, not ru_maxrss: that keeps the parent's peak across the spawn's exec
    hwm = next(x for x in Path("/proc/self/status").read_text().splitlines() if x.startswith("VmHWM"))
    return encode, rank, int(hwm.split()[1]) / 2**20, width if late else n_frozen


def part2(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        save_models(Path(tmp))
        paths = []
        for late in (False, True):  # each in a fresh process, so its peak RSS is its own
            with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
                paths.append(pool.submit(eval_path, late, args, Path(tmp)).result())
    (enc_p, rank_p, rss_p, n_frozen), (enc_l, rank_l, rss_l, width) = paths
    n, per_language = max(1, args.captions // len(LANGUAGES)) * len(LANGUAGES), FULL[0] // len(LANGUAGES)
    c, m = FULL[0] / n, FULL[0] * FULL[1] / (n * args.images)
    full_p, full_l = enc_p * c + rank_p * m, enc_l * c + rank_l * m
    print(f"2. eval, 4 models, {n:,} captions x {args.images} images, {args.region_grid ** 2} regions:\n"
          f"   pooled ({n_frozen} shared layers): encode {enc_p:7.1f} s, rank {rank_p:6.1f} s, "
          f"peak RSS {rss_p:.2f} GiB\n"
          f"   late: encode {enc_l:7.1f} s, rank {rank_l:6.1f} s, peak RSS {rss_l:.2f} GiB (budget <= 3 GB); "
          f"late / pooled {(enc_l + rank_l) / (enc_p + rank_p):.2f}x here\n"
          f"   one language's token states at full size ({per_language:,} x {width} x {DIM} fp32): "
          f"{per_language * width * DIM * 4 / 2**30:.2f} GiB\n"
          f"   scaled to {FULL[0]:,} x {FULL[1]}: pooled {full_p / 60:.1f} min, late {full_l / 60:.1f} min (encode "
          f"{enc_l * c / 60:.1f}, rank {rank_l * m / 60:.1f}): late / pooled {full_l / full_p:.2f}x (budget <= 1.5x)",
          flush=True)


def query(teacher: DualEncoder, text: str) -> tuple[Padded, np.ndarray]:
    """One query, one forward: its token states (1, L, D) and its normalised sentence embedding (1, D)."""
    with torch.no_grad():
        out = teacher(teacher.tokenize([text]))
    return all_real(out["token_embeddings"].float()), F.normalize(out["sentence_embedding"].float(), dim=-1).numpy()


def exact_late(tokens: Padded, regions: torch.Tensor, k: int = 10, block: int = 1024) -> np.ndarray:
    """Exact late top-``k`` over fp16 ``regions`` (I, R, D), ``block`` images made fp32 at a time: (N, k) indices."""
    best_s = best_i = None
    for start in range(0, len(regions), block):
        part = regions[start:start + block].float()
        s, i = rank_late(tokens.values, tokens.mask, part, k=min(k, len(part)))
        s, i = (s, i + start) if best_s is None else (torch.cat([best_s, s], 1), torch.cat([best_i, i + start], 1))
        best_s, pos = s.topk(min(k, s.shape[1]), dim=1)
        best_i = i.gather(1, pos)
    return best_i.numpy()


def part3(args: argparse.Namespace, teacher: DualEncoder | None) -> None:
    trained = teacher is not None
    if teacher is None:
        torch.manual_seed(0)
        teacher = DualEncoder(create_text_encoder(E5), DIM, 1280, "late").eval()
    paths = [p for folder in DATASETS.values() if (cache_dir() / folder).is_dir()
             for p in sorted((cache_dir() / folder).rglob("*")) if p.suffix.lower() in SUFFIXES]
    raw = pool_grid(torch.from_numpy(encode_image_regions(paths, create_image_encoder(LITE0), progress=False)),
                    args.region_grid)
    with torch.no_grad():  # the teacher's projected regions, not yet normalised: (I0, R, D)
        own = torch.cat([teacher.encode_image_features(raw[i:i + 512].float(), normalize=False)
                         for i in range(0, len(raw), 512)])
    captions = benchmark_retrieval_set(load_stamps(), "en", "test").captions
    captions = list(dict.fromkeys(captions + benchmark_retrieval_set(load_art4apps(), "en", None).captions))
    picked = [captions[i] for i in np.random.default_rng(0).choice(len(captions), args.queries, replace=False)]
    encode_ms = statistics.median(1e3 * clock(query, teacher, q)[0] for q in picked)
    queries = [query(teacher, q) for q in picked]
    print(f"3. app query, late teacher ({'part 1' if trained else 'random'} heads): {len(own)} real images x "
          f"{own.shape[1]} regions, tiled with {args.noise} relative noise; {args.queries} real captions; one query's "
          f"e5 forward {encode_ms:.1f} ms (median)", flush=True)
    for size in args.galleries:
        gen = torch.Generator().manual_seed(size)
        rows = torch.randperm(len(own), generator=gen)[torch.arange(size) % len(own)]
        regions, pooled = torch.empty(size, own.shape[1], DIM, dtype=torch.float16), np.empty((size, DIM), np.float32)
        for start in range(0, size, 4096):
            u = own[rows[start:start + 4096]]
            copy = (torch.arange(start, start + len(u)) >= len(own)).float()[:, None, None]  # the originals first
            u = u + copy * args.noise * u.norm(dim=-1, keepdim=True) * torch.randn(u.shape, generator=gen) / DIM ** 0.5
            regions[start:start + len(u)] = F.normalize(u, dim=-1).half()
            pooled[start:start + len(u)] = F.normalize(u.mean(1), dim=-1).numpy()  # = embed_images of mean features
        index = build_index(pooled)
        exact = [set(top.tolist()) for top in exact_late(Padded.stack([t.values[0] for t, _ in queries]), regions)]
        exact_ms = statistics.median(1e3 * clock(exact_late, t, regions)[0] for t, _ in queries[:args.exact_queries])
        print(f"   {size:7,d} images ({regions.nbytes / 2**30:.2f} GiB): exact late {exact_ms:7.1f} ms + encode = "
              f"{exact_ms + encode_ms:7.1f} ms (median of {min(args.queries, args.exact_queries)})", flush=True)
        for k in args.prefilter:
            times, recall = [], []
            for (tokens, sentence), truth in zip(queries, exact):
                t0 = now()
                cand = search(sentence, index, min(k, size))[1][0]
                top = rank_late(tokens.values, tokens.mask, regions[cand].float(), k=10)[1][0]
                times.append(1e3 * (now() - t0))
                recall.append(len(truth & set(cand[top.numpy()].tolist())) / 10)
            ms = statistics.median(times)
            print(f"      two-stage K={k:5d}: {ms:6.1f} ms + encode = {ms + encode_ms:6.1f} ms (budget <= "
                  f"{50 if size <= 1000 else 150} ms), recall@10 against exact late {np.mean(recall):.3f}", flush=True)
        del regions, pooled, index


def part4(args: argparse.Namespace) -> None:
    print("4. late run: size and peak RSS")
    sizes = {}
    for name in args.runs:
        folder = cache_dir() / "runs" / name
        status = json.loads((folder / "status.json").read_text()) if (folder / "status.json").is_file() else {}
        if status.get("state") != "done":
            print(f"   {name}: not finished ({status.get('state', 'absent')}), nothing to read")
            continue
        sizes[name] = sum(os.lstat(os.path.join(d, f)).st_size for d, _, files in os.walk(folder) for f in files)
        metrics = folder / "metrics.json"
        timing = json.loads(metrics.read_text()).get("timing") if metrics.is_file() else None
        print(f"   {name}: {sizes[name] / 2**20:.0f} MiB, wall {(status['finished'] - status['started']) / 60:.1f} "
              f"min, timing {timing}")
    if len(sizes) == 2:
        print(f"   folder size {' / '.join(sizes)}: {list(sizes.values())[0] / list(sizes.values())[1]:.2f}x")
    print("   a run records no peak RSS: /usr/bin/time -v python -m optical run ... --scoring late --region-grid N "
          "('Maximum resident set size'), and the same run with --scoring pooled; size: du -sh cache/runs/RUN")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ints = lambda text: [int(x) for x in text.split(",")]  # noqa: E731
    parser.add_argument("--parts", type=ints, default=[1, 2, 3, 4])
    parser.add_argument("--region-grid", type=int, default=7)
    parser.add_argument("--steps", type=int, default=54, help="teacher steps, rounded up to whole epochs (9 steps)")
    parser.add_argument("--captions", type=int, default=FULL[0])
    parser.add_argument("--images", type=int, default=FULL[1])
    parser.add_argument("--galleries", type=ints, default=[1_000, 100_000])
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--exact-queries", type=int, default=5, help="queries the exact late latency is timed on")
    parser.add_argument("--prefilter", type=ints, default=[100, 1000], help="two-stage K values")
    parser.add_argument("--noise", type=float, default=0.3, help="relative noise per region of a tiled copy")
    parser.add_argument("--runs", type=lambda t: t.split(","), default=["late-full-s0", "fair-full-s0"])
    args = parser.parse_args()
    print(f"torch threads {torch.get_num_threads()}, {os.cpu_count()} CPUs; CPU seconds", flush=True)
    teacher = part1(args) if 1 in args.parts else None
    if 2 in args.parts:
        part2(args)
    if 3 in args.parts:
        part3(args, teacher)
    if 4 in args.parts:
        part4(args)


if __name__ == "__main__":
    main()
