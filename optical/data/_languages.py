"""Language codes: any BCP 47 tag (parsed by PyPI ``langcodes``), display names, and XLM-R pre-training (CC-100)
sizes.

Resource groups used throughout the project (thresholds on the CC-100 size of the language):

- ``high``: CC-100 has at least ``HIGH_RESOURCE_MIN_GIB`` (10 GiB) of the language;
- ``low``: XLM-R saw the language, but less than 10 GiB of it;
- ``unseen``: every other valid language (not among XLM-R's 100 pre-training languages).
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

import langcodes

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

# CC-100 lookups only: the tag itself stays as ``langcodes`` writes it ("nb" is Bokmål, the bulk of CC-100's "no";
# ``langcodes`` replaces the deprecated "tl" by "fil", CC-100's Tagalog/Filipino row).
_ALIASES = {"nb": "no", "fil": "tl"}

# POSIX locale modifiers (``sr@latin``, ``ca@valencia``) as BCP 47 script or variant subtags.
_MODIFIERS = {"latin": {"script": "Latn"}, "cyrillic": {"script": "Cyrl"}, "valencia": {"variants": ["valencia"]}}

# Valid ISO 639 codes that name no language: undetermined, multiple, no linguistic content, uncoded.
_NOT_A_LANGUAGE = frozenset({"und", "mul", "zxx", "mis"})
_EXAMPLES = "expected a BCP 47 tag or POSIX locale such as 'de', 'pt-BR', 'pt_BR.utf8', 'sr@latin', 'lkt'"


@lru_cache(maxsize=4096)  # stamps captions repeat ~80 codes over 60k lines
def _language(code: str) -> langcodes.Language:
    """Parse ``code`` (BCP 47 or POSIX ``ll_CC.codeset@modifier``) into a standardised ``langcodes.Language``."""
    text = code.strip()
    base, _, modifier = text.partition(".")[0].partition("@")
    if not base:
        raise InputError(f"unknown language code {code!r} ({_EXAMPLES})")
    try:
        language = langcodes.Language.get(langcodes.standardize_tag(base.replace("_", "-")))
    except (langcodes.LanguageTagError, ValueError) as err:
        raise InputError(f"unknown language code {code!r}: {err} ({_EXAMPLES})") from None
    subtag = language.language or ""
    if (not language.is_valid() or len(subtag) not in (2, 3) or subtag in _NOT_A_LANGUAGE
            or "qaa" <= subtag <= "qtz"):  # qaa-qtz: private use
        raise InputError(f"unknown language code {code!r}: {subtag or base!r} is not an ISO 639 language "
                         f"({_EXAMPLES})")
    if modifier:
        if modifier.lower() not in _MODIFIERS:
            raise InputError(f"unknown locale modifier in {code!r} (known: {', '.join(sorted(_MODIFIERS))})")
        language = language.update_dict(_MODIFIERS[modifier.lower()])
    return language


def normalize_locale(code: str) -> str:
    """Turn a language code or POSIX locale into a standard BCP 47 tag.

    Any valid tag whose language subtag is an ISO 639-1/2/3 code is accepted, whether or not XLM-R saw the
    language: ``pt_BR`` -> ``pt-BR``, ``zh_TW.utf8`` -> ``zh-TW``, ``sr@latin`` -> ``sr-Latn``,
    ``ca@valencia`` -> ``ca-valencia``, ``DE`` -> ``de``, ``lkt`` -> ``lkt``, ``iw`` -> ``he`` (deprecated
    codes replaced). The codeset (``.utf8``) is dropped.

    Raises ``InputError`` for malformed tags and for codes that are no language (``xx``, ``english``, ``und``).
    """
    return _language(code).to_tag()


def closest_language(code: str, available: Iterable[str]) -> str | None:
    """``code``'s tag if ``available`` (standard tags) has it, else its bare language when ``available`` has that and
    it is written in the same script (``de_DE`` -> ``de``, ``pt-BR`` -> ``pt``, ``ca@valencia`` -> ``ca``; not
    ``zh-TW`` -> ``zh``, Traditional against Simplified, nor ``sr@latin`` -> ``sr``), else None."""
    available = set(available)
    language = _language(code)
    tag = language.to_tag()
    if tag in available:
        return tag
    base = language.language or ""
    if base != tag and base in available and _language(base).maximize().script == language.maximize().script:
        return base
    return None


def language_name(code: str) -> str:
    """The English display name of a tag: ``lkt`` -> ``Lakota``, ``pt-BR`` -> ``Portuguese (Brazil)``."""
    return _language(code).display_name("en")


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
