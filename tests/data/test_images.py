import pytest
from PIL import Image

from optical.data import open_rgb
from optical.errors import InputError


def test_alpha_is_composited_on_white(tmp_path):
    img = Image.new("RGBA", (2, 1), (0, 0, 0, 0))
    img.putpixel((1, 0), (255, 0, 0, 255))
    img.save(tmp_path / "a.png")
    out = open_rgb(tmp_path / "a.png")
    assert out.mode == "RGB"
    assert out.getpixel((0, 0)) == (255, 255, 255)
    assert out.getpixel((1, 0)) == (255, 0, 0)


def test_half_transparent_black_becomes_grey(tmp_path):
    Image.new("LA", (1, 1), (0, 128)).save(tmp_path / "la.png")
    assert open_rgb(tmp_path / "la.png").getpixel((0, 0)) in {(v, v, v) for v in range(125, 131)}


def test_palette_transparency(tmp_path):
    img = Image.new("P", (1, 1), 0)
    img.putpalette([0, 0, 0, 10, 20, 30])
    img.info["transparency"] = 0
    img.save(tmp_path / "p.png", transparency=0)
    assert open_rgb(tmp_path / "p.png").getpixel((0, 0)) == (255, 255, 255)


def test_opaque_image_is_unchanged(tmp_path):
    Image.new("RGB", (1, 1), (1, 2, 3)).save(tmp_path / "x.png")
    assert open_rgb(tmp_path / "x.png").getpixel((0, 0)) == (1, 2, 3)


def test_missing_image_names_the_file(tmp_path):
    with pytest.raises(InputError, match="nope.png: image not found"):
        open_rgb(tmp_path / "nope.png")


@pytest.mark.parametrize("content", [b"not an image at all", b"\x89PNG\r\n\x1a\n" + b"\0" * 30])
def test_corrupt_image_names_the_file(tmp_path, content):
    """Garbage, and a PNG signature with nothing valid behind it."""
    (tmp_path / "bad.jpg").write_bytes(content)
    with pytest.raises(InputError, match="bad.jpg: cannot decode image"):
        open_rgb(tmp_path / "bad.jpg")


def test_truncated_image_names_the_file(tmp_path):
    Image.effect_noise((64, 64), 50).save(tmp_path / "full.png")
    (tmp_path / "cut.png").write_bytes((tmp_path / "full.png").read_bytes()[:200])
    with pytest.raises(InputError, match="cut.png: cannot decode image"):
        open_rgb(tmp_path / "cut.png")
