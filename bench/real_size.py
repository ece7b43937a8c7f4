"""``--teacher clip:`` and ``--student-encoder`` at real size: the path a user with real weights takes.

    python bench/real_size.py [--pairs 64] [--languages de,ga] [--batch 32] [--steps 3] [--no-eval]

Builds once, under ``cache/bench/real-size/`` (random weights; a folder is written whole or not at all):

- ``clip-vit-base-patch32/``: a ``CLIPModel`` with openai/clip-vit-base-patch32's configuration (151M parameters,
  ViT-B/32 at 224 px, 12-layer 512-wide text tower, 77 positions, the legacy ``eos_token_id`` 2 of that checkpoint),
  the real CLIP BPE tokenizer (49,408 tokens: ``bpe_simple_vocab_16e6.txt.gz`` read as data from the
  ``open_clip_torch`` wheel, fetched with ``pip download``; never imported) and CLIP's image preprocessing;
- ``xlm-roberta-base/``: an ``XLMRobertaModel`` with xlm-roberta-base's configuration (278M parameters, 250,002
  pieces, 514 positions) and the real XLM-R sentencepiece tokenizer (the converted multilingual-e5-small's: the same
  vocabulary; run ``python -m optical prepare`` first).

Then it measures, with recall at chance (random weights: this checks shapes, tokenizers, lengths, memory and
speed, not quality):

1. student train steps in this process (XLM-R base, top 4 layers + a projection to CLIP's 512, frozen-layer cache,
   real stamp bitext against CLIP's projected text tokens): median step time of ``mse`` and ``optical``;
2. the CLI in a child process, as a user runs it: ``optical run --teacher clip:DIR --student-encoder DIR --methods
   zero-shot,mse,optical --bitext-pairs N --epochs 1``: wall time, peak RSS, per-stage times (``metrics.json``);
3. ``optical eval`` of that run on art4apps (``python -m optical prepare --with art4apps`` first): wall, peak RSS;
4. the extrapolation to the full preset (its 12 languages' bitext, 2 epochs) at the measured step time, and the
   compute floor of a step on a GPU at an assumed sustained rate (printed with the assumption).
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.step import step_seconds  # noqa: E402
from bench.timing import timed  # noqa: E402
from optical.store import atomic_dir, cache_dir, models_dir, runs_dir  # noqa: E402
from optical.data import iter_bitext  # noqa: E402
from optical.distill import FrozenPrefix, ProjectedTextEncoder, teacher_targets  # noqa: E402
from optical.distill.losses import create_loss  # noqa: E402
from optical.encoders import create_text_encoder  # noqa: E402
from optical.config import FULL_LANGUAGES  # noqa: E402

RUN_ID = "bench-real-size"
TRAIN_LAYERS = 4  # the students' default (student_train_layers)
GPU_TFLOPS = 200.0  # assumed sustained bf16 rate of one H100 on these small matmuls (its dense peak is ~990)

# openai/clip-vit-base-patch32's config.json (the fields that shape the model), and xlm-roberta-base's
CLIP_TEXT = dict(vocab_size=49408, hidden_size=512, intermediate_size=2048, num_hidden_layers=12,
                 num_attention_heads=8, max_position_embeddings=77, hidden_act="quick_gelu", layer_norm_eps=1e-5,
                 bos_token_id=0, eos_token_id=2, pad_token_id=1)
CLIP_VISION = dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
                   image_size=224, patch_size=32, hidden_act="quick_gelu", layer_norm_eps=1e-5)
XLMR_BASE = dict(vocab_size=250002, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                 intermediate_size=3072, max_position_embeddings=514, type_vocab_size=1, pad_token_id=1,
                 bos_token_id=0, eos_token_id=2, layer_norm_eps=1e-5, hidden_act="gelu")


def clip_bpe(folder: Path) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """CLIP's BPE vocabulary and merges from ``bpe_simple_vocab_16e6.txt.gz`` inside the ``open_clip_torch`` wheel
    (``pip download`` into ``folder``), built as open_clip's ``SimpleTokenizer`` builds them."""
    wheels = sorted(folder.glob("open_clip_torch-*.whl"))
    if not wheels:
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "open_clip_torch", "--no-deps",
                        "--only-binary", ":all:", "-d", str(folder)], check=True)
        wheels = sorted(folder.glob("open_clip_torch-*.whl"))
    with zipfile.ZipFile(wheels[-1]) as wheel:
        lines = gzip.decompress(wheel.read("open_clip/bpe_simple_vocab_16e6.txt.gz")).decode().split("\n")
    merges = [tuple(line.split()) for line in lines[1 : 49152 - 256 - 2 + 1]]
    byte_chars = _bytes_to_unicode()
    tokens = byte_chars + [c + "</w>" for c in byte_chars] + ["".join(m) for m in merges]
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    return {t: i for i, t in enumerate(tokens)}, merges


