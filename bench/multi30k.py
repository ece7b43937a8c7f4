"""``python -m optical run --dataset multi30k`` at real scale: the real Multi30k text, stand-in images under the real
Flickr30k file names.

    nice -n 15 python bench/multi30k.py --root ../shared/multi30k [--scale 1] [--teacher-epochs 3]
                                        [--students] [--epochs 1] [--bitext-pairs 2000]

The Flickr30k images cannot be had offline, so every image the run reads (task 1 train 29,000, val 1,014,
test_2016_flickr 1,000; task 2's test_2016 lists the same 1,000) is a distinct 64x64 JPEG of deterministic
pseudo-random colour blobs, written under its real name in a temporary folder. ``--scale F`` keeps the first
fraction F of every split (a copy of the text files, same layout) for a quick check.

The run is the CLI in a child process with the quick preset's teacher (dataset + ImageNet prototypes, heads only,
batch 256, early stopping on English val), ``--teacher-epochs`` epochs, languages de, fr, cs and ``zero-shot``
(``--students``: also ``mse`` and ``optical`` on ``--bitext-pairs`` pairs per language, ``--epochs`` epochs). It
runs in a temporary OPTICAL_CACHE whose ``models/``, ``imagenet/``, ``stamps/`` and ``art4apps/`` link to the
prepared cache's (``$OPTICAL_CACHE`` or the checkout's ``cache/``) and whose ``features/`` is a copy of it, so only
the stand-ins are encoded. Printed: image-encoding time and rate, time per teacher epoch (from the timestamps of
the run's progress bars), the runner's timing from metrics.json, wall and CPU time, peak RSS (getrusage of the
child), the test recall (chance level: the images are noise) and what a GPU run would need.
"""

from __future__ import annotations

import argparse
import codecs
import gzip
import hashlib
import io
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from optical.store import cache_dir  # noqa: E402

LANGUAGES = ("de", "fr", "cs")
# (task folder, split, caption files' name patterns, image list): what a multi30k run reads
SPLITS = (
    ("task1", "train", ["train.{lang}.gz"], "train.txt"),
    ("task1", "val", ["val.{lang}.gz"], "val.txt"),
    ("task1", "test_2016_flickr", ["test_2016_flickr.{lang}.gz"], "test_2016_flickr.txt"),
    ("task2", "test_2016", [f"test_2016.{i}.{{lang}}.gz" for i in range(1, 6)], "test_2016_images.txt"),
)
LINKED = ("models", "imagenet", "stamps", "art4apps")  # read-only parts of the prepared cache the run needs
BAR = re.compile(r"(?P<desc>[^\r\n]*?):\s+\d+%\|[^|]*\|\s*(?P<n>\d+)/(?P<total>\d+)\s\[")
STAND_IN_SIZE = 64


def _read_lines(path: Path) -> list[str]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return f.read().splitlines()


def scaled_root(source: Path, target: Path, scale: float) -> Path:
    """``source`` itself for scale 1, else a copy in ``target`` of the first ``scale`` of each split's lines (plain
    text, the same layout; only the splits a run reads)."""
    if scale >= 1:
        return source
    for task, split, patterns, image_list in SPLITS:
        names = (source / "data" / task / "image_splits" / image_list).read_text(encoding="utf-8").splitlines()
        keep = max(1, round(len(names) * scale))
        (target / "data" / task / "image_splits").mkdir(parents=True, exist_ok=True)
        (target / "data" / task / "raw").mkdir(parents=True, exist_ok=True)
        (target / "data" / task / "image_splits" / image_list).write_text("\n".join(names[:keep]) + "\n", "utf-8")
        for pattern in patterns:
            for lang in ("en", *LANGUAGES) if task == "task1" else ("en", "de"):
                lines = _read_lines(source / "data" / task / "raw" / pattern.format(lang=lang))
                out = target / "data" / task / "raw" / pattern.format(lang=lang).removesuffix(".gz")
                out.write_text("\n".join(lines[:keep]) + "\n", encoding="utf-8")
    return target


def split_images(root: Path) -> dict[str, list[str]]:
    """Split -> its image names, as the image lists of ``root`` give them."""
    return {split: (root / "data" / task / "image_splits" / image_list).read_text(encoding="utf-8").split()
            for task, split, _, image_list in SPLITS}


