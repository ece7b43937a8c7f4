"""Fakes for fast tests, no weights and no network: one tiny text model (one tokenizer), one tiny image tower,
tiny training pairs, tiny datasets (a captions folder, a stamps .deb, OpenClipart .debs, a timm wheel, a Multi30k
tree), small images, and the ``data`` command on its own parser. Plain functions; the fixtures that use them live in
the conftest.py files."""

from __future__ import annotations

import gzip
import io
import string
import struct
import tarfile
import zipfile
import zlib
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from PIL import Image

from optical.data import IMAGENET_CLASSES

if TYPE_CHECKING:  # transformers only once a test builds a model: the data tests never do
    from transformers import BertModel, BertTokenizerFast

    from optical.encoders import TextEncoder

# --- the tiny text model ---------------------------------------------------------------------------------------

# whole words of the tiny vocabularies ("query": the prefix the encoder tests give the tower)
WORDS = ("a an the red green blue apple dog cat house tree car boat bird fish ein der die das rot apfel hund katze "
         "query").split()


def tiny_tokenizer() -> BertTokenizerFast:
    """A WordPiece tokenizer over ``WORDS``, lowercase letters, digits and ``:`` ([PAD] 0, [UNK] 1, [CLS] 2,
    [SEP] 3); anything else is [UNK]."""
    from transformers import BertTokenizerFast

    pieces = list(string.ascii_lowercase + string.digits + ":")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS, *pieces, *[f"##{c}" for c in pieces]]
    ids = {piece: i for i, piece in enumerate(dict.fromkeys(vocab))}
    return BertTokenizerFast(vocab=ids, do_lower_case=True)


def tiny_bert(hidden: int = 32, layers: int = 2, seed: int = 0, dropout: float = 0.0) -> BertModel:
    """A random BERT over ``tiny_tokenizer`` (2 heads, no pooler) in eval mode; ``dropout`` (hidden and attention)
    is 0 by default so that 1-process and 2-process runs agree."""
    from transformers import BertConfig, BertModel

    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=len(tiny_tokenizer()),
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=2 * hidden,
        max_position_embeddings=64,
        pad_token_id=0,
        hidden_dropout_prob=dropout,
        attention_probs_dropout_prob=dropout,
    )
    return BertModel(config, add_pooling_layer=False).eval()


def tiny_text_encoder(hidden: int = 32, layers: int = 2, seed: int = 0, dropout: float = 0.0) -> TextEncoder:
    """``tiny_bert`` with mean pooling as a TextEncoder (no prefix, max_length 32)."""
    from optical.encoders import TextEncoder

    return TextEncoder(tiny_bert(hidden, layers, seed, dropout), tiny_tokenizer(), name="tiny-bert", max_length=32)


def saved_bert(folder: Path) -> Path:
    """``tiny_bert()`` and ``tiny_tokenizer()`` as ``save_pretrained`` writes them (a plain HF folder)."""
    tiny_bert().save_pretrained(folder)
    tiny_tokenizer().save_pretrained(folder)
    return folder


def saved_tiny_text_encoder(folder: Path) -> Path:
    """``tiny_text_encoder()`` saved as ``folder/tiny-text``, a folder ``create_text_encoder(path)`` loads."""
    return tiny_text_encoder().save(folder / "tiny-text")


