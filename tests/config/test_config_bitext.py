"""``config.bitext`` is validated with the config, before any data is read."""

import json

import pytest

from optical.errors import InputError
from optical.config import ExperimentConfig


@pytest.mark.parametrize(
    ("bitext", "message"),
    [
        ("extra.tsv", "'bitext' must be an object"),
        (["extra.tsv"], "'bitext' must be an object"),
        ({"de": 3}, "bitext for 'de': expected a source string"),
    ],
)
def test_bitext_that_is_not_an_object_of_sources_is_an_input_error(tmp_path, bitext, message):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"languages": ["de", "fr"], "bitext": bitext}))
    with pytest.raises(InputError, match=f"{path}: {message}"):
        ExperimentConfig.from_file(path)


@pytest.mark.parametrize("language", ["ga", "en"])
def test_bitext_for_a_language_not_in_the_run_is_an_input_error(tmp_path, language):
    (tmp_path / "extra.tsv").write_text("a\tb\n")
    with pytest.raises(InputError, match=f"bitext for '{language}', which is not among the run's foreign languages"):
        ExperimentConfig.from_dict(
            {"languages": ["en", "de", "pt_BR"], "bitext": {language: str(tmp_path / "extra.tsv")}}
        )


def test_bitext_source_must_exist(tmp_path):
    with pytest.raises(InputError, match="is neither 'multi30k:PATH', a TSV file nor"):
        ExperimentConfig.from_dict({"languages": ["de"], "bitext": {"de": str(tmp_path / "missing.tsv")}})


def test_bitext_for_a_run_language_is_accepted(tmp_path):
    (tmp_path / "extra.tsv").write_text("a\tb\n")
    bitext = {"de": str(tmp_path / "extra.tsv"), "pt_BR": str(tmp_path / "extra.tsv")}
    config = ExperimentConfig.from_dict({"languages": ["de", "pt_BR"], "bitext": bitext})
    assert set(config.bitext) == {"de", "pt_BR"}


def test_equal_bitext_caps_every_language_at_the_smallest_with_a_fixed_sample():
    from optical.experiment._data import equal_bitext

    bitext = {"de": [(f"en {i}", f"de {i}") for i in range(10)], "zu": [(f"en {i}", f"zu {i}") for i in range(4)]}
    capped = equal_bitext(bitext)
    assert {lang: len(pairs) for lang, pairs in capped.items()} == {"de": 4, "zu": 4}
    assert capped["zu"] == bitext["zu"]  # the smallest keeps all of its pairs
    assert set(capped["de"]) <= set(bitext["de"]) and capped["de"] == sorted(capped["de"], key=bitext["de"].index)
    assert equal_bitext(bitext) == capped  # the same sample every time (every method and seed)
    assert ExperimentConfig().bitext_per_language == "equal"