def stand_in(index: int) -> bytes:
    """A 64x64 JPEG: 8x8 pseudo-random colours (seeded by ``index``) scaled up smoothly."""
    rng = np.random.default_rng(index)
    small = Image.fromarray(rng.integers(0, 256, size=(8, 8, 3), dtype=np.uint8))
    buffer = io.BytesIO()
    small.resize((STAND_IN_SIZE, STAND_IN_SIZE), Image.BILINEAR).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def write_stand_ins(names: list[str], folder: Path) -> int:
    """One distinct stand-in JPEG per name in ``folder``; returns the bytes written."""
    folder.mkdir(parents=True)
    seen: set[bytes] = set()
    total = 0
    for index, name in enumerate(names):
        data = stand_in(index)
        digest = hashlib.sha256(data).digest()
        if digest in seen:  # the feature cache is keyed by content: equal bytes would be encoded once
            raise SystemExit(f"stand-in {index} ({name}) repeats an earlier one's bytes")
        seen.add(digest)
        (folder / name).write_bytes(data)
        total += len(data)
    return total


def temporary_cache(folder: Path, source: Path) -> Path:
    """An OPTICAL_CACHE in ``folder``: the read-only prepared parts linked, the feature cache copied."""
    folder.mkdir()
    for name in LINKED:
        if (source / name).exists():
            (folder / name).symlink_to((source / name).resolve())  # OPTICAL_CACHE may be relative
    if (source / "features").is_dir():
        shutil.copytree(source / "features", folder / "features")
    return folder


@dataclass
class Bar:
    """One tqdm progress bar of the child: its label, the count it reached and when it was first and last drawn."""

    desc: str
    n: int
    total: int
    first: float  # wall clock (perf_counter)
    last: float
    cpu_first: float  # the child's CPU seconds then
    cpu_last: float

    @property
    def seconds(self) -> float:
        return self.last - self.first

    @property
    def cpu(self) -> float:
        return self.cpu_last - self.cpu_first


@dataclass
class ChildLog:
    """The child's output, cut at carriage returns and newlines, with the time each piece arrived."""

    bars: list[Bar] = field(default_factory=list)
    stages: list[tuple[float, float, str]] = field(default_factory=list)  # (wall, CPU, "[ 10%] training ...")
    text: list[str] = field(default_factory=list)

    def feed(self, piece: str, now: float, cpu: float) -> None:
        self.text.append(piece)
        match = BAR.match(piece)
        if match:
            desc, n, total = match["desc"].strip(), int(match["n"]), int(match["total"])
            same = [bar for bar in self.bars if bar.desc == desc]
            if same and n >= same[-1].n:
                same[-1].n, same[-1].last, same[-1].cpu_last = n, now, cpu
            else:
                self.bars.append(Bar(desc, n, total, now, now, cpu, cpu))
        elif piece.startswith("["):
            self.stages.append((now, cpu, piece))

    def stage(self, prefix: str) -> tuple[float, float]:
        """(wall, CPU) when the first stage line whose message starts with ``prefix`` came."""
        return next((t, c) for t, c, line in self.stages if line.split("] ", 1)[-1].startswith(prefix))


def child_cpu(pid: int) -> float:
    """CPU seconds (user + system, every thread) process ``pid`` has used so far; 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime: fields 14, 15


def run_child(command: list[str], env: dict[str, str], started: float) -> tuple[int, ChildLog]:
    """Run ``command``, timestamping its merged stdout/stderr; echo its stage lines with the minutes elapsed."""
    log = ChildLog()
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert process.stdout is not None
    decoder, pending = codecs.getincrementaldecoder("utf-8")(errors="replace"), ""
    while chunk := os.read(process.stdout.fileno(), 1 << 16):
        now, cpu = time.perf_counter(), child_cpu(process.pid)
        pieces = re.split(r"[\r\n]", pending + decoder.decode(chunk))
        pending = pieces.pop()
        for piece in filter(None, pieces):
            log.feed(piece, now, cpu)
            if piece.startswith("["):
                print(f"  {(now - started) / 60:5.1f} min (CPU {cpu / 60:5.1f} min)  {piece}", flush=True)
    if pending:
        log.feed(pending, time.perf_counter(), child_cpu(process.pid))
    return process.wait(), log


def batch_activation_gib(batch: int) -> tuple[float, float]:
    """(weights, peak extra memory of one forward) in GiB for the image tower on ``batch`` 224 px images: the
    parameters' bytes, and this process's peak-RSS growth over the forward (CPU; a GPU holds about the same)."""
    import torch

    from optical.encoders import create_image_encoder

    encoder = create_image_encoder("efficientnet-lite0").eval()
    weights = sum(p.numel() * p.element_size() for p in encoder.parameters()) / 2**30
    pixels = torch.zeros(batch, 3, 224, 224)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with torch.inference_mode():
        encoder(pixels)
    return weights, (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 2**20


def decode_rate(paths: list[Path]) -> float:
    """Images per second that ``open_rgb`` + the image tower's preprocessing reach on one core."""
    from optical.data import open_rgb
    from optical.encoders import create_image_encoder

    encoder = create_image_encoder("efficientnet-lite0")
    t0 = time.perf_counter()
    for path in paths:
        encoder.preprocess(open_rgb(path))
    return len(paths) / (time.perf_counter() - t0)