def saved_tiny_translator(folder: Path) -> Path:
    """A tiny random Marian MT model with ``tiny_tokenizer``, saved where ``AutoModelForSeq2SeqLM`` loads it."""
    from transformers import MarianConfig, MarianMTModel

    tokenizer = tiny_tokenizer()
    torch.manual_seed(0)
    config = MarianConfig(
        vocab_size=len(tokenizer),
        d_model=16,
        encoder_layers=1,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=32,
        decoder_ffn_dim=32,
        max_position_embeddings=64,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.sep_token_id,
        decoder_start_token_id=tokenizer.pad_token_id,
        forced_eos_token_id=tokenizer.sep_token_id,
    )
    MarianMTModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def tiny_xlmr_tokenizer():
    """A sentencepiece-style Unigram tokenizer (XLM-R's special ids: <s> 0, <pad> 1, </s> 2, <unk> 3) over ``WORDS``
    and single characters, built in memory: a vocabulary and tokenization unlike ``tiny_tokenizer``'s."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import XLMRobertaTokenizerFast

    chars = string.ascii_letters + string.digits + ":.,"
    pieces = {"<s>": 0.0, "<pad>": 0.0, "</s>": 0.0, "<unk>": 0.0, **{"▁" + w: -1.0 for w in WORDS}}
    for c in chars:
        pieces.setdefault(c, -5.0)
        pieces.setdefault("▁" + c, -6.0)  # "▁a" stays the word's piece
    vocab = [*pieces.items(), ("▁", -8.0)]
    backend = Tokenizer(models.Unigram(vocab, unk_id=3))
    backend.pre_tokenizer = pre_tokenizers.Metaspace()
    backend.decoder = decoders.Metaspace()
    backend.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", 0), ("</s>", 2)]
    )
    return XLMRobertaTokenizerFast(tokenizer_object=backend, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                                   pad_token="<pad>", cls_token="<s>", sep_token="</s>", mask_token="<unk>")


def saved_tiny_xlmr(folder: Path, hidden: int = 24, layers: int = 2, seed: int = 1) -> Path:
    """A tiny random ``XLMRobertaModel`` and its tokenizer, saved where ``AutoModel`` loads them: a
    student encoder unlike the teacher (another architecture, tokenizer and width)."""
    from transformers import XLMRobertaConfig, XLMRobertaModel

    tokenizer = tiny_xlmr_tokenizer()
    torch.manual_seed(seed)
    config = XLMRobertaConfig(
        vocab_size=len(tokenizer), hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=2,
        intermediate_size=2 * hidden, max_position_embeddings=66, pad_token_id=1, bos_token_id=0, eos_token_id=2,
        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
    )
    XLMRobertaModel(config).eval().save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


# --- the tiny image tower --------------------------------------------------------------------------------------

CLIP_DIM = 16  # the tiny CLIP's projection width: its image features and its text embeddings


def saved_tiny_clip(folder: Path, seed: int = 2) -> Path:
    """A tiny random ``CLIPModel`` (text width 32 with ``tiny_tokenizer``, vision width 24 at 32 px, projection
    ``CLIP_DIM``) and its tokenizer, saved where ``CLIPModel.from_pretrained`` loads it (no image processor file).

    It is also the tests' image tower: ``create_image_encoder(folder)`` (a config's ``image_encoder``) gives its
    vision half, ``CLIP_DIM`` features per image.
    """
    from transformers import CLIPConfig, CLIPModel

    tokenizer = tiny_tokenizer()
    torch.manual_seed(seed)
    config = CLIPConfig(
        text_config=dict(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=64, max_position_embeddings=64, pad_token_id=tokenizer.pad_token_id,
                         bos_token_id=tokenizer.cls_token_id, eos_token_id=tokenizer.sep_token_id),
        vision_config=dict(hidden_size=24, num_hidden_layers=2, num_attention_heads=2, intermediate_size=48,
                           image_size=32, patch_size=8),
        projection_dim=CLIP_DIM,
    )
    CLIPModel(config).eval().save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def tiny_towers(folder: Path) -> dict[str, str]:
    """The config settings ``text_encoder`` and ``image_encoder`` of the tiny towers, saved under ``folder``
    (``tiny-text``, ``tiny-clip``)."""
    return {"text_encoder": str(saved_tiny_text_encoder(folder)),
            "image_encoder": str(saved_tiny_clip(folder / "tiny-clip"))}


# --- tiny training pairs (English captions and their German translations, in order) ------------------------------

CAPTIONS = ["a red apple", "a green tree", "the blue car", "a dog", "a cat", "the house", "a boat", "a bird"]
FOREIGN = ["ein roter apfel", "der baum", "das auto", "der hund", "die katze", "das haus", "das boot", "der vogel"]


# --- small images ----------------------------------------------------------------------------------------------


def solid_png(color=(200, 30, 30, 128), size=(4, 4), mode="RGBA") -> bytes:
    """A tiny one-colour PNG (RGBA by default, half-transparent red)."""
    buf = io.BytesIO()
    Image.new(mode, size, color).save(buf, format="PNG")
    return buf.getvalue()


def png_bytes(colour=(200, 30, 30), size=(40, 24), alpha: bool = True) -> bytes:
    """A small PNG: a coloured disc on a transparent (or white) background."""
    img = Image.new("RGBA", size, (0, 0, 0, 0) if alpha else (255, 255, 255, 255))
    img.paste((*colour, 255), (size[0] // 4, size[1] // 4, 3 * size[0] // 4, 3 * size[1] // 4))
    buffer = io.BytesIO()
    img.save(buffer, format="PNG")
    return buffer.getvalue()


def huge_png(width: int, height: int) -> bytes:
    """A one-colour 1-bit PNG of any size, written row by row (a few KB; PIL would need the pixels in memory)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    packer, row = zlib.compressobj(9), b"\x00" + b"\xff" * ((width + 7) // 8)  # filter byte + white pixels
    data = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1 bit, greyscale
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


# --- a captions folder (``--dataset captions --root DIR``) -----------------------------------------------------


def write_captions(root: Path, rows: list[tuple[str, ...]], header: str | None = "image\tlang\tcaption",
                   images: list[str] | None = None) -> Path:
    """A captions folder: ``root/images/<name>`` as tiny PNGs (``images``: default every name in ``rows``) and
    ``root/captions.tsv`` with ``header`` (None: no header line) and one tab-joined line per row."""
    for name in images if images is not None else sorted({row[0] for row in rows}):
        path = root / "images" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(solid_png(color=(len(name) * 7 % 256, 40, 90, 255)))
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


# (en, de, fr) of the tiny run dataset's things, and (en, de, fr, RGB) of its colours
_THINGS = [("apple", "apfel", "pomme"), ("dog", "hund", "chien"), ("cat", "katze", "chat"), ("house", "haus", "maison"),
           ("tree", "baum", "arbre"), ("car", "auto", "voiture"), ("boat", "boot", "bateau"),
           ("bird", "vogel", "oiseau"), ("fish", "fisch", "poisson"), ("ball", "ball", "balle")]
_COLOURS = [("red", "rot", "rouge", (220, 30, 30)), ("green", "gruen", "vert", (30, 160, 60)),
            ("blue", "blau", "bleu", (30, 60, 200))]


def write_tiny_dataset(root: Path) -> Path:
    """The tiny run dataset: a captions folder with a split column, 31 images ``<colour>-<thing>.png`` (distinct
    pixels) captioned once in English, German and French ("a red apple", "der apfel ist rot", "le pomme est rouge").

    Things 0 and 5 are test images (7), things 1 and 6 val (6), the rest train (18); ``red-apple-2.png``, a second
    red apple, shares the caption group of ``red-apple.png``.
    """
    rows = []
    (root / "images").mkdir(parents=True, exist_ok=True)
    for t, (en, de, fr) in enumerate(_THINGS):
        split = {0: "test", 1: "val"}.get(t % 5, "train")
        for colour_en, colour_de, colour_fr, rgb in _COLOURS:
            names = [f"{colour_en}-{en}.png"] + (["red-apple-2.png"] if (colour_en, en) == ("red", "apple") else [])
            for k, name in enumerate(names):
                colour = tuple(min(255, max(0, v + 8 * t - 40 * k)) for v in rgb)  # distinct per image
                (root / "images" / name).write_bytes(png_bytes(colour))
                rows += [(name, "en", f"a {colour_en} {en}", split), (name, "de", f"der {de} ist {colour_de}", split),
                         (name, "fr", f"le {fr} est {colour_fr}", split)]
    return write_captions(root, rows, header="image\tlang\tcaption\tsplit", images=[])


# --- a stamps package (``tuxpaint-stamps-default`` .deb) -------------------------------------------------------

STAMPS = "usr/share/tuxpaint/stamps/"


def tar_xz(files: dict[str, bytes], compression: str = "xz") -> bytes:
    """A tar archive (xz, gz or "": plain) of ``files`` (paths relative to /), with their folders."""
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


def ar_archive(members: list[tuple[str, bytes]]) -> bytes:
    """An ``ar`` archive (the container format of .deb files)."""
    out = [b"!<arch>\n"]
    for name, data in members:
        header = f"{name:<16}{0:<12}{0:<6}{0:<6}{100644:<8}{len(data):<10}".encode() + b"`\n"
        out += [header, data, b"\n" if len(data) % 2 else b""]
    return b"".join(out)


def make_deb(path: Path, files: dict[str, bytes], package: str = "tuxpaint-stamps-default",
             data_member: str = "data.tar.xz", version: str = "1.0-test") -> Path:
    """Write a .deb holding ``files`` (paths relative to /) whose control file names ``package`` and ``version``."""
    control = f"Package: {package}\nVersion: {version}\nArchitecture: all\nDescription: test\n".encode()
    compression = {"data.tar.xz": "xz", "data.tar.gz": "gz", "data.tar": ""}.get(data_member, "xz")
    path.write_bytes(ar_archive([
        ("debian-binary", b"2.0\n"),
        ("control.tar.xz", tar_xz({"control": control})),
        (data_member, tar_xz(files, compression)),
    ]))
    return path


def stamp_caption(english: str, **translations: str) -> bytes:
    """A stamp's caption file: the English line, then ``<locale>.utf8=<text>`` lines."""
    lines = [english] + [f"{loc}.utf8={text}" for loc, text in translations.items()]
    return ("\n".join(lines) + "\n").encode()


def stamp_files(n_generated: int = 60) -> dict[str, bytes]:
    """The content of the fake stamps package: special cases plus ``n_generated`` ordinary stamps."""
    png = solid_png()
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
        STAMPS + "coins/coin-1.txt": stamp_caption("A coin.", de="Eine Münze.", ga="A coin."),
        STAMPS + "coins/coin-1.png": png,
        STAMPS + "coins/coin-2.txt": stamp_caption("A coin", de="Eine Münze"),
        STAMPS + "coins/coin-2.png": png,
        STAMPS + "coins/coin-2_mirror.png": png,  # PNG without caption file
        STAMPS + "misc/calc.txt": stamp_caption("A calculator. 6x7=42", de="Ein Taschenrechner. 6x7=42"),
        STAMPS + "misc/calc.png": png,
        STAMPS + "misc/vector.txt": stamp_caption("A vector.", de="Ein Vektor."),
        STAMPS + "misc/vector.svg": b"<svg/>",  # SVG-only stamp: skipped
        STAMPS + "misc/lost.txt": stamp_caption("Lost.", de="Verloren."),  # no image at all
        STAMPS + "misc/lost.ogg": b"OggS",
        "usr/share/doc/tuxpaint-stamps-default/copyright": b"GPL-2",
    }
    for i in range(n_generated):
        files[STAMPS + f"generated/thing{i}.txt"] = stamp_caption(f"Thing number {i}.", de=f"Ding Nummer {i}.",
                                                                   fr=f"Chose numéro {i}.")
        files[STAMPS + f"generated/thing{i}.png"] = png
    return files


