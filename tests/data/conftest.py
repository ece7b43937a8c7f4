"""Fixtures: a tiny fake ``tuxpaint-stamps-default`` .deb (real ar + tar.xz layout) and a tiny Multi30k tree."""

from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path

import pytest
from PIL import Image

from optical.data import load_stamps, prepare_stamps

STAMPS = "usr/share/tuxpaint/stamps/"


def _png_bytes(color=(200, 30, 30, 128), size=(4, 4), mode="RGBA") -> bytes:
    """A tiny PNG (RGBA by default, half-transparent red)."""
    buf = io.BytesIO()
    Image.new(mode, size, color).save(buf, format="PNG")
    return buf.getvalue()


def _tar_xz(files: dict[str, bytes], compression: str = "xz") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=f"w:{compression}" if compression else "w") as tar:
        dirs = sorted({str(Path(name).parents[i]) for name in files for i in range(len(Path(name).parents) - 1)})
        for d in dirs:
            info = tarfile.TarInfo(f"./{d}")
            info.type = tarfile.DIRTYPE
            tar.addfile(info)
        for name, data in files.items():
            info = tarfile.TarInfo(f"./{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _ar_archive(members: list[tuple[str, bytes]]) -> bytes:
    """An ``ar`` archive (the container format of .deb files)."""
    out = [b"!<arch>\n"]
    for name, data in members:
        header = f"{name:<16}{0:<12}{0:<6}{0:<6}{100644:<8}{len(data):<10}".encode() + b"`\n"
        out += [header, data, b"\n" if len(data) % 2 else b""]
    return b"".join(out)


def _make_deb(path: Path, files: dict[str, bytes], package: str = "tuxpaint-stamps-default",
             data_member: str = "data.tar.xz", version: str = "1.0-test") -> Path:
    """Write a .deb holding ``files`` (paths relative to /) whose control file names ``package`` and ``version``."""
    control = f"Package: {package}\nVersion: {version}\nArchitecture: all\nDescription: test\n".encode()
    compression = {"data.tar.xz": "xz", "data.tar.gz": "gz", "data.tar": ""}.get(data_member, "xz")
    path.write_bytes(_ar_archive([
        ("debian-binary", b"2.0\n"),
        ("control.tar.xz", _tar_xz({"control": control})),
        (data_member, _tar_xz(files, compression)),
    ]))
    return path


def caption(english: str, **translations: str) -> bytes:
    lines = [english] + [f"{loc}.utf8={text}" for loc, text in translations.items()]
    return ("\n".join(lines) + "\n").encode()


def _stamp_files(n_generated: int = 60) -> dict[str, bytes]:
    """The content of the fake package: special cases plus ``n_generated`` ordinary stamps."""
    png = _png_bytes()
    files = {
        # every variant of the caption format in one file
        STAMPS + "animals/frog.txt": (
            "\ufeffA frog.\n"
            "\n"
            "# a comment\n"
            "de.utf8=Ein Frosch.\n"
            "fr=Une grenouille.\n"  # no codeset
            "de.utf8=Zweiter Frosch\n"  # duplicate locale: first wins
            "pt_BR.utf8=Um sapo.\n"
            "sr@latin.utf8=Žaba.\n"
            "ca@valencia.utf8=Una granota.\n"
            "en_GB.utf8=A frog.\n"  # English variant: skipped
            "ga.utf8=A frog\n"  # untranslated (same as English but for the full stop)
            "ja.utf8=カエル\n"
            "xq.utf8=Unknown.\n"  # unknown locale: skipped and counted
            "it.utf8=\n"  # empty translation: ignored
        ).encode(),
        STAMPS + "animals/frog.png": png,
        # two stamps with the same English caption: one group
        STAMPS + "coins/coin-1.txt": caption("A coin.", de="Eine Münze.", ga="A coin."),
        STAMPS + "coins/coin-1.png": png,
        STAMPS + "coins/coin-2.txt": caption("A coin", de="Eine Münze"),
        STAMPS + "coins/coin-2.png": png,
        STAMPS + "coins/coin-2_mirror.png": png,  # PNG without caption file
        STAMPS + "misc/calc.txt": caption("A calculator. 6x7=42", de="Ein Taschenrechner. 6x7=42"),
        STAMPS + "misc/calc.png": png,
        STAMPS + "misc/vector.txt": caption("A vector.", de="Ein Vektor."),
        STAMPS + "misc/vector.svg": b"<svg/>",  # SVG-only stamp: skipped
        STAMPS + "misc/lost.txt": caption("Lost.", de="Verloren."),  # no image at all
        STAMPS + "misc/lost.ogg": b"OggS",
        "usr/share/doc/tuxpaint-stamps-default/copyright": b"GPL-2",
    }
    for i in range(n_generated):
        files[STAMPS + f"generated/thing{i}.txt"] = caption(f"Thing number {i}.", de=f"Ding Nummer {i}.",
                                                             fr=f"Chose numéro {i}.")
        files[STAMPS + f"generated/thing{i}.png"] = png
    return files


@pytest.fixture
def make_deb():
    """``make_deb(path, files, package=..., data_member="data.tar.xz", version="1.0-test") -> path``."""
    return _make_deb


@pytest.fixture
def stamp_files():
    """``stamp_files(n_generated=60) -> {path in package: bytes}``: the fake package's content."""
    return _stamp_files


@pytest.fixture
def ar_archive():
    """``ar_archive([(name, bytes), ...]) -> bytes``."""
    return _ar_archive


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    """An empty cache folder (``OPTICAL_CACHE``)."""
    root = tmp_path / "cache"
    monkeypatch.setenv("OPTICAL_CACHE", str(root))
    return root


@pytest.fixture
def fake_deb(tmp_path) -> Path:
    return _make_deb(tmp_path / "tuxpaint-stamps-default_1.0-test_all.deb", _stamp_files())


@pytest.fixture
def stamps(cache, fake_deb):
    """The fake package prepared into the test cache and loaded."""
    prepare_stamps(fake_deb, progress=False)
    return load_stamps()


M30K_SPLITS = {"train": 6, "val": 3, "test_2016_flickr": 4}
M30K_TASK2_SPLITS = {"train": 3, "val": 2, "test_2016": 3}


def _write_text(path: Path, lines: list[str], gz: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = ("\n".join(lines) + "\n").encode()
    if gz:
        path.with_name(path.name + ".gz").write_bytes(gzip.compress(data))
    else:
        path.write_bytes(data)


@pytest.fixture
def multi30k(tmp_path) -> tuple[Path, Path]:
    """``(root, images)``: a Multi30k tree in the official layout and a folder of tiny JPEGs.

    Task 1: train (gz), val and test_2016_flickr (plain) in en/de/fr/cs, test_2017_mscoco (1 line, en/de/fr, no
    image). Task 2: 5 captions x en/de (gz).
    Image ``<split>_<i>.jpg``; caption ``"<lang> caption <i> of <split>"``.
    """
    root, images = tmp_path / "multi30k", tmp_path / "flickr30k-images"
    images.mkdir()
    task1 = root / "data" / "task1"
    for split, n in M30K_SPLITS.items():
        names = [f"{split}_{i}.jpg" for i in range(n)]
        _write_text(task1 / "image_splits" / f"{split}.txt", names, gz=False)
        for lang in ("en", "de", "fr", "cs"):
            _write_text(task1 / "raw" / f"{split}.{lang}", [f"{lang} caption {i} of {split}" for i in range(n)],
                        gz=split == "train")
        for name in names:
            Image.new("RGB", (4, 4), (10, 20, 30)).save(images / name)
    # the MSCOCO test set: "<file>#<caption id>" image names, images not in the Flickr30k folder
    _write_text(task1 / "image_splits" / "test_2017_mscoco.txt", ["COCO_val2014_000000000042.jpg#7"], gz=False)
    for lang in ("en", "de", "fr"):
        _write_text(task1 / "raw" / f"test_2017_mscoco.{lang}", [f"{lang} coco caption"], gz=True)
    task2 = root / "data" / "task2"
    for split, n in M30K_TASK2_SPLITS.items():
        names = [f"{split}_{i}.jpg" for i in range(n)]
        _write_text(task2 / "image_splits" / f"{split}_images.txt", names, gz=False)
        for k in range(1, 6):
            for lang in ("en", "de"):
                _write_text(task2 / "raw" / f"{split}.{k}.{lang}",
                            [f"{lang} description {k} of image {i}" for i in range(n)], gz=True)
        for name in names:
            if not (images / name).exists():
                Image.new("RGB", (4, 4), (10, 20, 30)).save(images / name)
    return root, images


def _write_captions(root: Path, rows: list[tuple[str, ...]], header: str | None = "image\tlang\tcaption",
                    images: list[str] | None = None) -> Path:
    """A captions folder: ``root/images/<name>`` as tiny PNGs (``images``: default every name in ``rows``) and
    ``root/captions.tsv`` with ``header`` (None: no header line) and one tab-joined line per row."""
    for name in images if images is not None else sorted({row[0] for row in rows}):
        path = root / "images" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(_png_bytes(color=(len(name) * 7 % 256, 40, 90, 255)))
    (root / "images").mkdir(parents=True, exist_ok=True)
    lines = ([header] if header is not None else []) + ["\t".join(row) for row in rows]
    (root / "captions.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


def captions_rows(n_images: int = 40, languages: tuple[str, ...] = ("de", "fr")) -> list[tuple[str, str, str]]:
    """Rows for ``n_images`` images ``img<i>.png``: two English captions each, one per other language; images 0
    and 1 share their English captions (one group)."""
    rows = []
    for i in range(n_images):
        thing = 0 if i < 2 else i
        rows += [(f"img{i}.png", "en", f"A picture of thing {thing}."), (f"img{i}.png", "en", f"Thing {thing}.")]
        rows += [(f"img{i}.png", lang, f"{lang} Ding {thing}") for lang in languages]
    return rows


@pytest.fixture
def write_captions():
    """``write_captions(root, rows, header="image\\tlang\\tcaption", images=None) -> root``."""
    return _write_captions
