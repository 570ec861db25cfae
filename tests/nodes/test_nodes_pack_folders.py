"""Inside ComfyUI, the folders other packs keep the same weights in (`layout.EXTRA_FOLDERS`) are
registered (without taking over a pack's own registration) and UnisonAuto's discovery uses them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from nodes import comfy_glue


def test_pack_folders_are_registered_and_searched(comfy_env, annotator_models, tmp_path):
    from unison_runtime import layout
    from unison_runtime.sources import find_models

    models = Path(comfy_env.models_dir)
    elsewhere = tmp_path / "kijai_sam2"
    comfy_env.folder_names_and_paths["sam2"] = ([str(elsewhere)], {".safetensors"})  # another pack was first
    comfy_glue.register_model_folders()
    paths = comfy_env.folder_names_and_paths
    for name in (*layout.EXTRA_FOLDERS, layout.BERT_FOLDER):
        assert str(models / name) in paths[name][0]
    assert paths["sam2"][0][0] == str(elsewhere) and paths["sam2"][1] == {".safetensors"}

    qwen = models / "LLM" / "Qwen-VL" / "Qwen2.5-VL-3B-Instruct"
    qwen.mkdir(parents=True)
    (qwen / "config.json").write_text(json.dumps({"model_type": "qwen2_5_vl"}))
    shutil.copytree(annotator_models / "sam2", elsewhere)
    found = find_models(comfy_glue.default_models_dir(), folder_roots=comfy_glue.folder_roots_map())
    assert found.planner.model_dir == qwen and found.planner.mode == "instruct"
    assert Path(found.annotators.sam2).parent == elsewhere and found.annotators.grounding_dino is None
