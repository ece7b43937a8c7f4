"""One OPTICAL train step vs one MSE step: same batch, same student, teacher states cached (budget <= 1.05x).

    python bench/step.py [--batch 64] [--repeats 5] [--train-layers 4] [--device cpu|cuda] [--no-prefix]
                         [--text-encoder NAME_OR_PATH]

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
from optical.distill import FrozenPrefix, forward_texts  # noqa: E402
from optical.distill import teacher_targets  # noqa: E402
from optical.distill.losses import create_loss  # noqa: E402
from optical.encoders import create_text_encoder  # noqa: E402


def step_seconds(student, targets, foreign, eng_idx, loss, optimizer, device, prefix) -> float:
    """Wall time of one full step (forward, loss, backward, optimiser), as in training."""
    t0 = time.perf_counter()
    value = loss(forward_texts(student, foreign, eng_idx, prefix, device), targets.batch(eng_idx, device))
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
    args = parser.parse_args()
    device = torch.device(args.device)
    pairs = []
    for lang in ("de", "fr", "ga", "zu"):
        pairs += list(iter_bitext("stamps", lang))[: args.batch // 4]
    english = [en for en, _ in pairs]
    foreign = [fo for _, fo in pairs]
    teacher = DualEncoder(create_text_encoder(args.text_encoder), 256, 1280).to(device).eval()
    targets = teacher_targets(teacher, english)
    eng_idx = torch.arange(len(english))
    prefix = None if args.no_prefix else FrozenPrefix.for_top_layers(teacher, args.train_layers, foreign)
    print(f"batch {len(foreign)}, top {args.train_layers} layers trainable, frozen-layer cache: {prefix is not None}")
    methods = ("mse", "optical", "optical+mse")
    setups = {}
    for method in methods:
        student = teacher.text_side().to(device)
        student.freeze(args.train_layers)
        optimizer = torch.optim.AdamW([p for p in student.parameters() if p.requires_grad], lr=1e-5)
        setups[method] = (student, create_loss(method), optimizer)
    times: dict[str, list[float]] = {m: [] for m in methods}
    for repeat in range(args.repeats + 1):  # round-robin so machine noise hits every method alike; 0 = warm-up
        for method, (student, loss, optimizer) in setups.items():
            seconds = step_seconds(student, targets, foreign, eng_idx, loss, optimizer, device, prefix)
            if repeat:
                times[method].append(seconds)
    results = {m: statistics.median(t) for m, t in times.items()}
    for method in methods:
        print(f"{method:12s} median step {results[method] * 1000:8.1f} ms  (n={args.repeats}, batch {len(foreign)})")
    print(f"ratio optical / mse      = {results['optical'] / results['mse']:.3f}  (budget <= 1.05)")
    print(f"ratio optical+mse / mse  = {results['optical+mse'] / results['mse']:.3f}")


if __name__ == "__main__":
    main()
