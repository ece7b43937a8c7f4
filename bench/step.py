"""One OPTICAL train step vs one MSE step: same batch, same student, teacher states cached (budget <= 1.05x).

Both with the experiment's loss settings (``LossConfig()``), so with the English term: each student also reads the
English side of each pair (its distinct English sentences forwarded once per step, as ``train_student`` does) and
its loss is the mean of the foreign and the English term; ``--foreign-only`` measures both without it.

    python bench/step.py [--batch 64] [--repeats 5] [--train-layers 4] [--device cpu|cuda] [--no-prefix]
                         [--text-encoder NAME_OR_PATH] [--foreign-only]
                         [--ot-reg 0.1 --ot-reg-scale relative --ot-iters 5000 --ot-tokens all]

The OT flags measure another point of a sweep than the defaults (e.g. the sharp plans of relative epsilon 0.1,
which need thousands of Sinkhorn iterations).

Uses the converted multilingual-e5-small (run `python -m optical prepare` first), or ``--text-encoder``, and real
stamp captions.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from optical.data import iter_bitext  # noqa: E402
from optical.distill import DualEncoder  # noqa: E402
from optical.distill import FrozenPrefix, student_batch  # noqa: E402
from optical.distill import teacher_targets  # noqa: E402
from optical.distill.losses import LossConfig, create_loss  # noqa: E402
from optical.encoders import create_text_encoder  # noqa: E402


def step_seconds(student, targets, texts, n_foreign, eng_idx, loss, optimizer, device, prefix) -> float:
    """Wall time of one full step (forward, loss, backward, optimiser), as in training: ``texts`` holds the
    ``n_foreign`` foreign sentences, then the distinct English ones, pair k's English sentence is ``eng_idx[k]``."""
    t0 = time.perf_counter()
    rows = torch.arange(n_foreign)
    english_rows = eng_idx + n_foreign if loss.uses_english else None
    out = student_batch(student, texts, rows, english_rows, prefix, device)
    value = loss(out, targets.batch(eng_idx, device))
    optimizer.zero_grad()
    value.backward()
    optimizer.step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--train-layers", type=int, default=4)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--no-prefix", action="store_true", help="run the frozen layers at every step too")
    parser.add_argument("--text-encoder", default="multilingual-e5-small", help="built-in name or folder")
    parser.add_argument("--foreign-only", action="store_true", help="no English term (LossConfig(english=False))")
    defaults = LossConfig()
    parser.add_argument("--ot-reg", type=float, default=defaults.reg)
    parser.add_argument("--ot-reg-scale", default=defaults.reg_scale)
    parser.add_argument("--ot-iters", type=int, default=defaults.n_iter)
    parser.add_argument("--ot-tokens", default=defaults.tokens)
    args = parser.parse_args()
    device = torch.device(args.device)
    pairs = []
    share = args.batch // 4
    for k, lang in enumerate(("de", "fr", "ga", "zu")):  # another slice per language: English sentences mostly
        pairs += list(iter_bitext("stamps", lang))[k * share : (k + 1) * share]  # distinct, as in a shuffled batch
    index: dict[str, int] = {}
    eng_idx = torch.tensor([index.setdefault(en, len(index)) for en, _ in pairs])
    english = list(index)
    foreign = [fo for _, fo in pairs]
    teacher = DualEncoder(create_text_encoder(args.text_encoder), 256, 1280).to(device).eval()
    targets = teacher_targets(teacher, english)
    texts = foreign + english
    prefix = None if args.no_prefix else FrozenPrefix.for_top_layers(teacher, args.train_layers, texts)
    config = LossConfig(english=not args.foreign_only, reg=args.ot_reg, reg_scale=args.ot_reg_scale,
                        n_iter=args.ot_iters, tokens=args.ot_tokens)
    print(f"batch {len(foreign)} ({len(english)} distinct English), top {args.train_layers} layers trainable, "
          f"frozen-layer cache: {prefix is not None}, English term: {'on' if config.english else 'off'}, "
          f"OT: {config.reg_scale} reg {config.reg:g}, cap {config.n_iter}, tokens {config.tokens}")
    methods = ("mse", "optical", "optical+mse")
    setups = {}
    for method in methods:
        student = teacher.text_side().to(device)
        student.freeze(args.train_layers)
        optimizer = torch.optim.AdamW([p for p in student.parameters() if p.requires_grad], lr=1e-5)
        setups[method] = (student, create_loss(method, config), optimizer)
    times: dict[str, list[float]] = {m: [] for m in methods}
    for repeat in range(args.repeats + 1):  # round-robin so machine noise hits every method alike; 0 = warm-up
        for method, (student, loss, optimizer) in setups.items():
            seconds = step_seconds(student, targets, texts, len(foreign), eng_idx, loss, optimizer, device, prefix)
            if repeat:
                times[method].append(seconds)
    results = {m: statistics.median(t) for m, t in times.items()}
    for method in methods:
        print(f"{method:12s} median step {results[method] * 1000:8.1f} ms  (n={args.repeats}, batch {len(foreign)})")
    print(f"ratio optical / mse      = {results['optical'] / results['mse']:.3f}  (budget <= 1.05)")
    print(f"ratio optical+mse / mse  = {results['optical+mse'] / results['mse']:.3f}")


if __name__ == "__main__":
    main()