def _bytes_to_unicode() -> list[str]:
    """GPT-2's byte-to-character table, in CLIP's order (printable bytes first)."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    extra = [b for b in range(256) if b not in printable]
    return [chr(b) for b in printable] + [chr(256 + i) for i in range(len(extra))]


def build_clip(folder: Path, downloads: Path) -> None:
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPTokenizer

    vocab, merges = clip_bpe(downloads)
    tokenizer = CLIPTokenizer(vocab=vocab, merges=merges)
    ids = tokenizer("a photo of a cat")["input_ids"]
    assert ids == [49406, 320, 1125, 539, 320, 2368, 49407], ids  # what openai's tokenizer gives
    torch.manual_seed(0)
    config = CLIPConfig(text_config=CLIP_TEXT, vision_config=CLIP_VISION, projection_dim=512)
    with atomic_dir(folder) as tmp:
        CLIPModel(config).eval().save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        CLIPImageProcessor().save_pretrained(tmp)  # its defaults are openai's: 224 px, CLIP's mean and std


def build_xlmr(folder: Path) -> None:
    from transformers import AutoTokenizer, XLMRobertaConfig, XLMRobertaModel

    tokenizer = AutoTokenizer.from_pretrained(models_dir() / "multilingual-e5-small")
    assert len(tokenizer) == XLMR_BASE["vocab_size"], len(tokenizer)
    torch.manual_seed(0)
    with atomic_dir(folder) as tmp:
        XLMRobertaModel(XLMRobertaConfig(**XLMR_BASE)).eval().save_pretrained(tmp)  # with the pooler, as the real one
        tokenizer.save_pretrained(tmp)


def bitext(languages: list[str], pairs: int) -> tuple[list[str], list[str]]:
    """The first ``pairs`` stamp bitext pairs of each language: (english, foreign)."""
    english, foreign = [], []
    for lang in languages:
        for en, fo in list(iter_bitext("stamps", lang))[:pairs]:
            english.append(en)
            foreign.append(fo)
    return english, foreign


def student_steps(clip: Path, xlmr: Path, english: list[str], foreign: list[str], batch: int, repeats: int
                  ) -> dict[str, float]:
    """Median seconds of one student train step per method, and the cache's build time and mean token count."""
    teacher = ProjectedTextEncoder(create_text_encoder(clip), 512).eval()  # CLIP's projected text tokens
    t0 = time.perf_counter()
    targets = teacher_targets(teacher, english[:batch])
    out = {"teacher_targets_per_sentence_s": (time.perf_counter() - t0) / batch}
    student = ProjectedTextEncoder(create_text_encoder(xlmr), 512)
    student.freeze(TRAIN_LAYERS)
    t0 = time.perf_counter()
    prefix = FrozenPrefix.for_top_layers(student, TRAIN_LAYERS, foreign[:batch])
    out["prefix_per_sentence_s"] = (time.perf_counter() - t0) / batch
    out["tokens_per_sentence"] = statistics.mean(len(s) for s in prefix.states)
    index = torch.arange(batch)
    for method in ("mse", "optical"):
        optimizer = torch.optim.AdamW([p for p in student.parameters() if p.requires_grad], lr=1e-5)
        loss = create_loss(method)
        times = [step_seconds(student, targets, foreign, index, loss, optimizer, torch.device("cpu"), prefix)
                 for _ in range(repeats + 1)][1:]  # the first is a warm-up
        out[f"{method}_step_s"] = statistics.median(times)
    return out


