"""The tiny demo planners: three folders in the layouts users bring, each reloadable by the
libraries themselves (transformers / peft), deterministic and small."""

from __future__ import annotations

import hashlib
import json

import pytest

from unison_runtime import layout
from unison_runtime.demo_models import planner as demo_planner

torch = pytest.importorskip("torch")


def _safetensors_keys(path):
    from safetensors import safe_open

    with safe_open(str(path), "pt") as handle:
        return {k: handle.get_tensor(k) for k in handle.keys()}


def test_folders_are_small_and_complete(planner_models):
    total = 0
    for rel in (layout.PLANNER_BASE, layout.PLANNER_ADAPTER, layout.PLANNER_MERGED):
        files = [p for p in (planner_models / rel).rglob("*") if p.is_file()]
        total += sum(p.stat().st_size for p in files)
        names = {p.name for p in files}
        assert "tokenizer.json" in names and "chat_template.jinja" in names
    assert total < 15 * 2**20
    merged = {p.name for p in (planner_models / layout.PLANNER_MERGED).iterdir()}
    assert {"config.json", "model.safetensors"} <= merged
    # transformers 5 saves the processor as processor_config.json, 4.x (and the real release) as
    # preprocessor_config.json
    assert {"processor_config.json", "preprocessor_config.json"} & merged
    assert {"adapter_config.json", "adapter_model.safetensors"} <= set(
        p.name for p in (planner_models / layout.PLANNER_ADAPTER).iterdir())


def test_build_is_deterministic(planner_models, tmp_path):
    demo_planner.build(tmp_path, 0)
    for rel in (f"{layout.PLANNER_MERGED}/model.safetensors", f"{layout.PLANNER_ADAPTER}/adapter_model.safetensors",
                f"{layout.PLANNER_BASE}/tokenizer.json"):
        digests = {hashlib.sha256((root / rel).read_bytes()).hexdigest() for root in (planner_models, tmp_path)}
        assert len(digests) == 1, rel


def test_base_is_a_stock_tied_instruct_model(planner_models):
    from transformers import AutoProcessor, Qwen2_5_VLForConditionalGeneration

    folder = planner_models / layout.PLANNER_BASE
    config = json.loads((folder / "config.json").read_text())
    assert config["model_type"] == "qwen2_5_vl" and config["tie_word_embeddings"] is True
    tensors = _safetensors_keys(folder / "model.safetensors")
    assert "lm_head.weight" not in tensors and "model.embed_tokens.weight" in tensors  # released key names
    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(str(folder), local_files_only=True)
    assert torch.equal(model.lm_head.weight, tensors["model.embed_tokens.weight"])
    processor = AutoProcessor.from_pretrained(str(folder), local_files_only=True)
    assert "<CFI>" not in processor.tokenizer.get_vocab()
    text = processor.apply_chat_template([{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "hi"}]}],
                                         tokenize=False, add_generation_prompt=True)
    assert "<|vision_start|><|image_pad|><|vision_end|>hi<|im_end|>" in text
    assert text.endswith("<|im_start|>assistant\n")


def test_adapter_is_a_lora_with_the_unison_tokens(planner_models):
    from peft import PeftConfig
    from transformers import AutoTokenizer

    folder = planner_models / layout.PLANNER_ADAPTER
    config = PeftConfig.from_pretrained(str(folder))
    assert config.peft_type == "LORA" and set(config.modules_to_save) == {"embed_tokens", "lm_head"}
    tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    ids = [tokenizer.encode(t, add_special_tokens=False) for t in demo_planner.UNISON_TOKENS]
    assert all(len(i) == 1 for i in ids) and len({i[0] for i in ids}) == 14
    tensors = _safetensors_keys(folder / "adapter_model.safetensors")
    embed = tensors["base_model.model.model.embed_tokens.weight"]
    assert embed.shape[0] == len(tokenizer)
    assert not torch.equal(embed, tensors["base_model.model.lm_head.weight"])
    lora_b = [v for k, v in tensors.items() if "lora_B" in k]
    assert lora_b and all(v.abs().sum() > 0 for v in lora_b)  # "trained": merging changes weights


def test_merged_has_the_untied_head_quirk(planner_models):
    from transformers import AutoProcessor, Qwen2_5_VLForConditionalGeneration

    folder = planner_models / layout.PLANNER_MERGED
    assert json.loads((folder / "config.json").read_text())["tie_word_embeddings"] is True
    tensors = _safetensors_keys(folder / "model.safetensors")
    assert not torch.equal(tensors["lm_head.weight"], tensors["model.embed_tokens.weight"])
    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(str(folder), local_files_only=True,
                                                               tie_word_embeddings=False)
    assert torch.equal(model.lm_head.weight, tensors["lm_head.weight"])
    processor = AutoProcessor.from_pretrained(str(folder), local_files_only=True)
    assert model.config.text_config.vocab_size == len(processor.tokenizer)
    assert processor.tokenizer.convert_tokens_to_ids("<|image_pad|>") == model.config.image_token_id


def test_merged_equals_base_plus_adapter(planner_models):
    from peft import PeftModel
    from transformers import AutoTokenizer, Qwen2_5_VLForConditionalGeneration

    base = Qwen2_5_VLForConditionalGeneration.from_pretrained(
        str(planner_models / layout.PLANNER_BASE), local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(str(planner_models / layout.PLANNER_ADAPTER))
    base.resize_token_embeddings(len(tokenizer), mean_resizing=False)
    tensors = _safetensors_keys(planner_models / layout.PLANNER_MERGED / "model.safetensors")
    # peft's own loader (key conversion for the released naming) applied by hand, as qwen.py does.
    from unison_runtime.planner.qwen import apply_adapter

    merged = apply_adapter(base, planner_models / layout.PLANNER_ADAPTER, len(tokenizer), merge=True)
    assert not isinstance(merged, PeftModel)
    q = merged.model.language_model.layers[0].self_attn.q_proj.weight
    assert torch.allclose(q, tensors["model.layers.0.self_attn.q_proj.weight"], atol=1e-6)
    assert torch.allclose(merged.lm_head.weight, tensors["lm_head.weight"])