def text_weights_gib() -> float:
    from transformers.utils import logging

    from optical.encoders import create_text_encoder

    logging.disable_progress_bar()
    text = create_text_encoder("multilingual-e5-small")
    return sum(p.numel() * p.element_size() for p in text.parameters()) / 2**30


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, required=True, help="the multi30k/dataset checkout (its text files)")
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of every split to keep (0 < F <= 1)")
    parser.add_argument("--teacher-epochs", type=int, default=3)
    parser.add_argument("--students", action="store_true", help="also distil mse and optical students")
    parser.add_argument("--epochs", type=int, default=1, help="student epochs (with --students)")
    parser.add_argument("--bitext-pairs", type=int, default=2000, help="bitext pairs per language (with --students)")
    args = parser.parse_args()
    if not 0 < args.scale <= 1:
        parser.error("--scale must be in (0, 1]")
    root_source = args.root.resolve()
    if not (root_source / "data" / "task1" / "raw").is_dir():
        sys.exit(f"{root_source}: not a Multi30k checkout (no data/task1/raw)")
    import torch

    threads = torch.get_num_threads()
    with tempfile.TemporaryDirectory(prefix="optical-bench-multi30k-") as tmp:
        tmp_path = Path(tmp)
        root = scaled_root(root_source, tmp_path / "multi30k", args.scale)
        splits = split_images(root)
        names = list(dict.fromkeys(name for split in splits.values() for name in split))
        t0 = time.perf_counter()
        size = write_stand_ins(names, tmp_path / "images")
        counts = ", ".join(f"{split} {len(images):,}" for split, images in splits.items())
        print(f"stand-in images: {len(names):,} distinct {STAND_IN_SIZE}x{STAND_IN_SIZE} JPEGs ({counts}), "
              f"{size / 2**20:.1f} MiB, written in {time.perf_counter() - t0:.1f} s", flush=True)
        cache = temporary_cache(tmp_path / "cache", cache_dir())
        methods = "zero-shot,mse,optical" if args.students else "zero-shot"
        command = [sys.executable, "-m", "optical", "run", "--preset", "quick", "--dataset", "multi30k",
                   "--root", str(root), "--images", str(tmp_path / "images"), "--languages", ",".join(LANGUAGES),
                   "--methods", methods, "--teacher-epochs", str(args.teacher_epochs), "--run-id", "bench-multi30k"]
        if args.students:
            command += ["--epochs", str(args.epochs), "--bitext-pairs", str(args.bitext_pairs)]
        print(f"{os.cpu_count()} CPUs, torch threads {threads}, load average {os.getloadavg()[0]:.1f}\n"
              f"OPTICAL_CACHE={cache} {' '.join(command[1:])}", flush=True)
        env = {**os.environ, "OPTICAL_CACHE": str(cache), "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1"}
        started = time.perf_counter()
        code, log = run_child(command, env, started)
        wall = time.perf_counter() - started
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        peak_gib, cpu = usage.ru_maxrss / 2**20, usage.ru_utime + usage.ru_stime  # ru_maxrss: KiB on Linux
        if code != 0:
            sys.exit(f"run failed ({code}):\n{''.join(line + chr(10) for line in log.text[-40:])}")
        report(log, cache / "runs" / "bench-multi30k", wall, cpu, peak_gib, threads, len(names))
        gpu_estimate(log, sorted((tmp_path / "images").iterdir())[:500], len(names), threads)


def _span(wall: float, cpu: float, threads: int) -> str:
    return f"{wall:.1f} s (CPU {cpu:.1f} s = {cpu / threads:.1f} s on {threads} idle cores)"