# --- the teacher's extra sources: OpenClipart .debs (their SVG metadata) and a timm wheel (ImageNet classes) --------

OPENCLIPART_PNG = "usr/share/openclipart/png/"
OPENCLIPART_SVG = "usr/share/openclipart/svg/"


def openclipart_svg(title: str, keywords: list[str], creator: str = "Jane Doe") -> bytes:
    """An OpenClipart SVG with only its metadata: ``title``, ``keywords`` and ``creator``."""
    items = "".join(f"<rdf:li>{k}</rdf:li>" for k in keywords)
    return (f'<svg><metadata><rdf:RDF><cc:Work rdf:about=""><dc:title>{title}</dc:title><dc:subject><rdf:Bag>'
            f"{items}</rdf:Bag></dc:subject><dc:publisher><cc:Agent><dc:title>Open Clip Art Library</dc:title>"
            f"</cc:Agent></dc:publisher><dc:creator><cc:Agent><dc:title>{creator}</dc:title></cc:Agent>"
            "</dc:creator></cc:Work></rdf:RDF></metadata></svg>").encode()


def timm_wheel(path: Path, n: int = IMAGENET_CLASSES, drop_lemma: bool = False) -> Path:
    """A timm wheel at ``path`` holding only the ImageNet class files: ``n`` synsets ``n0000000<i>`` (lemmas
    ``thing <i>, other name``, glosses ``gloss <i>``; ``drop_lemma``: none for class 7) and the licence."""
    synsets = [f"n{i:08d}" for i in range(n)]
    lemmas = "".join(f"{s}\tthing {i}, other name\n" for i, s in enumerate(synsets) if not (drop_lemma and i == 7))
    lemmas += "n99999999\tnot in the 1k\n"
    definitions = "".join(f"{s}\tgloss {i}\n" for i, s in enumerate(synsets))
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("timm/data/_info/imagenet_synsets.txt", "\n".join(synsets) + "\n")
        z.writestr("timm/data/_info/imagenet_synset_to_lemma.txt", lemmas)
        z.writestr("timm/data/_info/imagenet_synset_to_definition.txt", definitions)
        z.writestr("timm-9.9.dist-info/licenses/LICENSE", "Apache License 2.0\n")
    return path


