"""``python -m optical eval`` of a 4-model run (teacher + 3 students) on 60,000 synthetic captions x 800 images.

    python bench/eval.py [--captions 60000] [--images 800] [--train-layers 4] [--compare 3000] [--tiny]
                         [--precisions fp32,bf16]

The run is the real multilingual-e5-small tower (12 layers) with random heads, its tower frozen as the presets'
teachers train it (heads only); each student is the teacher's text side with its top ``--train-layers`` layers
and projection perturbed, as distillation leaves them. So the run folder stores what a real one does (the
students' top layers and heads, never the 96M word embeddings) and eval shares the teacher's frozen tensors. The captions
folder (``--dataset captions``) has 800 distinct PNGs and captions in en, de, fr, es, eu of 3-12 words. The eval
runs as the CLI in a child process, once per ``--precisions`` entry (fp32, then bf16 autocast): wall time and that
process's peak RSS are printed (goal <= 5 min, <= 3 GB), then how many ranks bf16 changes. Then, on ``--compare``
of the captions, the shared-prefix encoding against every model in full, scaled to all.

Everything lives in a temporary OPTICAL_CACHE (its ``models/`` links to the prepared cache's converted e5:
``$OPTICAL_CACHE`` or the checkout's ``cache/``); ``--tiny`` uses a 2-layer random BERT instead (a quick check).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from optical.store import RUN_FORMAT, atomic_write_json, cache_dir  # noqa: E402
from optical.distill import DualEncoder, ProjectedTextEncoder, transformer_layers  # noqa: E402
from optical.config import preset  # noqa: E402
from optical.experiment import encode_shared, shared_frozen_layers  # noqa: E402
from bench.timing import timed  # noqa: E402
from tests.fakes import png_bytes  # noqa: E402

LANGUAGES = ("en", "de", "fr", "es", "eu")
WORDS = {
    "en": "a the red blue green small big dog cat house tree boat apple car bird flower on in with near under".split(),
    "de": "ein der die rot blau gruen klein gross Hund Katze Haus Baum Boot Apfel Auto Vogel Blume auf mit".split(),
    "fr": "un le la rouge bleu vert petit grand chien chat maison arbre bateau pomme voiture oiseau fleur sur".split(),
    "es": "un el la rojo azul verde pequeno grande perro gato casa arbol barco manzana coche pajaro flor en".split(),
    "eu": "bat gorria urdina berdea txikia handia txakurra katua etxea zuhaitza itsasontzia sagarra autoa".split(),
}
METHODS = ["zero-shot", "mse", "optical", "optical+mse"]


def write_dataset(folder: Path, n_images: int, n_captions: int, rng: np.random.Generator) -> None:
    """``folder/images/*.png`` (distinct) and ``captions.tsv``: ``n_captions`` rows over the languages."""
    (folder / "images").mkdir(parents=True)
    for i in range(n_images):
        colour = (i % 256, (i // 256) * 37 % 256, (i * 11) % 256)
        (folder / "images" / f"img{i:04d}.png").write_bytes(png_bytes(colour, size=(16 + i % 7, 16)))
    per = n_captions // (n_images * len(LANGUAGES))
    rows = ["image\tlang\tcaption"]
    for i in range(n_images):
        for lang in LANGUAGES:
            for _ in range(per):
                words = rng.choice(WORDS[lang], size=rng.integers(3, 13))
                rows.append(f"img{i:04d}.png\t{lang}\t{' '.join(words)} {i}")
    (folder / "captions.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")


def write_run(folder: Path, text_encoder: str, train_layers: int) -> None:
    """A finished run folder: config, status, the teacher (random heads) and three perturbed students."""
    from optical.encoders import create_text_encoder

    config = preset("full")
    config.languages, config.methods, config.text_encoder = ["de", "fr"], METHODS, text_encoder
    config.student_train_layers = train_layers
    atomic_write_json(folder / "config.json", config.to_dict())
    torch.manual_seed(0)
    teacher = DualEncoder(create_text_encoder(text_encoder), config.embed_dim, 1280)
    teacher.freeze(config.teacher_train_layers)  # what teacher training trains, hence what the folder stores
    teacher.save(folder / "teacher")
    for seed, method in enumerate(METHODS[1:], start=1):
        student = teacher.text_side()
        student.freeze(train_layers)
        torch.manual_seed(seed)
        with torch.no_grad():
            top = [p for layer in transformer_layers(student.text.model)[-train_layers:] for p in layer.parameters()]
            for p in [*top, *student.proj.parameters()]:
                p.add_(0.01 * torch.randn_like(p))
        student.save(folder / "students" / method)
    atomic_write_json(folder / "status.json", {"format": RUN_FORMAT, "state": "done", "methods_done": METHODS})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--captions", type=int, default=60_000)
    parser.add_argument("--images", type=int, default=800)
    parser.add_argument("--train-layers", type=int, default=4)
    parser.add_argument("--compare", type=int, default=3000, help="captions for the with/without shared-prefix timing")
    parser.add_argument("--tiny", action="store_true", help="a 2-layer random BERT instead of e5-small")
    parser.add_argument("--precisions", default="fp32,bf16", help="the evals to run, one per --precision")
    args = parser.parse_args()
    source = cache_dir()
    with tempfile.TemporaryDirectory(prefix="optical-bench-eval-") as tmp:
        root = Path(tmp)
        cache = root / "cache"
        (cache / "runs").mkdir(parents=True)
        if args.tiny:
            from tests.fakes import saved_tiny_text_encoder

            text_encoder, args.train_layers = str(saved_tiny_text_encoder(root)), 1
        else:
            (cache / "models").symlink_to((source / "models").resolve())  # OPTICAL_CACHE may be relative
            text_encoder = "multilingual-e5-small"
        os.environ["OPTICAL_CACHE"] = str(cache)
        rng = np.random.default_rng(0)
        write_dataset(root / "data", args.images, args.captions, rng)
        write_run(cache / "runs" / "bench-run", text_encoder, args.train_layers)
        threads = torch.get_num_threads()
        print(f"{args.captions:,} captions x {args.images} images, 4 models ({text_encoder}, top {args.train_layers} "
              f"layers per student), {os.cpu_count()} CPUs, torch threads {threads}", flush=True)

        runs = {}
        for precision in args.precisions.split(","):
            command = [sys.executable, "-m", "optical", "eval", "bench-run", "--dataset", "captions", "--root",
                       str(root / "data"), "--languages", ",".join(LANGUAGES[1:]), "--device", "cpu",
                       "--precision", precision, "--name", precision]
            runs[precision] = timed(command)
            wall, peak_gib, cpu, stdout = runs[precision]
            print("\n".join(line for line in stdout.splitlines() if line.startswith("[")))
            print(f"python -m optical eval --precision {precision}: wall {wall:.1f} s ({wall / 60:.2f} min), peak RSS "
                  f"{peak_gib:.2f} GiB   goal <= 5 min, <= 3 GB", flush=True)
            # on a shared machine the wall time says little: CPU time / threads is the wall time on idle cores
            print(f"CPU time {cpu:.1f} s: {cpu / threads / 60:.2f} min on {threads} idle cores", flush=True)
        if {"fp32", "bf16"} <= set(runs):
            _compare_precisions(cache / "runs" / "bench-run" / "evals")

        teacher = DualEncoder.load(cache / "runs" / "bench-run" / "teacher").eval()
        models: dict[str, ProjectedTextEncoder] = {"teacher": teacher}
        for method in METHODS[1:]:
            path = cache / "runs" / "bench-run" / "students" / method
            models[method] = ProjectedTextEncoder.load(path, shared_text=teacher.text).eval()
        lines = (root / "data" / "captions.tsv").read_text(encoding="utf-8").splitlines()[1:]
        texts = [line.split("\t")[2] for line in lines[:: max(1, len(lines) // args.compare)]][: args.compare]
        n_frozen = shared_frozen_layers(list(models.values()))
        timings = {}
        for label, frozen in (("shared prefix", n_frozen), ("each model in full", 0)):
            t0 = time.perf_counter()
            encode_shared(models, texts, frozen)
            timings[label] = time.perf_counter() - t0
        scale = args.captions / len(texts)
        for label, seconds in timings.items():
            print(f"text encoding, 4 models, {label:19s}: {seconds:6.1f} s for {len(texts):,} captions, "
                  f"scaled to {args.captions:,}: {seconds * scale / 60:.2f} min")
        print(f"shared prefix ({n_frozen} layers run once) is {timings['each model in full'] / timings['shared prefix']:.2f}x faster")
        all_texts = list(dict.fromkeys(line.split("\t")[2] for line in lines))
        _compute_floor(models, all_texts, n_frozen)


def _compute_floor(models: dict[str, ProjectedTextEncoder], texts: list[str], n_frozen: int) -> None:
    """The least time the text encoding can take here: its matrix-multiply FLOPs (every token through the shared
    layers once and each model's top layers) over the rate these cores multiply e5-sized matrices at."""
    teacher = next(iter(models.values()))
    tokens = sum(int(teacher.tokenize(texts[i : i + 1024])["attention_mask"].sum()) for i in range(0, len(texts), 1024))
    layers = transformer_layers(teacher.text.model)
    per_token = 2 * sum(p.numel() for p in layers[0].parameters() if p.dim() == 2)  # FLOPs of one layer's GEMMs
    passes = n_frozen + len(models) * (len(layers) - n_frozen)
    flops = tokens * passes * per_token
    hidden, inner = layers[0].intermediate.dense.in_features, layers[0].intermediate.dense.out_features
    for dtype in (torch.float32, torch.bfloat16):
        a, w = torch.randn(4096, hidden, dtype=dtype), torch.randn(inner, hidden, dtype=dtype)
        torch.mm(a, w.t())
        t0 = time.perf_counter()
        for _ in range(20):
            torch.mm(a, w.t())
        rate = 20 * 2 * a.shape[0] * hidden * inner / (time.perf_counter() - t0)
        print(f"{dtype}: matmul at {rate / 1e9:.0f} GFLOP/s here; {tokens:,} tokens x {passes} layer passes = "
              f"{flops / 1e12:.1f} TFLOP: at least {flops / rate / 60:.1f} min of text encoding", flush=True)


def _compare_precisions(evals: Path) -> None:
    """What bf16 changes in the metrics: identical rank lines and the largest mR difference, fp32 against bf16."""
    fp32, bf16 = (json.loads((evals / p / "metrics.json").read_text()) for p in ("fp32", "bf16"))
    diff = max(abs(fp32["results"][m][lang]["metrics"]["mR"] - bf16["results"][m][lang]["metrics"]["mR"])
               for m in fp32["results"] for lang in fp32["results"][m])
    lines = same = 0
    for ranks in sorted((evals / "fp32" / "ranks").glob("*.csv")):
        a, b = ranks.read_text().splitlines()[1:], (evals / "bf16" / "ranks" / ranks.name).read_text().splitlines()[1:]
        lines, same = lines + len(a), same + sum(x == y for x, y in zip(a, b))
    print(f"bf16 against fp32: {same / lines:.2%} of {lines:,} ranks identical, largest mR difference {diff:.2f} points",
          flush=True)


if __name__ == "__main__":
    main()