def step_flops(tokens: float, batch: int) -> float:
    """Matrix-multiply FLOPs of one student step: forward + backward (3x forward) through the trainable top layers
    of XLM-R base and the projection, for ``batch`` sentences of ``tokens`` tokens."""
    h, inner = XLMR_BASE["hidden_size"], XLMR_BASE["intermediate_size"]
    per_token_layer = 2 * (4 * h * h + 2 * h * inner) + 4 * tokens * h  # projections + FFN + attention scores
    return 3 * batch * tokens * (TRAIN_LAYERS * per_token_layer + 2 * h * 512)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=64, help="bitext pairs per language in the CLI run")
    parser.add_argument("--languages", default="de,ga")
    parser.add_argument("--batch", type=int, default=32, help="student batch (the in-process steps)")
    parser.add_argument("--steps", type=int, default=3, help="timed steps per method (after one warm-up)")
    parser.add_argument("--no-eval", action="store_true", help="skip `optical eval` on art4apps")
    args = parser.parse_args()
    languages = args.languages.split(",")
    home = cache_dir() / "bench" / "real-size"
    clip, xlmr = home / "clip-vit-base-patch32", home / "xlm-roberta-base"
    t0 = time.perf_counter()
    if not (clip / "model.safetensors").is_file():
        build_clip(clip, home / "downloads")
    if not (xlmr / "model.safetensors").is_file():
        build_xlmr(xlmr)
    print(f"real-size models in {home} ({time.perf_counter() - t0:.0f} s to build or find); torch threads "
          f"{torch.get_num_threads()}", flush=True)

    english, foreign = bitext(languages, max(args.pairs, args.batch))
    steps = student_steps(clip, xlmr, english, foreign, args.batch, args.steps)
    tokens = steps["tokens_per_sentence"]
    print(f"student step, batch {args.batch} (XLM-R base, top {TRAIN_LAYERS} layers + projection, {tokens:.1f} "
          f"tokens a sentence): mse {steps['mse_step_s']:.2f} s, optical {steps['optical_step_s']:.2f} s "
          f"(median of {args.steps}); frozen-layer cache {steps['prefix_per_sentence_s'] * 1000:.1f} ms a sentence, "
          f"CLIP teacher targets {steps['teacher_targets_per_sentence_s'] * 1000:.1f} ms a sentence", flush=True)

    shutil.rmtree(runs_dir() / RUN_ID, ignore_errors=True)  # this bench's own run folder, from a previous time
    run = [sys.executable, "-m", "optical", "run", "--teacher", f"clip:{clip}", "--student-encoder", str(xlmr),
           "--methods", "zero-shot,mse,optical", "--languages", args.languages, "--bitext-pairs", str(args.pairs),
           "--epochs", "1", "--run-id", RUN_ID]
    wall, rss, cpu, _ = timed(run)
    metrics = json.loads((runs_dir() / RUN_ID / "metrics.json").read_text())
    stages = ", ".join(f"{k.removesuffix('_s')} {v:.0f} s" for k, v in metrics["timing"].items())
    print(f"optical run (--bitext-pairs {args.pairs}, {len(languages)} languages, 1 epoch): {wall:.0f} s wall, "
          f"{cpu:.0f} s CPU, peak RSS {rss:.2f} GiB; stages: {stages}", flush=True)
    recall = {m: round(r[languages[0]]["metrics"]["mR"], 1) for m, r in metrics["results"].items()}
    print(f"mR on {languages[0]} (chance level, random weights): {recall}", flush=True)
    if not args.no_eval:
        wall, rss, cpu, _ = timed([sys.executable, "-m", "optical", "eval", RUN_ID, "--dataset", "art4apps",
                                   "--languages", "de"])
        print(f"optical eval on art4apps (de): {wall:.0f} s wall, {cpu:.0f} s CPU, peak RSS {rss:.2f} GiB",
              flush=True)

    full_pairs = sum(len(list(iter_bitext("stamps", lang))) for lang in FULL_LANGUAGES)
    full_steps = 2 * -(-full_pairs // args.batch)  # 2 epochs (the default student config)
    flops = step_flops(tokens, args.batch)
    for method in ("mse", "optical"):
        cpu_min = full_steps * steps[f"{method}_step_s"] / 60
        gpu_s = full_steps * flops / (GPU_TFLOPS * 1e12)
        print(f"full preset, {method}: {full_pairs:,} pairs x 2 epochs = {full_steps:,} steps of {args.batch}: "
              f"~{cpu_min:.0f} min of steps on this CPU; GPU compute floor {gpu_s:.1f} s at an assumed "
              f"{GPU_TFLOPS:.0f} TFLOP/s ({flops / 1e9:.0f} GFLOP a step; kernel launches dominate at this size)",
              flush=True)
    frozen = (full_pairs + len(set(english))) * steps["prefix_per_sentence_s"] / 60
    print(f"full preset, once per run: frozen-layer cache of every foreign and English sentence ~{frozen:.0f} min",
          flush=True)


if __name__ == "__main__":
    main()
