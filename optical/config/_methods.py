"""The method registry: each method of the experiment declared once.

Config validation, the runner (how each method's text encoder is built), the summary (which pairs are
compared), the verdict (the first compared pair present) and the app read this table. A new method is one
``register_method`` call (plus its loss class in ``optical.distill.losses`` if it trains a student, its name in
``LOSS_NAMES``).
"""

from __future__ import annotations

from dataclasses import dataclass

# How a method's text encoder is built: the teacher as is, the teacher reading machine translations into
# English, or a student distilled from bitext with the method's loss.
ENCODER_KINDS = ("teacher", "translate", "student")
MT_SYSTEMS = ("hf", "apertium")  # what the translate encoder reads: an HF seq2seq model (mt_model) or Apertium pairs
EVAL_PRECISIONS = ("fp32", "bf16")  # `optical eval --precision`: how the teacher and students encode


@dataclass(frozen=True)
class Method:
    """One method: ``encoder`` is one of ``ENCODER_KINDS``; ``loss`` is one of ``LOSS_NAMES`` (students
    only); ``baselines`` are the methods it is compared with (paired bootstrap), in the order reported."""

    name: str
    encoder: str
    loss: str | None = None
    baselines: tuple[str, ...] = ()

    @property
    def trained(self) -> bool:
        return self.encoder == "student"


METHODS: dict[str, Method] = {}  # name -> Method, in declaration order (the order comparisons are reported in)


def english_term(config: dict) -> str | None:
    """Which English term the students of a run were distilled with, from its ``config.json`` (a dict): ``"all"``
    (``ot.english``: every student also read the English side), ``"none"`` (foreign only), ``"mse"`` (an older config
    whose ``ot.mse_english`` gave the MSE terms alone an English term, the token losses none); None when the run
    trains no student. A config with neither key predates the English term: foreign only."""
    trained = [METHODS[m] for m in config.get("methods", []) if m in METHODS and METHODS[m].trained]
    if not trained:
        return None
    ot = config.get("ot") if isinstance(config.get("ot"), dict) else {}
    if "english" in ot:
        return "all" if ot["english"] else "none"
    if ot.get("mse_english") is not True:
        return "none"
    return "all" if all(m.loss == "mse" for m in trained) else "mse"


def register_method(method: Method) -> Method:
    """Add ``method`` to ``METHODS``; config validation checks that its loss and baselines exist."""
    if method.name in METHODS:
        raise ValueError(f"method {method.name!r} is already declared")
    if method.encoder not in ENCODER_KINDS:
        raise ValueError(f"method {method.name!r}: encoder must be one of {ENCODER_KINDS}, got {method.encoder!r}")
    if method.trained != (method.loss is not None):
        raise ValueError(f"method {method.name!r}: a loss is given exactly when the encoder is a trained student")
    METHODS[method.name] = method
    return method


def comparisons() -> list[tuple[str, str]]:
    """(method, baseline) pairs whose differences the summary reports, in declaration order."""
    return [(m.name, baseline) for m in METHODS.values() for baseline in m.baselines]


register_method(Method("optical", encoder="student", loss="optical", baselines=("mse", "zero-shot")))
register_method(Method("optical+mse", encoder="student", loss="optical+mse", baselines=("mse",)))
register_method(Method("mse", encoder="student", loss="mse", baselines=("zero-shot",)))
register_method(Method("zero-shot", encoder="teacher"))
register_method(Method("translate-test", encoder="translate"))
# OT variants (issue 14): unbalanced OT (ot.reg_m) and IDF-weighted marginals, each against plain OPTICAL and MSE
register_method(Method("optical-uot", encoder="student", loss="optical-uot", baselines=("optical", "mse")))
register_method(Method("optical-idf", encoder="student", loss="optical-idf", baselines=("optical", "mse")))
# what the transport constraints add over greedy matching (issue 21): each student token to its nearest teacher token
register_method(Method("token-nn", encoder="student", loss="token-nn", baselines=("optical", "mse")))
