"""The tiny annotator models: written in the real formats, small, deterministic, reloadable."""

from __future__ import annotations

import json
import time

from unison_runtime import layout
from unison_runtime.demo_models import annotators


def test_files_and_formats(annotator_models):
    gdino = annotator_models / layout.GROUNDING_DINO
    sam2 = annotator_models / layout.SAM2
    for folder, model_type in ((gdino, "grounding-dino"), (sam2, "sam2_video")):
        assert json.loads((folder / "config.json").read_text())["model_type"] == model_type
        assert (folder / "model.safetensors").is_file()
        # transformers 5 writes processor_config.json, 4.x (and the released folders) preprocessor_config.json
        assert (folder / "processor_config.json").is_file() or (folder / "preprocessor_config.json").is_file()
    assert (gdino / "tokenizer.json").is_file()
    assert (annotator_models / layout.U2NET).is_file()


def test_each_reloads_with_transformers_and_torch(annotator_models):
    import torch
    from transformers import (AutoProcessor, GroundingDinoForObjectDetection, Sam2VideoModel)

    gdino = GroundingDinoForObjectDetection.from_pretrained(annotator_models / layout.GROUNDING_DINO,
                                                            local_files_only=True)
    processor = AutoProcessor.from_pretrained(annotator_models / layout.GROUNDING_DINO, local_files_only=True)
    ids = processor.tokenizer("a red car.")["input_ids"]
    assert processor.tokenizer.unk_token_id not in ids  # the local vocabulary covers test prompts
    assert gdino.config.text_config.vocab_size == processor.tokenizer.vocab_size
    sam2 = Sam2VideoModel.from_pretrained(annotator_models / layout.SAM2, local_files_only=True)
    assert sam2.config.image_size == annotators.SAM2_IMAGE_SIZE
    state = torch.load(annotator_models / layout.U2NET, weights_only=True)
    assert "stage1.rebnconvin.conv_s1.weight" in state and "outconv.weight" in state


def test_build_is_small_fast_and_deterministic(annotator_models, tmp_path):
    start = time.perf_counter()
    files = annotators.build(tmp_path, 0)
    seconds = time.perf_counter() - start
    assert seconds < 15
    assert sum(f.stat().st_size for f in files) < 15 * 1024 * 1024
    for path in files:
        twin = annotator_models / path.relative_to(tmp_path)
        assert twin.read_bytes() == path.read_bytes(), f"{path.relative_to(tmp_path)} differs between builds"
