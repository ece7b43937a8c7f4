"""Tables of a finished (or partial) run for the CLI and the app: mR per language x method, disparity."""

from __future__ import annotations

import pandas as pd

DISPARITY_ROWS = ("mean", "std", "max_gap", "high_minus_low", "high_minus_unseen", "slope_log_size")


def recall_table(metrics: dict, metric: str = "mR") -> pd.DataFrame:
    """Long table: one row per (language, method) with value, CI bounds, resource group and CC-100 size."""
    rows = []
    for method, by_lang in metrics["results"].items():
        for lang, result in by_lang.items():
            lo, hi = result["ci"][metric]
            resource = metrics["resource"].get(lang, {})
            rows.append(
                {
                    "language": lang,
                    "method": method,
                    "value": result["metrics"][metric],
                    "lo": lo,
                    "hi": hi,
                    "group": resource.get("group"),
                    "cc100_gib": resource.get("cc100_gib"),
                }
            )
    return pd.DataFrame(rows, columns=["language", "method", "value", "lo", "hi", "group", "cc100_gib"])


def headline_table(metrics: dict, metric: str = "mR") -> pd.DataFrame:
    """Wide table: languages (by resource size) x methods, cells ``"mR [lo, hi]"``, plus the resource group."""
    long = recall_table(metrics, metric)
    long["cell"] = [f"{v:5.1f} [{lo:4.1f}, {hi:4.1f}]" for v, lo, hi in zip(long["value"], long["lo"], long["hi"])]
    wide = long.pivot(index="language", columns="method", values="cell")
    wide = wide.reindex(index=metrics["languages"], columns=[m for m in metrics["methods"] if m in wide.columns])
    wide.insert(0, "group", [metrics["resource"].get(lang, {}).get("group") for lang in wide.index])
    if "distilled" in metrics:  # an evaluation: languages the students were not distilled on get a marker
        wide.index = [f"{lang}{UNDISTILLED}" if lang not in metrics["distilled"] and lang != "en" else lang
                      for lang in wide.index]
        wide.index.name = "language"
    return wide


UNDISTILLED = "*"


def notes(metrics: dict) -> list[str]:
    """Lines under the headline table: the marker's legend (evaluations), bf16 encoding, and the languages a method
    has no rows for (translate-test without a translation into English for them)."""
    lines = []
    if "distilled" in metrics:
        marked = [lang for lang in metrics["languages"] if lang != "en" and lang not in metrics["distilled"]]
        if marked:
            lines.append(f"{UNDISTILLED} not distilled on: the students never saw bitext of "
                         f"{', '.join(marked)} (zero-shot transfer of the student)")
    if metrics.get("precision") == "bf16":
        lines.append("encoded in bf16 (--precision bf16): ranks may differ from fp32's at near-ties")
    for method, by_lang in metrics["results"].items():
        missing = [lang for lang in metrics["languages"] if lang not in by_lang]
        if missing:
            why = " (no translation into English for them)" if method == "translate-test" else ""
            lines.append(f"{method}: no rows for {', '.join(missing)}{why}; left out of its disparity figures")
    return lines


def disparity_table(metrics: dict) -> pd.DataFrame:
    """Disparity figures (rows) per method (columns), non-English languages."""
    data = {m: {k: d.get(k) for k in DISPARITY_ROWS} for m, d in metrics.get("disparity", {}).items()}
    for method, d in metrics.get("disparity", {}).items():
        data[method]["worst"] = f"{d['worst']['language']} {d['worst']['mR']:.1f}" if d.get("worst") else None
        data[method]["best"] = f"{d['best']['language']} {d['best']['mR']:.1f}" if d.get("best") else None
    return pd.DataFrame(data)


def _diff_cell(d: dict | None) -> str | None:
    if not d or d.get("diff") is None:
        return None
    return f"{d['diff']:+5.1f} [{d['lo']:+.1f}, {d['hi']:+.1f}]"


