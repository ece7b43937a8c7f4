"""The vision tower of any ``CLIPModel`` checkpoint (HF name or folder) as an image tower."""

from __future__ import annotations

from pathlib import Path

from PIL import Image
from torch import Tensor
from transformers import CLIPConfig, CLIPImageProcessorPil, CLIPVisionModelWithProjection

from optical.encoders._image_tower import ImageEncoder
from optical.encoders._text_tower import quiet_transformers


class CLIPImageEncoder(ImageEncoder):
    """CLIP's vision transformer and ``visual_projection``: ``forward`` returns ``image_embeds`` (B, projection_dim).

    Preprocessing is the checkpoint's own ``CLIPImageProcessor`` (resize the short side, centre crop, CLIP's
    mean and std), so features match the ones CLIP was trained on.
    """

    def __init__(self, model: CLIPVisionModelWithProjection, processor: CLIPImageProcessorPil, name: str):
        super().__init__()
        self.model = model
        self.processor = processor
        self.name = name
        self.feature_dim = model.config.projection_dim
        self.image_size = model.config.image_size
        self.mean = tuple(processor.image_mean)
        self.std = tuple(processor.image_std)

    @classmethod
    def from_pretrained(cls, name_or_path: str | Path) -> CLIPImageEncoder:
        """The vision half of a ``CLIPModel`` checkpoint (the text half's weights are not loaded), in eval mode."""
        config = CLIPConfig.from_pretrained(name_or_path)
        vision_config = config.vision_config
        vision_config.projection_dim = config.projection_dim  # stored on the CLIPConfig, not its vision part
        with quiet_transformers():  # the text tower's weights are expected to be unused
            model = CLIPVisionModelWithProjection.from_pretrained(name_or_path, config=vision_config)
        try:
            processor = CLIPImageProcessorPil.from_pretrained(name_or_path)
        except OSError:  # no preprocessor_config.json: CLIP's defaults at the model's resolution
            size = vision_config.image_size
            processor = CLIPImageProcessorPil(size={"shortest_edge": size}, crop_size={"height": size, "width": size})
        return cls(model.eval(), processor, name=str(name_or_path))

    def preprocess(self, img: Image.Image) -> Tensor:
        """One RGB image -> ``(3, image_size, image_size)``, by the checkpoint's image processor."""
        return self.processor(images=img, return_tensors="pt")["pixel_values"][0]

    def forward(self, pixels: Tensor) -> Tensor:
        """``pixels`` (B, 3, S, S) -> projected image embeddings (B, projection_dim), not normalised."""
        return self.model(pixel_values=pixels).image_embeds

    def regions(self, pixels: Tensor) -> Tensor:
        """``pixels`` (B, 3, S, S) -> the patch tokens' last states through the vision tower's final layer norm and
        ``visual_projection``: (B, (S/patch)**2, projection_dim), row-major (the class token is left out), in the
        space of ``forward``'s embeddings (FILIP's image tokens)."""
        hidden = self.model.vision_model(pixel_values=pixels).last_hidden_state[:, 1:]  # (B, P, H), no class token
        return self.model.visual_projection(self.model.vision_model.post_layernorm(hidden))
