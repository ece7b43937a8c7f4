"""``config.bitext`` is validated with the config, before any data is read."""

import json

import pytest

from optical.errors import InputError
from optical.experiment import ExperimentConfig


@pytest.mark.parametrize("bitext", ["extra.tsv", ["extra.tsv"], {"de": 3}])
def test_bitext_that_is_not_an_object_of_files_is_an_input_error(tmp_path, bitext):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"languages": ["de", "fr"], "bitext": bitext}))
    with pytest.raises(InputError, match=f'{path}: "bitext" must be an object'):
        ExperimentConfig.from_file(path)


@pytest.mark.parametrize("language", ["ga", "en", "pt_BR"])
def test_bitext_for_a_language_not_in_the_run_is_an_input_error(language):
    with pytest.raises(InputError, match=f"bitext given for '{language}', not a foreign language of this run "
                                         r"\(de, pt-BR\): add it to languages"):
        ExperimentConfig.from_dict({"languages": ["en", "de", "pt_BR"], "bitext": {language: "extra.tsv"}})


def test_bitext_for_a_run_language_is_accepted():
    config = ExperimentConfig.from_dict({"languages": ["de", "fr"], "bitext": {"de": "extra.tsv"}})
    assert config.bitext == {"de": "extra.tsv"}
