"""Tables of a finished (or partial) run for the CLI and the app: mR per language x method, disparity."""

from __future__ import annotations

import pandas as pd

from optical.config import english_term

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


# ``english_term`` -> what the report says of it
ENGLISH_TERM_NOTES = {
    "all": "students also read English (English term): each student's loss is the mean of its foreign term and the "
           "same loss on its reading of the pair's English sentence (against the teacher's), for every method alike",
    "none": "foreign only: the students read only the foreign side of each pair (no English term)",
    "mse": "English term for mse alone (and optical+mse's MSE term): the token losses read the foreign side only "
           "(a run configured before the English term was shared, ot.mse_english)",
}


def english_note(metrics: dict) -> str | None:
    """The line saying whether the students also read English (``metrics["english_term"]``); None when unknown."""
    return ENGLISH_TERM_NOTES.get(metrics.get("english_term"))


# ``plan_diagnostics`` figures -> plan_table's columns
PLAN_COLUMNS = {
    "relative_entropy": "entropy / uniform",
    "best_match_share": "best-match share",
    "marked_mass": "special+prefix mass",
    "epsilon": "epsilon",
    "row_error": "row error at stop",
    "iterations": "iterations",
}


def plan_table(metrics: dict) -> pd.DataFrame:
    """The run's plan diagnostics (``metrics["plan_diagnostics"]``), one row per method (zero-shot: the teacher as
    is, the reference), the columns of ``PLAN_COLUMNS``; empty for runs made before they were recorded."""
    methods = (metrics.get("plan_diagnostics") or {}).get("methods", {})
    rows = {m: {label: d.get(key) for key, label in PLAN_COLUMNS.items()} for m, d in methods.items()}
    table = pd.DataFrame.from_dict(rows, orient="index", columns=list(PLAN_COLUMNS.values()))
    table.index.name = "method"
    return table


def plan_note(metrics: dict) -> str | None:
    """What the plan diagnostics were measured on and with, and which methods' plans the iteration cap stopped
    before the tolerance; None without diagnostics."""
    diagnostics = metrics.get("plan_diagnostics")
    if not diagnostics:
        return None
    settings = diagnostics.get("settings", {})
    reg = f"reg {settings.get('reg')} ({settings.get('reg_scale', 'absolute')})"
    iters = f"n_iter cap {settings.get('n_iter')}, tol {settings.get('tol')}"
    runs = f" (means over {diagnostics['runs']} runs)" if diagnostics.get("runs", 1) > 1 else ""
    line = (f"OPTICAL's plan between each student and the teacher on {diagnostics.get('pairs')} "
            f"{diagnostics.get('split', 'val')} pairs{runs}; {reg}, {iters}, tokens {settings.get('tokens')}\n"
            "  entropy / uniform: 1 for the uniform coupling, about 0.5 for a one-to-one alignment; best-match share: "
            "a foreign token's\n  mass on its best English match; special+prefix mass: on cells of <s>, </s> or the "
            "input prefix; row error: the largest at stop")
    capped = [m for m, d in diagnostics.get("methods", {}).items() if d.get("converged") is False]
    if capped:
        line += (f"\n  not converged: the cap stopped {', '.join(capped)} above tol (row error at stop above it: "
                 "raise --ot-iters)")
    return line


def plan_lines(metrics: dict) -> list[str]:
    """The report's section on the transport plans: a blank line, a title, the note and the table (none without)."""
    table = plan_table(metrics)
    if table.empty:
        return []
    formats = {PLAN_COLUMNS["row_error"]: "{:.1e}".format, PLAN_COLUMNS["iterations"]: "{:.0f}".format,
               PLAN_COLUMNS["epsilon"]: "{:.4g}".format}
    text = table.astype(float).to_string(
        formatters={c: formats.get(c, "{:.3f}".format) for c in table.columns}, na_rep="-")
    return ["", "Transport plans: how much alignment they carry", plan_note(metrics), text]


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


def _ratio_cell(raw: float | None, weighted: float | None, weighting: str | None) -> str:
    if raw is None or weighted is None:
        return "not recorded"
    return f"{raw:.3g} -> {weighted:.3g} ({weighting})"


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
            *filter(None, [english_note(metrics)]),
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
        measured = {m: s for m, s in (metrics.get("students") or {}).items() if "grad_ratio" in s}
        if measured:
            parts += ["", "First training step: |grad OT| / |grad MSE| (trainable parameters), unweighted -> as the "
                          "loss weights them, per seed"]
            parts += [f"  {m}: " + ", ".join(_ratio_cell(*cell) for cell in zip(s["grad_ratio"], s["weighted_grad_ratio"],
                                                                             s["weighting"]))
                      for m, s in measured.items()]
        parts += plan_lines(metrics)
    return "\n".join(parts)