def report(log: ChildLog, run: Path, wall: float, cpu: float, peak_gib: float, threads: int, n_images: int) -> None:
    """The measured figures of the finished run; a CPU time / threads beside each wall time (the machine is
    shared, so that is the time on idle cores)."""
    import json

    from optical.results import headline_table

    encoding = [bar for bar in log.bars if bar.desc.startswith("encoding images")]
    encoded, seconds, spent = (sum(b.n for b in encoding), sum(b.seconds for b in encoding),
                               sum(b.cpu for b in encoding))
    print(f"\nimage encoding: {encoded:,} images in {_span(seconds, spent, threads)}: {encoded / seconds:.1f} img/s, "
          f"{encoded / (spent / threads):.1f} img/s on idle cores ({', '.join(f'{b.n:,}' for b in encoding)} per "
          f"call; the rest came from the feature cache)")
    (load_wall, load_cpu), (teacher_wall, teacher_cpu) = log.stage("encoding images"), log.stage("training the")
    methods_wall, methods_cpu = log.stage("method")
    print(f"data loading + image encoding (stages 0% -> 10%): {_span(teacher_wall - load_wall, teacher_cpu - load_cpu, threads)}")
    epochs = [bar for bar in log.bars if bar.desc.startswith("teacher epoch")]
    print(f"teacher preparation (its pairs, the frozen text tower over every caption): "
          f"{_span(epochs[0].first - teacher_wall, epochs[0].cpu_first - teacher_cpu, threads)}")
    whole = [(b.first - a.first, b.cpu_first - a.cpu_first) for a, b in zip(epochs, epochs[1:])]
    for i, bar in enumerate(epochs):
        rest = f"; whole epoch with validation + checkpoint {_span(*whole[i], threads)}" if i < len(whole) else ""
        print(f"  {bar.desc}: {bar.total} batches of 256 in {_span(bar.seconds, bar.cpu, threads)}{rest}")
    if whole:
        mean_wall, mean_cpu = (sum(x) / len(whole) for x in zip(*whole))
        print(f"time per teacher epoch: {_span(mean_wall, mean_cpu, threads)} (mean of the {len(whole)} whole epochs)")
    print(f"teacher stage in all (stages 10% -> 25%): {_span(methods_wall - teacher_wall, methods_cpu - teacher_cpu, threads)}")
    metrics = json.loads((run / "metrics.json").read_text(encoding="utf-8"))
    print("runner timing (metrics.json, wall s): " + ", ".join(f"{k} {v:.1f}" for k, v in metrics["timing"].items()))
    print(f"python -m optical run: wall {wall:.1f} s ({wall / 60:.2f} min), peak RSS {peak_gib:.2f} GiB, "
          f"CPU time {cpu:.1f} s = {cpu / threads / 60:.2f} min on {threads} idle cores")
    test = len(json.loads((run / "ranks" / "test" / "groups.json").read_text(encoding="utf-8")))
    chance = np.mean([min(k / test, 1.0) for k in (1, 5, 10)]) * 100
    print(f"\ntest_2016_flickr mR (the stand-ins are noise, so chance level: a random ranking of {test:,} image groups "
          f"gives {chance:.2f}):")
    print(headline_table(metrics).to_string())


def gpu_estimate(log: ChildLog, sample: list[Path], n_images: int, threads: int) -> None:
    """What a GPU changes, from this machine's rates: the image tower's forward leaves the CPU, decoding stays."""
    encoding = [bar for bar in log.bars if bar.desc.startswith("encoding images")]
    rate = sum(b.n for b in encoding) / (sum(b.cpu for b in encoding) / threads)  # img/s on idle cores
    decode = decode_rate(sample)
    weights, activations = batch_activation_gib(64)
    text = text_weights_gib()
    print(f"\non a GPU: images encode at {rate:.0f} img/s on {threads} idle cores here, and decoding + "
          f"preprocessing alone at {decode:.0f} img/s on one core ({STAND_IN_SIZE} px stand-ins; real ~500x375 "
          f"Flickr30k JPEGs decode slower), so the tower's forward is {1 - rate / decode:.0%} of the time; on a GPU "
          f"that part takes seconds and the {n_images:,} images need ~{n_images / decode / 60:.1f} min of "
          f"single-core decoding ({n_images / rate / 60:.1f} min here on idle cores). Memory: the largest batch is the image "
          f"tower's 64 x 224 px: {activations:.2f} GiB of activations + {weights:.2f} GiB weights; the e5-small "
          f"text tower {text:.2f} GiB (fp32); the teacher's batch 256 trains the heads on cached sentence "
          f"embeddings (256 x 384 floats), so {activations + weights + text:.1f} GiB of GPU memory holds the teacher and zero-shot path.")


if __name__ == "__main__":
    main()
