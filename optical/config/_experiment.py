"""Experiment configuration: one JSON-serialisable dataclass, presets, and validation with clear errors."""

from __future__ import annotations

import functools
import json
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

from optical.config._loss import LOSS_NAMES, LossConfig
from optical.config._methods import METHODS
from optical.config._settings import OLD_KEYS, PRESETS, SETTINGS
from optical.config._train import TrainConfig
from optical.data import normalize_locale
from optical.errors import InputError

DEFAULT_IMAGE_ENCODER = "efficientnet-lite0"
CLIP_PREFIX = "clip:"  # ExperimentConfig.teacher_model: a pretrained CLIPModel used as the teacher
# config keys of format-1 run folders written before the ``ot`` section -> its fields
_FLAT_OT_KEYS = {old: key.removeprefix("ot.") for old, key in OLD_KEYS.items() if "." not in old}
# ``ot`` keys of older configs -> their fields now: ``mse_english`` (the English term of the MSE terms) is the
# English term of every loss, ``english``
_RENAMED_OT_KEYS = {old.removeprefix("ot."): key.removeprefix("ot.") for old, key in OLD_KEYS.items()
                    if old.startswith("ot.")}

# Built-in benchmark languages spanning XLM-R's resource groups (see `python -m optical data stats`):
# high: de fr es ru; low: eu ga gd km; unseen by XLM-R: ast an son zu.
FULL_LANGUAGES = ("de", "fr", "es", "ru", "eu", "ga", "gd", "km", "ast", "an", "son", "zu")
QUICK_LANGUAGES = ("de", "fr", "ga", "km", "ast", "zu")