def paired_table(metrics: dict) -> pd.DataFrame:
    """Per-language paired-bootstrap differences in mR (rows languages, columns "A - B"), cells ``"+d [lo, hi]"``."""
    data = {pair: {lang: _diff_cell(d) for lang, d in by_lang.items()} for pair, by_lang in metrics["paired"].items()}
    return pd.DataFrame(data).reindex(index=[lang for lang in metrics["languages"] if lang != "en"])


def disparity_difference_table(metrics: dict) -> pd.DataFrame:
    """Differences of the disparity figures between methods (paired bootstrap), e.g. std(optical) - std(mse)."""
    data = {
        pair: {figure: _diff_cell(d) for figure, d in result.get("diff", {}).items()}
        for pair, result in metrics.get("disparity_difference", {}).items()
    }
    return pd.DataFrame(data)


def _epoch_cell(epoch: int | None, score: float | None) -> str:
    if epoch is None:
        return "not recorded"
    return f"epoch {epoch}" + (f" (val mR {score:.1f})" if score is not None else " (no val set)")


def interval_note(metrics: dict) -> str:
    """What the summary's figures and intervals are: seeds averaged, what each bootstrap draw resamples."""
    n_seeds = metrics.get("n_seeds", 1)
    unit = (metrics.get("bootstrap") or {}).get("unit", "query")
    plural = {"query": "queries", "image group": "image groups (both directions, every language)"}
    tests = f"test {plural.get(unit, unit + 's')}"
    if n_seeds > 1:
        return (f"mean over {n_seeds} training seeds; 95% CIs resample the seeds, then the {tests}: they carry "
                "training variance and test-set sampling")
    return f"one training seed; 95% CIs resample the {tests}: test-set sampling only, no training variance"


_NO_DISPARITY = "  none: the run has fewer than two non-English languages with results (nothing to spread)"
_NO_PAIR = "  none: the run has no pair of compared methods (e.g. optical and mse) with results"


def _text(table: pd.DataFrame, empty: str) -> str:
    """``table`` as text, or the line ``empty`` saying why it has no cells (never pandas' "Empty DataFrame")."""
    return empty if table.empty else table.to_string()


def format_report(metrics: dict) -> str:
    """The plain-text report printed by ``python -m optical run`` and ``report``."""
    comparable = "results_full" in metrics
    with pd.option_context("display.width", 200, "display.max_columns", 20, "display.precision", 2):
        parts = [
            "mR (mean of R@1/5/10 both directions, %): " + interval_note(metrics),
            *(["every language on the same test images (those captioned in all of the run's languages)"]
              if comparable else []),
            headline_table(metrics).to_string(),
            *notes(metrics),
            "",
            "Disparity across non-English languages (mR points; slope per 10x more CC-100 data)",
            _text(disparity_table(metrics), _NO_DISPARITY),
            "",
            "Paired bootstrap differences of mR per language (A - B, 95% CI)",
            _text(paired_table(metrics), _NO_PAIR),
            "",
            "Differences of the disparity figures (A - B, 95% CI; negative std/gap/slope = A is more even)",
            _text(disparity_difference_table(metrics), _NO_PAIR),
            "",
            metrics.get("verdict", ""),
        ]
        if comparable:
            full = {**metrics, "results": metrics["results_full"], "disparity": metrics.get("disparity_full", {})}
            parts += [
                "",
                "Each language's full test set (its own images and captions; chance levels differ across languages)",
                headline_table(full).to_string(),
                "",
                _text(disparity_table(full), _NO_DISPARITY),
            ]
        students = {m: s for m, s in (metrics.get("students") or {}).items() if any(e is not None for e in s["best_epoch"])}
        if students:
            parts += ["", "Student epoch chosen on val (mean val mR over the foreign languages), per seed"]
            parts += [f"  {m}: " + ", ".join(_epoch_cell(e, v) for e, v in zip(s["best_epoch"], s["val_mR"]))
                      for m, s in students.items()]
    return "\n".join(parts)
