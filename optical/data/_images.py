"""Opening images as RGB, with transparency composited onto white."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from optical.errors import InputError


def open_rgb(path: str | Path) -> Image.Image:
    """Open an image as RGB; transparent pixels (alpha, or a palette's transparent colour) become white.

    Raises ``InputError`` naming the file when it is missing or cannot be decoded.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("image not found", path)
    try:
        with Image.open(path) as img:
            img.load()
            return to_rgb(img)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        raise InputError(f"cannot decode image ({err})", path) from None


def to_rgb(img: Image.Image) -> Image.Image:
    """An opened image as RGB; transparent pixels (alpha, or a palette's transparent colour) become white."""
    if img.has_transparency_data:
        rgba = img.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        canvas.alpha_composite(rgba)
        return canvas.convert("RGB")
    return img.convert("RGB")