@dataclass
class ExperimentConfig:
    """Everything a run depends on; saved as ``config.json`` in the run folder."""

    dataset: str = "stamps"  # one of optical.data.BENCHMARKS: stamps, art4apps, captions, multi30k
    root: str | None = None  # multi30k: the dataset checkout; captions: the folder (images/, captions.tsv)
    images: str | None = None  # multi30k: the Flickr30k image folder
    languages: list[str] = field(default_factory=lambda: list(FULL_LANGUAGES))
    methods: list[str] = field(default_factory=lambda: ["zero-shot", "mse", "optical", "optical+mse"])
    text_encoder: str = "multilingual-e5-small"
    image_encoder: str = DEFAULT_IMAGE_ENCODER  # with teacher_model: that CLIP checkpoint (its vision tower)
    # a pretrained teacher used as is, not trained: "clip:NAME_OR_PATH", any transformers CLIPModel (HF name or
    # folder): its towers and projections, frozen; its width replaces embed_dim (None: train a teacher on text_encoder)
    teacher_model: str | None = None
    # the students' text tower (built-in, HF name or folder) plus a new projection to the teacher's width
    # (None: every student starts as a copy of the teacher's text side)
    student_encoder: str | None = None
    mt_model: str | None = None  # translate-test: HF seq2seq model name or path, per language "{lang}" allowed
    mt: str = "hf"  # translate-test system, one of MT_SYSTEMS: "hf" (mt_model) or "apertium" (languages with a pair)
    # language -> extra bitext source for its student, added to the dataset's own train pairs: "multi30k:<root>"
    # (Multi30k task 1 train), a TSV file or "english_file,foreign_file" (see optical.data.iter_bitext)
    bitext: dict[str, str] = field(default_factory=dict)
    # "equal": every language's students' bitext is capped at the smallest language's (one fixed sample per
    # language, the same for every method and seed), so languages differ by language, not by data; "all": all of it
    bitext_per_language: str = "equal"
    # at most this many bitext pairs per language (None: all), the same sample for every method and seed
    # (optical.experiment.cap_bitext: the pairs with the smallest hash, independent of the run's seed)
    bitext_pairs: int | None = None
    embed_dim: int = 256
    # how the teacher scores a caption against an image (SCORINGS): "pooled", one caption vector against one image
    # vector; "late", FILIP's token-to-region maximum similarity (caption token states against the image tower's
    # region grid, pooled to ``region_grid`` x ``region_grid``), used by every stage that scores
    scoring: str = "pooled"
    # late: the image tower's region grid averaged down to this side. 4 (16 regions): the same val mR as
    # EfficientNet's own 7 x 7 (bench/late.py: 53.1 both) at 1.3x the pooled teacher's training time, not 2.1x
    region_grid: int = 4
    teacher: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=6, lr=2e-5, head_lr=1e-3, patience=2))
    student: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=2, lr=5e-5, head_lr=1e-4))
    # what the teacher trains on, in order (optical.experiment teacher data): dataset, stamps, openclipart,
    # imagenet-prototypes, captions:DIR; ImageNet prototypes pair with prototype_template filled with the lemma
    teacher_sources: list[str] = field(default_factory=lambda: ["dataset"])
    prototype_template: str = "a photo of a {lemma}"  # also {definition}: the class's WordNet gloss
    prototype_synonyms: bool = False  # one pair per lemma of a class, not only its first
    prototype_scale: float = 1.0  # prototype = mean feature + scale * spread * unit classifier row
    teacher_train_layers: int = 4  # top transformer layers the teacher trains (-1: all but word embeddings)
    student_train_layers: int = 4
    ot: LossConfig = field(default_factory=LossConfig)  # every distillation-loss setting (create_loss reads it)
    bootstrap: int = 1000
    plan_samples: int = 8  # test sentence pairs per language whose transport plans are saved for the app
    seed: int = 0  # seeds every random choice: projection init, and teacher's and students' data order and dropout
    device: str = "auto"

    def __post_init__(self) -> None:
        # the experiment's seed is the only one: it overrides the training configs' (copies, so that configs made
        # with dataclasses.replace never share a TrainConfig); seed 0 trains exactly as TrainConfig's default did
        self.teacher = replace(self.teacher, seed=self.seed)
        self.student = replace(self.student, seed=self.seed)
        if self.clip_teacher and self.image_encoder == DEFAULT_IMAGE_ENCODER:
            self.image_encoder = self.clip_teacher  # a CLIP teacher's image embeddings come from its own vision tower

    @property
    def clip_teacher(self) -> str | None:
        """The CLIPModel name or folder of ``teacher_model`` ("clip:NAME_OR_PATH"), None without one."""
        if isinstance(self.teacher_model, str) and self.teacher_model.startswith(CLIP_PREFIX):
            return self.teacher_model.removeprefix(CLIP_PREFIX) or None
        return None

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict, source: str | Path = "<config>") -> ExperimentConfig:
        """Build from a dict (a JSON file's content); unknown keys and bad values name ``source``.

        The flat keys of older run folders (``ot_reg``, ``ot_cost``, ``ot_iters``, ``mse_weight``) are read into ``ot``,
        and the older name ``mse_english`` (in ``ot`` or flat) as ``ot.english`` (``english`` wins when both are given).
        A config from before ``ot.weighting`` (flat keys, or an ``ot`` section with both weights and no weighting, as
        every run folder wrote it) reads as ``"fixed"``: its ``optical+mse`` trained on the plain weighted sum.
        """
        data = dict(data)
        flat = {_FLAT_OT_KEYS[key]: data.pop(key) for key in list(data) if key in _FLAT_OT_KEYS}
        if flat:
            if not isinstance(data.get("ot", {}), dict):
                raise InputError("'ot' must be an object of loss settings", source)
            data["ot"] = {**flat, **data.get("ot", {})}
        ot = data.get("ot")
        if isinstance(ot, dict) and "weighting" not in ot and (flat or {"optical_weight", "mse_weight"} <= set(ot)):
            # written before ``ot.weighting`` (flat keys, or a run's full ``ot`` section: both weights, no weighting):
            # its optical+mse trained on the plain weighted sum, and reads so; a config naming only some settings
            # gets the default
            data["ot"] = {**ot, "weighting": "fixed"}
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InputError(f"unknown config keys {unknown}; expected some of {sorted(known)}", source)
        if isinstance(data.get("ot"), dict) and any(key in data["ot"] for key in _RENAMED_OT_KEYS):
            renamed = {_RENAMED_OT_KEYS.get(key, key): value for key, value in data["ot"].items()}
            data["ot"] = {**renamed, **{key: v for key, v in data["ot"].items() if key not in _RENAMED_OT_KEYS}}
        if "ot" in data:
            data["ot"] = _section(LossConfig, data["ot"], "ot", source)
        for key in ("teacher", "student"):
            if key in data:
                data[key] = _section(TrainConfig, data[key], key, source, base=getattr(cls(), key))
        config = cls(**data)
        config.validate(source)
        return config

    @classmethod
    def from_file(cls, path: str | Path) -> ExperimentConfig:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise InputError("config file not found", path) from None
        except json.JSONDecodeError as err:
            raise InputError(f"invalid JSON: {err.msg}", path, err.lineno) from None
        if not isinstance(data, dict):
            raise InputError("expected a JSON object of settings", path)
        return cls.from_dict(data, path)

    def validate(self, source: str | Path = "<config>") -> None:
        """Raise InputError on values that would only fail later, deep inside a run (before any run folder): each
        setting by its rule (``SETTINGS``), then what depends on several."""
        for setting in SETTINGS:
            if setting.key is not None and setting.rule is not None:
                try:
                    setting.rule(setting.key, functools.reduce(getattr, setting.key.split("."), self))
                except InputError as err:
                    raise InputError(err.message, source) from None
        for name in self.methods:
            method = METHODS[name]
            if method.trained and method.loss not in LOSS_NAMES:
                raise InputError(f"method {name!r} declares loss {method.loss!r}; expected one of {list(LOSS_NAMES)}",
                                 source)
            if method.encoder == "translate" and self.mt == "hf" and not self.mt_model:
                raise InputError(
                    f"method {name!r} needs a translation model (--mt-model NAME_OR_PATH) or --mt apertium", source
                )
            missing = [b for b in method.baselines if b not in METHODS]
            if missing:
                raise InputError(f"method {name!r} is compared with undeclared methods {missing}", source)
        self._validate_models(source)
        if self.dataset == "captions" and not self.root:
            raise InputError("dataset 'captions' needs --root DIR (a folder with images/ and captions.tsv)", source)
        if self.dataset == "multi30k" and not (self.root and self.images):
            raise InputError(
                "dataset 'multi30k' needs --root (the multi30k/dataset checkout) and --images (the Flickr30k image "
                "folder: the teacher trains on the train split's images)",
                source,
            )
        self._validate_bitext(source)
        if self.ot.layer != -1 and self.student_encoder is not None:
            # unprojected states need one tower on both sides (whether the students train that layer: check_models)
            raise InputError(f"ot.layer {self.ot.layer} compares student and teacher hidden states unprojected: that "
                             f"needs one tower on both sides, and the students read {self.student_encoder!r} (use -1: "
                             "the projected states)", source)
        try:
            self.prototype_template.format(lemma="", definition="")
        except (KeyError, IndexError, ValueError) as err:
            raise InputError(f"prototype_template {self.prototype_template!r}: only {{lemma}} and {{definition}} "
                             f"can be filled ({err!r})", source) from None
        if "{lemma}" not in self.prototype_template:
            raise InputError(f"prototype_template must contain '{{lemma}}', got {self.prototype_template!r}", source)

    def _validate_models(self, source: str | Path) -> None:
        """``teacher_model`` is "clip:NAME_OR_PATH" and the image tower is that checkpoint's; ``student_encoder`` is
        a name. Whether they load is checked by ``check_models`` (the CLI, before any run folder)."""
        if self.teacher_model is not None:
            if self.clip_teacher is None:
                raise InputError(f"teacher_model must be '{CLIP_PREFIX}NAME_OR_PATH' (a transformers CLIPModel, HF name "
                                 f"or folder), got {self.teacher_model!r}", source)
            if self.scoring == "late":
                raise InputError(f"teacher {self.teacher_model!r} is a pretrained CLIP model used as is, which scores "
                                 "pooled vectors: scoring 'late' needs a teacher whose heads train on late scores "
                                 "(leave out --teacher, or use --scoring pooled)", source)
            if self.image_encoder != self.clip_teacher:
                raise InputError(f"teacher {self.teacher_model!r} embeds images with its own vision tower: image_encoder "
                                 f"must be {self.clip_teacher!r} (or left out), got {self.image_encoder!r}", source)
        if self.student_encoder is not None and not (isinstance(self.student_encoder, str) and self.student_encoder.strip()):
            raise InputError(f"student_encoder must be a text model name or folder, got {self.student_encoder!r}", source)

    def _validate_bitext(self, source: str | Path) -> None:
        """Each ``bitext`` entry: a known language distilled in this run, with a source that exists."""
        if not isinstance(self.bitext, dict):
            raise InputError("'bitext' must be an object {language: source}", source)
        languages = {normalize_locale(lang) for lang in self.languages}
        for lang, spec in self.bitext.items():
            if normalize_locale(lang) not in languages - {"en"}:
                raise InputError(f"bitext for {lang!r}, which is not among the run's foreign languages "
                                 f"{sorted(languages - {'en'})}", source)
            if not isinstance(spec, str) or not spec.strip():
                raise InputError(f"bitext for {lang!r}: expected a source string such as 'multi30k:PATH'", source)
            if spec.startswith("multi30k:"):
                root = Path(spec.removeprefix("multi30k:"))
                if not (root / "data" / "task1" / "raw").is_dir():
                    raise InputError(f"bitext for {lang!r}: {root} is not a Multi30k checkout "
                                     "(data/task1/raw is missing)", source)
            elif "," not in spec and not Path(spec).is_file():
                raise InputError(f"bitext for {lang!r}: {spec!r} is neither 'multi30k:PATH', a TSV file nor "
                                 "'english_file,foreign_file'", source)


