"""Language codes: normalisation to BCP 47 style tags and XLM-R pre-training (CC-100) sizes.

Resource groups used throughout the project (thresholds on the CC-100 size of the language):

- ``high``: CC-100 has at least ``HIGH_RESOURCE_MIN_GIB`` (10 GiB) of the language;
- ``low``: XLM-R saw the language, but less than 10 GiB of it;
- ``unseen``: the language is not among XLM-R's 100 pre-training languages.
"""

from __future__ import annotations

import re

from optical.errors import InputError

HIGH_RESOURCE_MIN_GIB = 10.0

# CC-100 size in GiB per language: XLM-R paper, Conneau et al. 2020, "Unsupervised Cross-lingual Representation
# Learning at Scale" (ACL), Appendix A, Table 6, as transcribed in github.com/mayhewsw/multilingual-data-stats
# (cc-100/cc-100.csv). The printed Swedish row is an erratum: the authors confirmed about 85 GiB (the value here).
# Romanised variants (Hindi, Urdu, Bengali, Tamil, Telugu Romanized) have no language code and are left out;
# Burmese is the sum of its two rows (Unicode and Zawgyi). Chinese has two rows: see ``cc100_size_gib``.
CC100_SIZE_GIB: dict[str, float] = {
    "af": 1.3, "am": 0.8, "ar": 28.0, "as": 0.1, "az": 6.5, "be": 4.3, "bg": 57.5, "bn": 8.4, "br": 0.1,
    "bs": 0.1, "ca": 10.1, "cs": 16.3, "cy": 0.8, "da": 45.6, "de": 66.6, "el": 46.9, "en": 300.8, "eo": 0.9,
    "es": 53.3, "et": 6.1, "eu": 2.0, "fa": 111.6, "fi": 54.3, "fr": 56.8, "fy": 0.2, "ga": 0.5, "gd": 0.1,
    "gl": 2.9, "gu": 1.9, "ha": 0.3, "he": 31.6, "hi": 20.2, "hr": 20.5, "hu": 58.4, "hy": 5.5, "id": 148.3,
    "is": 3.2, "it": 30.2, "ja": 69.3, "jv": 0.2, "ka": 9.1, "kk": 6.4, "km": 1.5, "kn": 3.3, "ko": 54.2,
    "ku": 0.4, "ky": 1.2, "la": 2.5, "lo": 0.6, "lt": 13.7, "lv": 8.8, "mg": 0.2, "mk": 4.8, "ml": 7.6,
    "mn": 3.0, "mr": 2.8, "ms": 8.5, "my": 2.0, "ne": 3.8, "nl": 29.3, "no": 49.0, "om": 0.1, "or": 0.6,
    "pa": 0.8, "pl": 44.6, "ps": 0.7, "pt": 49.1, "ro": 61.4, "ru": 278.0, "sa": 0.3, "sd": 0.4, "si": 3.6,
    "sk": 23.2, "sl": 10.3, "so": 0.4, "sq": 5.4, "sr": 9.1, "su": 0.1, "sv": 85.0, "sw": 1.6, "ta": 12.2,
    "te": 4.7, "th": 71.7, "tl": 3.1, "tr": 20.9, "ug": 0.4, "uk": 84.6, "ur": 5.7, "uz": 0.7, "vi": 137.3,
    "xh": 0.1, "yi": 0.3, "zh": 46.9,
}
_ZH_TRADITIONAL_GIB = 16.6  # Table 6's "Chinese (Traditional)" row; "zh" above is Simplified
_ZH_TRADITIONAL_TAGS = ("Hant", "TW", "HK", "MO")

# Languages XLM-R did not see that occur in the data we ship support for (Tux Paint stamps locales).
# Norwegian Nynorsk is listed apart from CC-100's "no", which is Bokmål-dominated ("nb" maps onto it).
_UNSEEN_LANGUAGES = frozenset({
    "ach",  # Acholi
    "ak",  # Akan
    "an",  # Aragonese
    "ast",  # Asturian
    "ff",  # Fula
    "iu",  # Inuktitut
    "kab",  # Kabyle
    "nn",  # Norwegian Nynorsk
    "nso",  # Northern Sotho
    "oc",  # Occitan
    "shs",  # Shuswap
    "son",  # Songhay
    "vec",  # Venetian
    "zu",  # Zulu
})
_ALIASES = {"nb": "no"}  # CC-100 lookups only; the tag itself stays "nb"

# POSIX locale modifiers (``sr@latin``, ``ca@valencia``) as BCP 47 script or variant subtags.
_MODIFIERS = {"latin": "Latn", "cyrillic": "Cyrl", "valencia": "valencia"}

_KNOWN = set(CC100_SIZE_GIB) | set(_UNSEEN_LANGUAGES) | set(_ALIASES)


def normalize_locale(code: str) -> str:
    """Turn a language code or POSIX locale into a BCP 47 style tag.

    ``pt_BR`` -> ``pt-BR``, ``zh_TW.utf8`` -> ``zh-TW``, ``sr@latin`` -> ``sr-Latn``,
    ``ca@valencia`` -> ``ca-valencia``, ``DE`` -> ``de``. The codeset (``.utf8``) is dropped.

    Raises ``InputError`` for malformed codes and for languages this project does not know
    (neither an XLM-R language nor one of the stamps locales).
    """
    text = code.strip()
    base, _, modifier = text.partition(".")[0].partition("@")
    parts = re.split(r"[-_]", base)
    language = parts[0].lower()
    if not re.fullmatch(r"[a-z]{2,3}", language) or language not in _KNOWN:
        raise InputError(f"unknown language code {code!r} (expected e.g. 'de', 'pt-BR', 'sr@latin')")
    scripts, rest = [], []
    for part in parts[1:]:
        if re.fullmatch(r"[A-Za-z]{4}", part):
            scripts.append(part.title())
        elif re.fullmatch(r"[A-Za-z]{2}|[0-9]{3}", part):
            rest.append(part.upper())
        elif re.fullmatch(r"[A-Za-z0-9]{5,8}", part):
            rest.append(part.lower())
        else:
            raise InputError(f"malformed language code {code!r}: bad subtag {part!r}")
    if modifier:
        if modifier.lower() not in _MODIFIERS:
            raise InputError(f"unknown locale modifier in {code!r} (known: {', '.join(sorted(_MODIFIERS))})")
        subtag = _MODIFIERS[modifier.lower()]
        (scripts if len(subtag) == 4 else rest).append(subtag)
    return "-".join([language, *scripts, *rest])


def cc100_size_gib(locale: str) -> float | None:
    """Size of the language in CC-100 (XLM-R's pre-training corpus) in GiB; None if XLM-R did not see it.

    Regional and script variants share their language's size (``pt-BR`` -> pt, ``sr-Latn`` -> sr), except
    Chinese: Traditional (``zh-TW``, ``zh-HK``, ``zh-Hant``) and Simplified (others) have separate rows.
    """
    tag = normalize_locale(locale)
    language, *subtags = tag.split("-")
    if language == "zh" and any(s in _ZH_TRADITIONAL_TAGS for s in subtags):
        return _ZH_TRADITIONAL_GIB
    return CC100_SIZE_GIB.get(_ALIASES.get(language, language))


def resource_group(locale: str) -> str:
    """``"high"`` (>= 10 GiB in CC-100), ``"low"`` (seen, < 10 GiB) or ``"unseen"`` (not an XLM-R language)."""
    size = cc100_size_gib(locale)
    if size is None:
        return "unseen"
    return "high" if size >= HIGH_RESOURCE_MIN_GIB else "low"
