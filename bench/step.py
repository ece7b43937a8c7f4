"""One OPTICAL train step vs one MSE step: same batch, same student, teacher states cached (budget <= 1.05x).

    python bench/step.py [--batch 64] [--repeats 5] [--train-layers 4] [--device cpu|cuda]

Uses the converted multilingual-e5-small (run `python -m optical prepare` first) and real stamp captions.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from optical.data import iter_bitext
from optical.distill._models import DualEncoder
from optical.distill._student import teacher_targets
from optical.distill.losses import create_loss
from optical.encoders import create_text_encoder


def step_seconds(student, targets, foreign, eng_idx, loss, optimizer, repeats: int, device) -> list[float]:
    """Wall time of ``repeats`` full steps (tokenize, forward, loss, backward, optimiser) after one warm-up."""
    times = []
    for i in range(repeats + 1):
        t0 = time.perf_counter()
        feats = {k: v.to(device) for k, v in student.tokenize(foreign).items()}
        value = loss(student(feats), targets.batch(eng_idx, device))
        optimizer.zero_grad()
        value.backward()
        optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        if i:
            times.append(time.perf_counter() - t0)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--train-layers", type=int, default=4)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    pairs = []
    for lang in ("de", "fr", "ga", "zu"):
        pairs += list(iter_bitext("stamps", lang))[: args.batch // 4]
    english = [en for en, _ in pairs]
    foreign = [fo for _, fo in pairs]
    teacher = DualEncoder(create_text_encoder("multilingual-e5-small"), 256, 1280).to(device).eval()
    targets = teacher_targets(teacher, english)
    eng_idx = torch.arange(len(english))
    results = {}
    for method in ("mse", "optical", "optical+mse"):
        student = teacher.text_side().to(device)
        student.freeze(args.train_layers)
        optimizer = torch.optim.AdamW([p for p in student.parameters() if p.requires_grad], lr=1e-5)
        times = step_seconds(student, targets, foreign, eng_idx, create_loss(method), optimizer, args.repeats, device)
        results[method] = statistics.median(times)
        print(f"{method:12s} median step {results[method] * 1000:8.1f} ms  (n={args.repeats}, batch {len(foreign)})")
    print(f"ratio optical / mse      = {results['optical'] / results['mse']:.3f}  (budget <= 1.05)")
    print(f"ratio optical+mse / mse  = {results['optical+mse'] / results['mse']:.3f}")


if __name__ == "__main__":
    main()