def _section(cls: type, values: object, key: str, source: str | Path, base: object | None = None):
    """The dataclass ``cls`` from the object ``values`` of config key ``key``, over ``base``'s settings."""
    if not isinstance(values, dict):
        raise InputError(f"{key!r} must be an object of settings", source)
    try:
        return cls(**{**(asdict(base) if base is not None else {}), **values})
    except TypeError as err:
        allowed = [f.name for f in fields(cls)]
        raise InputError(f"{key!r}: {err}; expected some of {allowed}", source) from None


# The presets' teachers, chosen on validation data (stamps val + OpenClipart's held-out val; `bench/teacher.py`):
# heads only on the frozen e5 tower (training its top layers did not help on 565 stamps and costs minutes), large
# batches, ImageNet prototypes; the full preset adds OpenClipart (`prepare --with openclipart`), the quick one
# skips it so that `prepare` stays under a minute.
FULL_TEACHER_SOURCES = ("dataset", "openclipart", "imagenet-prototypes")
QUICK_TEACHER_SOURCES = ("dataset", "imagenet-prototypes")


def _preset_teacher(config: ExperimentConfig, sources: tuple[str, ...]) -> ExperimentConfig:
    config.teacher_sources = list(sources)
    config.teacher_train_layers = 0
    config.teacher = TrainConfig(epochs=20, batch_size=256, lr=2e-5, head_lr=1e-3, patience=4)
    return config


def preset(name: str) -> ExperimentConfig:
    """``full``: the built-in experiment; ``quick``: six languages, one student epoch (a few minutes on 2 cores)."""
    if name == "full":
        return _preset_teacher(ExperimentConfig(), FULL_TEACHER_SOURCES)
    if name == "quick":
        config = _preset_teacher(ExperimentConfig(languages=list(QUICK_LANGUAGES)), QUICK_TEACHER_SOURCES)
        config.student.epochs = 1
        return config
    raise InputError(f"unknown preset {name!r}; expected {' or '.join(map(repr, PRESETS))}")
