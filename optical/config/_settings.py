"""Every setting of the experiment declared once: its config key, the rule its values follow and, for those the
``run`` and ``sweep`` commands take, its flag (argparse type, help, metavar, listed choices), whether ``--resume``
may change it and the names older config files gave it.

``ExperimentConfig.validate`` checks each key by its rule; ``optical.config._flags`` derives the flags, the config
they make, the CLI's early checks and what ``--resume`` refuses; ``ExperimentConfig.from_dict`` and ``parse_grid``
read the old names.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from optical.config._loss import COST_KINDS, GRAD_MODES, REG_SCALES, TOKEN_MODES, WEIGHTINGS
from optical.config._methods import METHODS, MT_SYSTEMS
from optical.config._parse import on_off, pairs_cap, parse_bitext_flag, split_list
from optical.config._rules import Bound, Choice, Rule, boolean, config_file, device, languages, methods, teacher_sources
from optical.config._train import PRECISIONS
from optical.data import BENCHMARKS

PRESETS = ("full", "quick")
SCORINGS = ("pooled", "late")  # ExperimentConfig.scoring
BITEXT_AMOUNTS = ("equal", "all")  # ExperimentConfig.bitext_per_language


@dataclass(frozen=True)
class Setting:
    """One setting. ``key`` is its dotted config key (None for ``--config`` and ``--preset``, which choose the
    config the other flags go over); ``rule`` checks its values. With a ``flag``: argparse reads the flag's text
    with ``type``, ``read`` turns that into the config's value (a list, a dict, None for 'all'), ``listed`` lets
    argparse list the rule's choices (and refuse others), ``runtime`` lets ``--resume`` change it (the device: not
    what a run computes), and ``flag_error`` words the rule's error for the flag ({value}). ``old_keys``: its dotted
    names in older config files (top-level ones of run folders written before the ``ot`` section)."""

    key: str | None
    rule: Rule | None = None
    flag: str | None = None
    help: str | None = None
    type: Callable[[str], object] | None = None
    read: Callable[[object], object] | None = None
    metavar: str | None = None
    listed: bool = False
    runtime: bool = False
    flag_error: str | None = None
    old_keys: tuple[str, ...] = ()

    @property
    def dest(self) -> str:
        """The argparse attribute of the flag."""
        return self.flag.removeprefix("--").replace("-", "_")

    @property
    def choices(self) -> list[str] | None:
        """What argparse lists and takes (``listed``), else None."""
        return list(self.rule.values) if self.listed and isinstance(self.rule, Choice) else None


def _train(side: str) -> tuple[Setting, ...]:
    """The settings of a ``TrainConfig`` section without a flag (the epochs have one each)."""
    return (
        Setting(f"{side}.precision", Choice(PRECISIONS)),
        Setting(f"{side}.batch_size", Bound(1, integer=True)),
        Setting(f"{side}.patience", Bound(1, integer=True)),
        Setting(f"{side}.lr", Bound(0, strict=True)),
        Setting(f"{side}.head_lr", Bound(0, strict=True)),
    )


# In the order of the flags' --help, then the settings only config files (and --grid) set.
SETTINGS: tuple[Setting, ...] = (
    Setting(None, config_file, "--config",
            "JSON file of ExperimentConfig settings (command-line flags override it)"),
    Setting(None, Choice(PRESETS), "--preset", "built-in settings (default: full)", listed=True),
    Setting("dataset", Choice(tuple(BENCHMARKS)), "--dataset",
            "benchmark (default: stamps, built in; art4apps after `prepare --with art4apps`)", listed=True),
    Setting("root", None, "--root",
            "multi30k: the multi30k/dataset checkout; captions: the folder with images/ and captions.tsv"),
    Setting("images", None, "--images", "multi30k: the Flickr30k image folder"),
    Setting("languages", languages, "--languages", "comma-separated locales, e.g. de,fr,ga,zu",
            read=lambda text: split_list(text, "languages")),
    Setting("methods", methods, "--methods", f"comma-separated, some of: {','.join(METHODS)}",
            read=lambda text: split_list(text, "methods")),
    Setting("mt", Choice(MT_SYSTEMS), "--mt",
            "translate-test: hf (default, --mt-model) or apertium (every language with an installed pair)",
            listed=True),
    Setting("mt_model", None, "--mt-model", "translate-test: HF seq2seq model name or path ('{lang}' is replaced)"),
    Setting("bitext", None, "--bitext", "extra student bitext per language, e.g. de=multi30k:PATH,fr=multi30k:PATH "
            "(added to the dataset's own train pairs)", read=parse_bitext_flag),
    Setting("student.epochs", Bound(1, integer=True), "--epochs", "student epochs", type=int),
    Setting("teacher.epochs", Bound(1, integer=True), "--teacher-epochs", "teacher epochs (early stopping on val)",
            type=int),
    Setting("text_encoder", None, "--text-encoder", "built-in name, HF name or local path of the text tower"),
    Setting("teacher_model", None, "--teacher",
            "a pretrained teacher used as is, not trained: any transformers CLIPModel (HF name or folder), e.g. "
            "clip:openai/clip-vit-base-patch32; images are embedded by its vision tower", metavar="clip:NAME_OR_PATH"),
    Setting("scoring", Choice(SCORINGS), "--scoring",
            "how the teacher scores a caption against an image: pooled (default: one vector each) or late "
            "(FILIP: each caption token's best image region and each region's best token, averaged; the teacher "
            "trains on it, and ranks, eval, search and the app read it)", listed=True),
    Setting("region_grid", Bound(1, integer=True), "--region-grid",
            "late: average the image tower's region grid down to N x N regions (default 4; EfficientNet-Lite0's own "
            "grid is 7 x 7: as good on val, 1.6x slower teacher training)",
            type=int, metavar="N"),
    Setting("student_encoder", None, "--student-encoder",
            "the students' text model (built-in, HF name or folder, e.g. xlm-roberta-base) plus a new projection to "
            "the teacher's width (default: a copy of the teacher's text side)", metavar="NAME_OR_PATH"),
    Setting("ot.reg", Bound(0, strict=True), "--ot-reg", "OT entropic regularisation epsilon (> 0; default 0.05)",
            type=float, old_keys=("ot_reg",)),
    Setting("ot.reg_scale", Choice(REG_SCALES), "--ot-reg-scale",
            "what --ot-reg is measured in: absolute (default: the cost's units) or relative (each pair's cost "
            "spread, the std of its doubly centred cost: the same sharpness of plan whatever the scale of the "
            "costs) (ot.reg_scale)", listed=True),
    Setting("ot.cost", Choice(COST_KINDS), "--ot-cost",
            "OT token cost: cosine (default), sqeuclidean (unnormalised states; reg in their units) or "
            "sqeuclidean-mean (divided by its mean per pair)", old_keys=("ot_cost",)),
    Setting("ot.n_iter", Bound(1, integer=True), "--ot-iters",
            "Sinkhorn iteration cap (default 60); the marginal error at stop is recorded in the run's plan "
            "diagnostics", type=int, old_keys=("ot_iters",)),
    Setting("ot.tol", Bound(0, strict=True), "--ot-tol",
            "Sinkhorn stopping tolerance on each pair's row marginal (L2; default 1e-4)", type=float),
    Setting("ot.grad", Choice(GRAD_MODES), "--ot-grad", "OT gradient: envelope (default) or autodiff"),
    Setting("ot.tokens", Choice(TOKEN_MODES), "--ot-tokens",
            "tokens that carry OT mass: all (default), no-special (not <s> </s>), content (nor the 'query:' prefix)"),
    Setting("ot.reg_m", Bound(0, strict=True), "--ot-reg-m", "optical-uot: marginal relaxation tau (> 0; default 1)",
            type=float),
    Setting("ot.layer", Bound(1, integer=True, also=(-1,), meaning=" (or -1: the last layer's projected states)"),
            "--ot-layer", "token states OPTICAL aligns: -1 (default) the last layer's, projected; K >= 1 the hidden "
            "states after transformer layer K, unprojected (K must be a layer the students train)", type=int,
            metavar="K", flag_error="--ot-layer must be -1 (the last layer's projected states) or >= 1, got {value}"),
    Setting("bitext_pairs", Bound(1, integer=True, also=(None,), meaning=" (or null / 'all': no cap)"),
            "--bitext-pairs", "at most N bitext pairs per language, or 'all' (default): the same sample for every "
            "method and seed", type=pairs_cap, read=lambda cap: None if cap == "all" else cap),
    Setting("ot.mse_weight", Bound(0), "--mse-weight", "optical+mse: weight of the MSE term (default 1)", type=float,
            old_keys=("mse_weight",)),
    Setting("ot.weighting", Choice(WEIGHTINGS), "--weighting",
            "optical+mse: scale-free (default: each term divided by its own value at each step, so both gradients "
            "count whatever the terms' units) or fixed (the plain weighted sum) (ot.weighting)", listed=True),
    Setting("ot.english", boolean, "--english-term",
            "on (default): every student also reads the English side of each pair, its loss the mean of the foreign "
            "and the English term (the same loss against the teacher's English states), for every method alike "
            "(mse, optical, ...); off: the foreign side only (ot.english)", type=on_off, metavar="on|off",
            old_keys=("mse_english", "ot.mse_english")),
    Setting("device", device, "--device",
            "auto (default), cpu, cuda or cuda:N; with --resume it may differ from the run's", runtime=True),
    Setting("seed", None, "--seed", "training seed (teacher and students: init, data order, dropout)", type=int),
    Setting("bitext_per_language", Choice(BITEXT_AMOUNTS)),
    Setting("ot.optical_weight", Bound(0)),
    Setting("embed_dim", Bound(1, integer=True)),
    Setting("bootstrap", Bound(1, integer=True)),
    Setting("plan_samples", Bound(0, integer=True)),
    Setting("teacher_train_layers", Bound(-1, integer=True, meaning=" (-1: all but the word embeddings)")),
    Setting("student_train_layers", Bound(-1, integer=True, meaning=" (-1: all but the word embeddings)")),
    *_train("teacher"),
    *_train("student"),
    Setting("teacher_sources", teacher_sources),
)

# older dotted config keys -> the keys they are now
OLD_KEYS = {old: setting.key for setting in SETTINGS for old in setting.old_keys}
