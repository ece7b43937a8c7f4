"""The teacher's training pairs: sources in order, evaluation images left out (same file, near copy, caption),
ImageNet prototype pairs (shapes, the classifier head's class order), and a tiny run (the sources' validation in
the config: tests/config/test_teacher_sources.py)."""

import io
import json

import pytest
import torch
from PIL import Image, ImageDraw

from optical.data import (
    caption_key,
    load_openclipart,
    load_stamps,
    prepare_imagenet_classes,
    prepare_openclipart,
    prepare_stamps,
    split_of,
)
from optical.encoders import create_image_encoder
from optical.config import ExperimentConfig
from optical.experiment import run_experiment
from optical.experiment._data import load_experiment_data
from optical.experiment._teacher_data import prototype_features, teacher_pairs
from optical.store import create_run
from tests.fakes import (OPENCLIPART_PNG, OPENCLIPART_SVG, make_deb, openclipart_svg, saved_tiny_text_encoder,
                         solid_png, stamp_files, timm_wheel)


def _drawing(color: tuple[int, int, int], shape: str) -> bytes:
    image = Image.new("RGB", (32, 32), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    (draw.ellipse if shape == "ellipse" else draw.rectangle)([4, 4, 28, 28], fill=color)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _in_train(caption: str) -> str:
    """``caption`` plus a keyword that puts it in the train split (splits go by the SHA-1 of the caption)."""
    for i in range(100):
        if split_of(caption_key(f"{caption}, tag{'x' * i}")) == "train":
            return f"tag{'x' * i}"
    raise AssertionError("no train keyword found")


@pytest.fixture
def setup(request, tmp_path, monkeypatch):
    """(config, data, image encoder): tiny stamps, OpenClipart and ImageNet classes prepared; the image tower is
    efficientnet-lite0 unless a test parametrizes it (indirect)."""
    monkeypatch.setenv("OPTICAL_CACHE", str(tmp_path / "cache"))
    prepare_stamps(make_deb(tmp_path / "stamps.deb", stamp_files(40)), progress=False)
    test_caption = load_stamps().split("test")[0].captions["en"]
    drawings = {  # title -> png: the stamps' own bytes, the same drawing at 8 px, a test caption, two new ones
        "Pink square": solid_png(),
        "Pink tile": solid_png(size=(8, 8)),
        caption_key(test_caption): _drawing((0, 0, 250), "rect"),
        "Green ball": _drawing((0, 200, 0), "ellipse"),
        "Purple box": _drawing((200, 0, 200), "rect"),
    }
    stems = {title: "drawings/" + title.lower().replace(" ", "_") for title in drawings}  # file name = title
    svgs = {f"{OPENCLIPART_SVG}{stems[title]}.svg": openclipart_svg(title, [_in_train(title)]) for title in drawings}
    pngs = {f"{OPENCLIPART_PNG}{stems[title]}.png": data for title, data in drawings.items()}
    prepare_openclipart(make_deb(tmp_path / "png.deb", pngs, package="openclipart-png"),
                        make_deb(tmp_path / "svg.deb", svgs, package="openclipart-svg"), progress=False)
    assert {s.split for s in load_openclipart().stamps} == {"train"}
    prepare_imagenet_classes(timm_wheel(tmp_path / "timm-9.9-py3-none-any.whl"), progress=False)
    config = ExperimentConfig(languages=["de"], text_encoder=str(saved_tiny_text_encoder(tmp_path)), embed_dim=8,
                              bootstrap=20, plan_samples=1, teacher_train_layers=-1, student_train_layers=-1,
                              methods=["zero-shot"])
    config.teacher.epochs, config.teacher.batch_size = 1, 16
    config.image_encoder = getattr(request, "param", "efficientnet-lite0")
    encoder = create_image_encoder(config.image_encoder)
    return config, load_experiment_data(config, encoder, progress=False), encoder


def test_evaluation_images_stay_out(setup):
    config, data, encoder = setup
    config.teacher_sources = ["dataset", "openclipart"]
    pairs = teacher_pairs(config, data, encoder, progress=False)
    n_own = len(data.train.captions)
    assert pairs.captions[:n_own] == data.train.captions
    assert [c.split(",")[0] for c in pairs.captions[n_own:]] == ["Green ball", "Purple box"]
    assert pairs.counts == {"dataset": n_own, "openclipart": 2}
    assert pairs.excluded == {"same_image_file": 1, "near_copy_image": 1, "evaluation_caption": 1}
    assert pairs.features.shape == (n_own + 2, 1280) and len(pairs.groups) == n_own + 2
    assert torch.equal(pairs.features[:n_own], data.train.caption_features())


@pytest.mark.parametrize("setup", ["efficientnet-lite0", "efficientnet-lite2"], indirect=True)
def test_prototype_pairs_follow_the_classifier_head(setup):
    config, data, encoder = setup
    config.teacher_sources = ["imagenet-prototypes", "dataset"]
    pairs = teacher_pairs(config, data, encoder, progress=False)
    assert encoder.name == config.image_encoder  # the prototypes below are rows of this tower's head
    assert pairs.captions[:1000] == [f"a photo of a thing {i}" for i in range(1000)]  # first lemma, label order
    assert pairs.features.shape == (1000 + len(data.train.captions), 1280)
    prototypes = pairs.features[:1000]
    assert torch.equal(prototypes, prototype_features(encoder.classifier, data.train.features))
    assert pairs.groups[:2] == ["imagenet:n00000000", "imagenet:n00000001"]
    config.prototype_template, config.prototype_synonyms = "a drawing of a {lemma}: {definition}", True
    config.prototype_scale = 2.0
    pairs = teacher_pairs(config, data, encoder, progress=False)
    assert pairs.captions[10:12] == ["a drawing of a thing 5: gloss 5", "a drawing of a other name: gloss 5"]
    assert pairs.groups[10] == pairs.groups[11] and torch.equal(pairs.features[10], pairs.features[11])
    assert torch.equal(pairs.features[10], prototype_features(encoder.classifier, data.train.features, 2.0)[5])


def test_prototype_c_is_where_class_c_wins():
    """Each prototype lies among real features (their mean, their spread) on the side of its own class."""
    encoder = create_image_encoder("efficientnet-lite0")
    generator = torch.Generator().manual_seed(0)
    images = [_drawing(tuple(torch.randint(0, 255, (3,), generator=generator).tolist()), shape)
              for shape in ("ellipse", "rect") for _ in range(4)]
    pixels = torch.stack([encoder.preprocess(Image.open(io.BytesIO(b)).convert("RGB")) for b in images])
    with torch.no_grad():
        reference = encoder(pixels)  # (8, 1280)
        prototypes = prototype_features(encoder.classifier, reference)  # (1000, 1280)
        top1 = encoder.classifier(prototypes).argmax(dim=1)
    assert prototypes.shape == (1000, 1280)
    assert torch.equal(top1, torch.arange(1000))  # row c of the head is class c: its logit is the highest
    spread = (reference - reference.mean(0)).norm(dim=1).mean()
    assert torch.allclose((prototypes - reference.mean(0)).norm(dim=1), spread.expand(1000), rtol=1e-4)


def test_run_records_its_teacher_data(setup):
    config, _, _ = setup
    config.teacher_sources = ["dataset", "openclipart", "imagenet-prototypes"]
    run = create_run(config.to_dict(), "sources")
    run_experiment(config, run, progress=lambda f, m: None)
    record = json.loads((run.path / "teacher_data.json").read_text())
    assert record["counts"]["openclipart"] == 2 and record["counts"]["imagenet-prototypes"] == 1000
    assert json.loads((run.path / "config.json").read_text())["teacher_sources"] == config.teacher_sources
