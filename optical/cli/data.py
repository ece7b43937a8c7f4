"""``python -m optical data stats``: what a dataset holds, per split and per language."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from optical.data import BENCHMARKS, captions_stats, load_benchmark, multi30k_stats, stamps_stats
from optical.errors import InputError

_MANY_CAPTIONS = 500  # the summary line counts languages with at least this many captions


def register(subparsers) -> None:
    """Add ``data`` with its sub-command ``stats``."""
    data = subparsers.add_parser("data", help="inspect the datasets")
    sub = data.add_subparsers(dest="data_command", required=True, metavar="<sub-command>")
    stats = sub.add_parser("stats", help="images and captions per split and language, with CC-100 sizes")
    stats.add_argument("--dataset", choices=BENCHMARKS, default="stamps")
    stats.add_argument("--root", type=Path, help="stamps, art4apps: the prepared folder (default cache/<name>); "
                                                  "captions: the folder with images/ and captions.tsv (required); "
                                                  "multi30k: the clone of multi30k/dataset (required)")
    stats.add_argument("--images", type=Path, help="multi30k: the Flickr30k image folder (checks that every "
                                                    "listed image file exists; images are not decoded)")
    stats.add_argument("--json", action="store_true", help="print JSON instead of tables")
    stats.set_defaults(func=run_stats)


def run_stats(args: argparse.Namespace) -> int:
    """Compute the statistics and print them as tables or JSON."""
    if args.dataset in ("stamps", "art4apps"):
        stats = stamps_stats(load_benchmark(args.dataset, args.root), name=args.dataset)
    elif args.dataset == "captions":
        stats = captions_stats(load_benchmark("captions", args.root))
    elif args.root is None:
        raise InputError("--dataset multi30k needs --root PATH (a clone of github.com/multi30k/dataset)")
    else:
        stats = multi30k_stats(args.root, images=args.images)
    print(json.dumps(stats, indent=2, ensure_ascii=False) if args.json else format_stats(stats))
    return 0


def format_table(headers: list[str], rows: list[list]) -> str:
    """An aligned plain-text table: numbers right-aligned, text left-aligned, None shown as ``-``."""
    cells = [[("-" if v is None else f"{v:.1f}" if isinstance(v, float) else str(v)) for v in row] for row in rows]
    numeric = [all(isinstance(row[i], (int, float)) or row[i] is None for row in rows) for i in range(len(headers))]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]

    def line(values: list[str]) -> str:
        padded = (v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric, strict=True))
        return "  ".join(padded).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in cells)])


def _language_table(languages: dict[str, dict], splits: list[str], extra: list[str]) -> str:
    headers = ["language", "group", "CC-100 GiB", *splits, *extra, "name"]
    rows = [[lang, row["resource_group"], row["cc100_gib"], *(row[s] for s in splits), *(row[e] for e in extra),
             row["name"]]
            for lang, row in languages.items()]
    return format_table(headers, rows)


def _many(languages: dict[str, dict], splits: list[str]) -> int:
    return sum(sum(row[s] for s in splits) >= _MANY_CAPTIONS for row in languages.values())


def format_stats(stats: dict) -> str:
    """Human-readable tables for the dicts of ``stamps_stats``, ``captions_stats`` and ``multi30k_stats``."""
    if stats["dataset"] == "captions":
        splits = list(stats["splits"])
        foreign = {lang: row for lang, row in stats["languages"].items() if lang != "en"}
        return "\n\n".join([
            f"captions ({stats['source']['root']}, split: {stats['source']['split']}): "
            f"{sum(s['images'] for s in stats['splits'].values())} images",
            format_table(["split", "images", "caption groups"],
                         [[name, s["images"], s["groups"]] for name, s in stats["splits"].items()]),
            _language_table(stats["languages"], splits, []),
            f"{len(foreign)} languages besides English, {_many(foreign, splits)} with >= {_MANY_CAPTIONS} captions",
        ])
    if stats["dataset"] in ("stamps", "art4apps"):
        splits = list(stats["splits"])
        total = sum(s["images"] for s in stats["splits"].values())
        source = stats["source"]
        skipped = ", ".join(f"{n} {reason.replace('_', ' ')}" for reason, n in stats["skipped"].items() if n)
        parts = [
            f"{stats['dataset']} ({source['package']} {source['version']}): {total} images",
            format_table(["split", "images", "caption groups"],
                         [[name, s["images"], s["groups"]] for name, s in stats["splits"].items()]),
            f"skipped: {skipped or 'nothing'}",
            _language_table(stats["languages"], splits, ["dropped_untranslated"]),
            f"{len(stats['languages'])} languages besides English, {_many(stats['languages'], splits)} with "
            f">= {_MANY_CAPTIONS} captions; "
            f"{sum(r['dropped_untranslated'] for r in stats['languages'].values())} untranslated captions dropped",
        ]
        if stats["unknown_locales"]:
            parts.append("unknown locale codes skipped: "
                         + ", ".join(f"{code} ({n})" for code, n in stats["unknown_locales"].items()))
        return "\n\n".join(parts)
    parts = [f"multi30k ({stats['root']})"]
    for task, data in stats["tasks"].items():
        splits = list(data["splits"])
        rows = [[name, s["images"], "yes" if s["images_exist"] else "not checked"]
                for name, s in data["splits"].items()]
        parts.append(f"task {task}\n" + format_table(["split", "images", "image files exist"], rows))
        parts.append(_language_table(data["languages"], splits, []))
        if data["blank_lines"]:
            parts.append("blank caption lines (not counted, no query): " + "; ".join(
                f"{file} ({len(lines)}: line {', '.join(map(str, lines[:10]))}{', ...' if len(lines) > 10 else ''})"
                for file, lines in data["blank_lines"].items()))
    return "\n\n".join(parts)
