"""Experiment configuration: one JSON-serialisable dataclass, presets, and validation with clear errors."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from optical.distill.train import TrainConfig
from optical.data import BENCHMARKS, normalize_locale
from optical.errors import InputError
from optical.experiment._teacher_data import check_teacher_sources

METHODS = ("zero-shot", "mse", "optical", "optical+mse", "translate-test")
TRAINED_METHODS = ("mse", "optical", "optical+mse")

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
    image_encoder: str = "efficientnet-lite0"
    mt_model: str | None = None  # translate-test: HF seq2seq model name or path, per language "{lang}" allowed
    # language -> extra bitext source for its student, added to the dataset's own train pairs: "multi30k:<root>"
    # (Multi30k task 1 train), a TSV file or "english_file,foreign_file" (see optical.data.iter_bitext)
    bitext: dict[str, str] = field(default_factory=dict)
    embed_dim: int = 256
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
    ot_reg: float = 0.05
    ot_cost: str = "cosine"
    ot_iters: int = 50
    mse_weight: float = 1.0  # optical+mse: loss = optical + mse_weight * mse
    bootstrap: int = 1000
    plan_samples: int = 8  # test sentence pairs per language whose transport plans are saved for the app
    seed: int = 0
    device: str = "auto"

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict, source: str | Path = "<config>") -> ExperimentConfig:
        """Build from a dict (a JSON file's content); unknown keys and bad values name ``source``."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InputError(f"unknown config keys {unknown}; expected some of {sorted(known)}", source)
        data = dict(data)
        for key in ("teacher", "student"):
            if key in data:
                if not isinstance(data[key], dict):
                    raise InputError(f"{key!r} must be an object of training settings", source)
                try:
                    data[key] = TrainConfig(**{**asdict(getattr(cls(), key)), **data[key]})
                except TypeError as err:
                    raise InputError(f"{key!r}: {err}", source) from None
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
        """Raise InputError on values that would only fail later, deep inside a run."""
        bad = [m for m in self.methods if m not in METHODS]
        if bad:
            raise InputError(f"unknown methods {bad}; expected some of {list(METHODS)}", source)
        if "translate-test" in self.methods and not self.mt_model:
            raise InputError("method 'translate-test' needs a translation model (--mt-model NAME_OR_PATH)", source)
        if self.dataset not in BENCHMARKS:
            raise InputError(f"unknown dataset {self.dataset!r}; expected one of {', '.join(BENCHMARKS)}", source)
        if self.dataset == "captions" and not self.root:
            raise InputError("dataset 'captions' needs --root DIR (a folder with images/ and captions.tsv)", source)
        if self.dataset == "multi30k" and not (self.root and self.images):
            raise InputError(
                "dataset 'multi30k' needs --root (the multi30k/dataset checkout) and --images (the Flickr30k image "
                "folder: the teacher trains on the train split's images)",
                source,
            )
        if not self.languages:
            raise InputError("no languages given", source)
        for lang in self.languages:
            normalize_locale(lang)  # an unknown code raises InputError naming it
        self._validate_bitext(source)
        check_teacher_sources(self.teacher_sources, source)
        try:
            self.prototype_template.format(lemma="", definition="")
        except (KeyError, IndexError, ValueError) as err:
            raise InputError(f"prototype_template {self.prototype_template!r}: only {{lemma}} and {{definition}} "
                             f"can be filled ({err!r})", source) from None
        if "{lemma}" not in self.prototype_template:
            raise InputError(f"prototype_template must contain '{{lemma}}', got {self.prototype_template!r}", source)
        if self.ot_reg <= 0:
            raise InputError(f"ot_reg must be > 0, got {self.ot_reg}", source)
        if self.teacher.epochs < 1 or self.student.epochs < 1:
            raise InputError("epochs must be >= 1", source)


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
    raise InputError(f"unknown preset {name!r}; expected 'full' or 'quick'")
