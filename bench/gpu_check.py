"""The CUDA path in one go: quick-preset runs on the GPU, pooled and late (``--scoring late``), ``optical eval`` of
both (the pooled one in fp32 and bf16), ``pytest -m cuda``, the OT and step benches on the GPU, then the pooled run
on the CPU beside it (mR compared), a full-preset run on the GPU, the late run on the CPU (compared), and a
2-process torchrun when there are 2 GPUs. A failing step is printed and the others still run; the exit status says whether any failed.

    python bench/gpu_check.py [--small] [--device auto|cpu|cuda] [--budget SECONDS]

``scripts/gpu_check.sh`` runs it with the carried assets (a session lent a GPU; read that script first). Without
CUDA it runs every step on the CPU once (the fallback that shows the script works; ``--small``: a slice of the
quick preset, for 2 cores). Everything is written under ``$OPTICAL_CACHE`` (the script points it at a temporary
copy of the carried cache). The text tower is multilingual-e5-small's architecture with random weights and e5's
real tokenizer (the converted e5, 465 MB, does not travel): recall is near chance, so this checks that the CUDA
path runs and agrees with the CPU, not quality. CPU and GPU runs share the seed: their mR must agree within the
runs' intervals (bf16 autocast on CUDA and a different summation order make them close, not equal).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import traceback
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from optical.store import atomic_dir, cache_dir, runs_dir  # noqa: E402
from optical.cli import main as optical  # noqa: E402
from optical.config import preset  # noqa: E402

# intfloat/multilingual-e5-small's config.json (the fields that shape the model)
E5_SMALL = dict(vocab_size=250037, hidden_size=384, num_hidden_layers=12, num_attention_heads=12,
                intermediate_size=1536, max_position_embeddings=512, type_vocab_size=2, pad_token_id=0,
                layer_norm_eps=1e-12, hidden_act="gelu")


def e5_sized_tower(tokenizer_dir: Path) -> Path:
    """A random BertModel shaped as multilingual-e5-small, with e5's tokenizer, saved as an HF folder (once)."""
    from transformers import AutoTokenizer, BertConfig, BertModel

    folder = cache_dir() / "gpu-check" / "e5-sized"
    if not (folder / "model.safetensors").is_file():
        torch.manual_seed(0)
        with atomic_dir(folder) as tmp:
            BertModel(BertConfig(**E5_SMALL)).eval().save_pretrained(tmp)  # with the pooler, as the real one
            AutoTokenizer.from_pretrained(tokenizer_dir).save_pretrained(tmp)
    return folder


def cli(*argv: str) -> float:
    """``python -m optical ARGV`` in this process (so CUDA memory statistics see it); wall seconds."""
    t0 = time.perf_counter()
    code = optical(list(argv))
    if code:
        sys.exit(f"optical {' '.join(argv)} exited {code}")
    return time.perf_counter() - t0


def gpu_peak() -> str:
    if not torch.cuda.is_available():
        return ""
    peak = torch.cuda.max_memory_allocated() / 2**30
    torch.cuda.reset_peak_memory_stats()
    return f", peak GPU memory {peak:.2f} GiB"


def mr_table(run_ids: list[str]) -> dict[str, dict[str, dict]]:
    """{run: {method/language: {"mR": x, "ci": [lo, hi]}}} from each run's metrics.json."""
    out = {}
    for run_id in run_ids:
        results = json.loads((runs_dir() / run_id / "metrics.json").read_text())["results"]
        out[run_id] = {f"{m}/{lang}": {"mR": r["metrics"]["mR"], "ci": r.get("ci", {}).get("mR")}
                       for m, langs in results.items() for lang, r in langs.items()}
    return out


