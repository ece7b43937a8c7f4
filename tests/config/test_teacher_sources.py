"""The teacher's training sources in the config: validated with it, and named by the presets."""

import pytest

from optical.config import FULL_TEACHER_SOURCES, QUICK_TEACHER_SOURCES, ExperimentConfig, preset
from optical.errors import InputError


def test_teacher_sources_are_validated(tmp_path):
    with pytest.raises(InputError, match="unknown teacher source 'flickr'"):
        ExperimentConfig.from_dict({"teacher_sources": ["dataset", "flickr"]})
    with pytest.raises(InputError, match="non-empty list"):
        ExperimentConfig.from_dict({"teacher_sources": []})
    with pytest.raises(InputError, match="no captions.tsv"):
        ExperimentConfig.from_dict({"teacher_sources": [f"captions:{tmp_path}"]})
    with pytest.raises(InputError, match="must contain '{lemma}'"):
        ExperimentConfig.from_dict({"prototype_template": "a photo"})
    with pytest.raises(InputError, match="only {lemma} and {definition}"):
        ExperimentConfig.from_dict({"prototype_template": "a photo of a {name}"})


def test_presets_name_their_teacher_sources():
    full, quick = preset("full"), preset("quick")
    assert full.teacher_sources == list(FULL_TEACHER_SOURCES) and "openclipart" in full.teacher_sources
    assert quick.teacher_sources == list(QUICK_TEACHER_SOURCES) and "openclipart" not in quick.teacher_sources
    assert full.teacher_train_layers == quick.teacher_train_layers == 0 and full.teacher.batch_size == 256
    assert ExperimentConfig.from_dict(full.to_dict()).to_dict() == full.to_dict()  # config.json keeps it all
    assert ExperimentConfig().teacher_sources == ["dataset"]  # a config without the key trains as before