# --- a Multi30k tree -------------------------------------------------------------------------------------------

M30K_SPLITS = {"train": 6, "val": 3, "test_2016_flickr": 4}
M30K_TASK2_SPLITS = {"train": 3, "val": 2, "test_2016": 3}


def _write_text(path: Path, lines: list[str], gz: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = ("\n".join(lines) + "\n").encode()
    if gz:
        path.with_name(path.name + ".gz").write_bytes(gzip.compress(data))
    else:
        path.write_bytes(data)


def write_multi30k(folder: Path) -> tuple[Path, Path]:
    """``(root, images)`` under ``folder``: a Multi30k tree in the official layout and a folder of tiny JPEGs.

    Task 1: train (gz), val and test_2016_flickr (plain) in en/de/fr/cs, test_2017_mscoco (1 line, en/de/fr, no
    image). Task 2: 5 captions x en/de (gz).
    Image ``<split>_<i>.jpg``; caption ``"<lang> caption <i> of <split>"``.
    """
    root, images = folder / "multi30k", folder / "flickr30k-images"
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


# --- the ``data`` command ----------------------------------------------------------------------------------------


def run_data_command(*argv: str) -> int:
    """``python -m optical data ...`` on a parser that knows only the ``data`` command; its exit status."""
    import argparse

    from optical.cli import data as data_cli

    parser = argparse.ArgumentParser()
    data_cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    return args.func(args)


def calibrated_lite0(image_size: int):
    """A random EfficientNet-Lite0 at ``image_size`` px (tiny inputs keep it fast) whose BatchNorm statistics are
    calibrated on one random batch, so its features are O(1), not ~1e-10; in eval mode."""
    from optical.encoders import EfficientNetLite0

    torch.manual_seed(0)
    model = EfficientNetLite0()
    model.image_size = image_size
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.momentum = None  # running stats = this batch's stats
    with torch.no_grad():
        model.train()(torch.rand(8, 3, image_size, image_size) * 4 - 2)
    return model.eval()