def compare(gpu: str, cpu: str) -> None:
    """Each method and language's mR on the GPU beside the CPU's, and whether each lies in the other's interval."""
    table = mr_table([gpu, cpu])
    worst, outside = 0.0, []
    print(f"{'method/language':24s} {'GPU mR':>8s} {'CPU mR':>8s}  CPU 95% interval")
    for key, g in table[gpu].items():
        c = table[cpu][key]
        worst = max(worst, abs(g["mR"] - c["mR"]))
        lo, hi = c["ci"] or (None, None)
        inside = lo is None or lo <= g["mR"] <= hi
        outside += [] if inside else [key]
        print(f"{key:24s} {g['mR']:8.1f} {c['mR']:8.1f}  [{lo}, {hi}]{'' if inside else '  OUTSIDE'}")
    print(f"largest |GPU - CPU| mR: {worst:.2f}; outside the CPU run's interval: {outside or 'none'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto", help="auto (cuda when present), cpu or cuda")
    parser.add_argument("--small", action="store_true", help="2 languages, 64 bitext pairs each, 1 epoch each")
    parser.add_argument("--tokenizer", default=str(REPO / "cache" / "models" / "multilingual-e5-small"),
                        help="a folder with e5's tokenizer (scripts/gpu_check.sh unpacks the carried one)")
    parser.add_argument("--budget", type=float, default=float("inf"),
                        help="seconds after which the steps still to come (CPU reruns, the full preset) are skipped")
    args = parser.parse_args()
    device = "cuda" if args.device == "auto" and torch.cuda.is_available() else args.device
    device = "cpu" if device == "auto" else device
    print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, devices {torch.cuda.device_count()}, "
          f"{os.cpu_count()} CPUs; checking on {device}", flush=True)
    if device == "cuda":
        print(f"GPU: {torch.cuda.get_device_name(0)}", flush=True)
    started = time.perf_counter()
    failed: list[str] = []

    def step(name: str, action, optional: bool = False) -> None:
        """Run one check; a failure is printed and the next check still runs (one broken step hides nothing)."""
        if optional and time.perf_counter() - started > args.budget:
            print(f"SKIPPED {name}: past the --budget of {args.budget:.0f} s", flush=True)
            return
        try:
            action()
        except BaseException as err:  # noqa: BLE001 - SystemExit from cli() included
            failed.append(name)
            print(f"FAILED {name}: {type(err).__name__}: {err}", flush=True)
            traceback.print_exc()

    tower = e5_sized_tower(Path(args.tokenizer))
    run = ["run", "--preset", "quick", "--text-encoder", str(tower), "--seed", "0"]
    if args.small:
        run += ["--languages", "de,ga", "--bitext-pairs", "64", "--epochs", "1", "--teacher-epochs", "1"]
    late = ["--scoring", "late", "--region-grid", "4"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    devices = [device, "cpu"] if device != "cpu" else ["cpu"]
    # the GPU's runs first: CPU reruns that are too slow must not hide the GPU figures
    step(f"pooled run on {device}", lambda: timed_run(run, device, f"gpu-check-{device}"))
    step(f"late run on {device}", lambda: timed_run(run + late, device, f"gpu-check-late-{device}"))
    for precision in ("fp32", "bf16"):
        step(f"eval {precision}", lambda precision=precision: timed(
            f"[{device}] optical eval --precision {precision} on the run's own dataset", "eval", f"gpu-check-{device}",
            "--dataset", "stamps", "--device", device, "--precision", precision, "--name", f"stamps-{precision}"))
    step("late eval", lambda: timed(f"[{device}] optical eval of the late run", "eval", f"gpu-check-late-{device}",
                                    "--dataset", "stamps", "--device", device, "--name", "stamps"))
    if device == "cuda":  # the CUDA tests (tests/test_cuda.py), skipped everywhere else
        step("pytest -m cuda", lambda: subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-m", "cuda", "-p", "no:cacheprovider"], cwd=REPO, env=env,
            check=True))
    for bench in (["bench/transport.py", "--device", device, "--repeats", "5"],
                  ["bench/step.py", "--device", device, "--text-encoder", str(tower), "--repeats", "5"]):
        step(bench[0], lambda bench=bench: (print(f"[{device}] python {' '.join(bench)}", flush=True),
                                            subprocess.run([sys.executable, *bench], cwd=REPO, env=env, check=True)))
    if device != "cpu":
        step("pooled run on the CPU", lambda: (timed_run(run, "cpu", "gpu-check-cpu"),
                                               compare(f"gpu-check-{device}", "gpu-check-cpu")), optional=True)
        step(f"full preset on {device}", lambda: full_preset_run(tower, device), optional=True)
        step("late run on the CPU", lambda: (timed_run(run + late, "cpu", "gpu-check-late-cpu"),
                                             compare(f"gpu-check-late-{device}", "gpu-check-late-cpu")), optional=True)
    if device == "cuda" and torch.cuda.device_count() >= 2:
        def torchrun() -> None:
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "-m", "optical",
                            *run, "--device", "cuda", "--run-id", "gpu-check-ddp"], cwd=REPO, env=env, check=True)
            print(f"[cuda x2] torchrun (NCCL): {time.perf_counter() - t0:.1f} s", flush=True)
            compare("gpu-check-ddp", f"gpu-check-{device}")
        step("torchrun", torchrun)
    else:
        print(f"torchrun: {torch.cuda.device_count()} GPU(s), the 2-process NCCL run needs 2 (skipped)", flush=True)
    print(f"gpu check: {time.perf_counter() - started:.0f} s; failed: {failed or 'none'}", flush=True)
    sys.exit(1 if failed else 0)


def timed(label: str, *argv: str) -> None:
    wall = cli(*argv)
    print(f"{label}: {wall:.1f} s{gpu_peak()}", flush=True)


def timed_run(run: list[str], device: str, run_id: str) -> None:
    """``optical RUN --device DEVICE --run-id RUN_ID``, its wall time and stages printed."""
    wall = cli(*run, "--device", device, "--run-id", run_id)
    timing = json.loads((runs_dir() / run_id / "metrics.json").read_text())["timing"]
    stages = ", ".join(f"{k.removesuffix('_s')} {v:.1f} s" for k, v in timing.items())
    print(f"[{device}] optical {' '.join(run[1:])} ({run_id}): {wall:.1f} s{gpu_peak()}; stages: {stages}", flush=True)


def full_preset_run(tower: Path, device: str) -> None:
    """The full preset (every language, full student epochs) on ``device``, its teacher without OpenClipart (whose
    prepared drawings, 116 MB, do not travel): a config file, since sources have no flag."""
    config = preset("full")
    config.teacher_sources = ["dataset", "imagenet-prototypes"]
    path = cache_dir() / "gpu-check" / "full.json"
    path.write_text(json.dumps(config.to_dict()), encoding="utf-8")
    timed_run(["run", "--config", str(path), "--text-encoder", str(tower), "--seed", "0"], device,
              f"gpu-check-full-{device}")


if __name__ == "__main__":
    main()
