"""The loaded annotator models as the model manager caches them (shared by the Hugging Face
loaders in `segmentation` and the original-checkpoint converters in `original_checkpoints`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class Detector:
    """A loaded GroundingDINO: model plus its processor (image processor + BERT tokenizer)."""

    model: Any
    processor: Any

    def torch_modules(self) -> dict:
        return {"model": self.model}


@dataclass
class Segmenter:
    """A loaded SAM2: `video` True for `Sam2VideoModel` (memory tracking), False for `Sam2Model`."""

    model: Any
    processor: Any
    video: bool

    def torch_modules(self) -> dict:
        return {"model": self.model}
