"""How large is each term's gradient in ``optical+mse`` at the first step, fixed vs scale-free weighting?

    python bench/grad_ratio.py [--batch 64] [--seeds 0,1,2] [--train-layers 4] [--english on|off|both]
                               [--device cpu|cuda] [--text-encoder NAME_OR_PATH]

The real setting of a student's first step: the e5 teacher (multilingual-e5-small, run `python -m optical prepare`
first) with an untrained 256-wide head, the student its text side with the top ``--train-layers`` layers trainable,
in training mode (dropout), on real stamp bitext (de, fr, ga, zu, a quarter of the batch each, a different sample per
seed). For each seed it prints the two terms' values, the L2 norms of their gradients w.r.t. the trainable
parameters and the ratio OT / MSE before weighting and as each weighting weights them
(``CombinedLoss.gradient_ratio``, what ``train_student`` records at the first step).
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from optical.data import iter_bitext  # noqa: E402
from optical.distill import DualEncoder, FrozenPrefix, student_batch, teacher_targets  # noqa: E402
from optical.distill.losses import LossConfig, create_loss  # noqa: E402
from optical.distill.train import train_mode  # noqa: E402
from optical.encoders import create_text_encoder  # noqa: E402

LANGUAGES = ("de", "fr", "ga", "zu")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--train-layers", type=int, default=4)
    parser.add_argument("--english", choices=["on", "off", "both"], default="both",
                        help="the English term (ot.english; on is the experiment's default)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--text-encoder", default="multilingual-e5-small", help="built-in name or folder")
    args = parser.parse_args()
    device = torch.device(args.device)
    seeds = [int(s) for s in args.seeds.split(",")]
    bitext = {lang: list(iter_bitext("stamps", lang)) for lang in LANGUAGES}
    torch.manual_seed(0)
    teacher = DualEncoder(create_text_encoder(args.text_encoder), 256, 1280).to(device).eval()  # untrained head
    trainable_layers = args.train_layers
    print(f"{args.text_encoder}, untrained head (256), top {trainable_layers} layers trainable, batch {args.batch} "
          f"of stamp bitext ({', '.join(LANGUAGES)}), device {device}")
    englishes = {"on": [True], "off": [False], "both": [True, False]}[args.english]
    summary: dict[tuple[bool, str], list[float]] = {}
    for seed in seeds:
        gen = torch.Generator().manual_seed(seed)
        pairs = []
        for lang in LANGUAGES:
            rows = torch.randperm(len(bitext[lang]), generator=gen)[: args.batch // len(LANGUAGES)].tolist()
            pairs += [bitext[lang][r] for r in rows]
        english = list(dict.fromkeys(en for en, _ in pairs))
        eng = torch.tensor([english.index(en) for en, _ in pairs])
        foreign = [fo for _, fo in pairs]
        texts = foreign + english
        targets = teacher_targets(teacher, english)
        prefix = FrozenPrefix.for_top_layers(teacher, trainable_layers, texts)
        idx = torch.arange(len(foreign))
        for use_english in englishes:
            torch.manual_seed(seed)  # the same dropout for both weightings
            student = teacher.text_side().to(device)
            student.freeze(trainable_layers)
            train_mode(student)
            params = [p for p in student.parameters() if p.requires_grad]
            out = student_batch(student, texts, idx, eng + len(foreign) if use_english else None, prefix, device)
            teacher_out = targets.batch(eng, device)
            for weighting in ("fixed", "scale-free"):
                loss = create_loss("optical+mse", LossConfig(english=use_english, weighting=weighting))
                _, r = loss.gradient_ratio(out, teacher_out, params)
                summary.setdefault((use_english, weighting), []).append(r["weighted_grad_ratio"])
                print(f"seed {seed} english {'on ' if use_english else 'off'} {weighting:10s}  "
                      f"L_ot {r['optical']:.4f}  L_mse {r['mse']:.5f}  |grad L_ot| {r['optical_grad_norm']:.4f}  "
                      f"|grad L_mse| {r['mse_grad_norm']:.5f}  unweighted ratio {r['grad_ratio']:6.2f}  "
                      f"weighted ratio {r['weighted_grad_ratio']:6.3f}  ({r['seconds'] * 1000:.0f} ms for both grads)")
    print("median weighted ratio |grad OT| / |grad MSE| over seeds:")
    for (use_english, weighting), ratios in summary.items():
        print(f"  english {'on ' if use_english else 'off'} {weighting:10s} {statistics.median(ratios):7.3f}  "
              f"(range {min(ratios):.3f}..{max(ratios):.3f})")


if __name__ == "__main__":
    main()
