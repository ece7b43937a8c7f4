import pytest

from optical.data import cc100_size_gib, closest_language, language_name, normalize_locale, resource_group
from optical.errors import InputError


@pytest.mark.parametrize("code, tag", [
    ("de", "de"), ("DE", "de"), ("pt_BR", "pt-BR"), ("pt-br", "pt-BR"), ("zh_TW.utf8", "zh-TW"),
    ("sr@latin", "sr-Latn"), ("sr@latin.utf8", "sr-Latn"), ("sr_RS@latin", "sr-Latn-RS"),
    ("ca@valencia.utf8", "ca-valencia"), ("zh-hant", "zh-Hant"), ("ach.utf8", "ach"), (" fr ", "fr"),
    ("de_DE.utf8", "de-DE"), ("lkt", "lkt"), ("yo", "yo"), ("ig", "ig"), ("mi", "mi"), ("chr", "chr"),
    ("fil", "fil"), ("yue", "yue"), ("iw", "he"), ("deu", "de"),
])
def test_normalize_locale(code, tag):
    assert normalize_locale(code) == tag
    assert normalize_locale(tag) == tag


@pytest.mark.parametrize("code", ["xx-QQ", "xx", "", "  ", "english", "de_!!", "de@klingon", "12", "und", "qaa"])
def test_unknown_language_code_is_an_input_error(code):
    with pytest.raises(InputError, match="language code|modifier") as err:
        normalize_locale(code)
    assert repr(code) in str(err.value) and "pt-BR" in str(err.value) or "modifier" in str(err.value)


def test_language_names():
    assert language_name("lkt") == "Lakota"
    assert language_name("pt_BR") == "Portuguese (Brazil)"
    assert language_name("yo") == "Yoruba"
    with pytest.raises(InputError):
        language_name("xx")


def test_cc100_sizes_from_xlmr_table():
    assert cc100_size_gib("en") == pytest.approx(300.8)
    assert cc100_size_gib("sv") == pytest.approx(85.0)  # erratum fixed
    assert cc100_size_gib("pt_BR") == cc100_size_gib("pt") == pytest.approx(49.1)
    assert cc100_size_gib("zh_CN") == pytest.approx(46.9)
    assert cc100_size_gib("zh_TW") == cc100_size_gib("zh-Hant") == pytest.approx(16.6)
    assert cc100_size_gib("nb") == pytest.approx(49.0)
    assert cc100_size_gib("sr@latin") == pytest.approx(9.1)
    assert cc100_size_gib("son") is None


@pytest.mark.parametrize("codes, group", [
    (["son", "ff", "an", "vec", "ast", "iu", "ach", "zu", "kab", "nn", "oc", "lkt", "yo", "ig", "mi", "chr", "yue"],
     "unseen"),
    (["ga", "gd", "km", "am", "eu", "sw", "cy", "sr", "ka", "fil", "tl"], "low"),
    (["en", "de", "fr", "cs", "ja", "zh_TW", "ca", "sl", "pt-BR"], "high"),
])
def test_resource_groups(codes, group):
    assert {code: resource_group(code) for code in codes} == {code: group for code in codes}


def test_resource_group_rejects_unknown_code():
    with pytest.raises(InputError):
        resource_group("xx-QQ")


@pytest.mark.parametrize(
    ("code", "read"),
    [("de_DE", "de"), ("de-AT", "de"), ("DE", "de"), ("pt_BR.utf8", "pt"), ("ca@valencia", "ca"), ("fr", None),
     ("zh-TW", None), ("zh-Hant", None), ("sr@latin", None), ("en_GB", "en")],
)
def test_closest_language_drops_a_region_but_never_changes_the_script(code, read):
    assert closest_language(code, {"en", "de", "pt", "ca", "zh", "sr"}) == read
    assert closest_language(code, {normalize_locale(code)}) == normalize_locale(code)  # the tag itself comes first
