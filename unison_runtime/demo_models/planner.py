"""Tiny Qwen2.5-VL planners in the three on-disk layouts users bring (DESIGN §7).

- `layout.PLANNER_BASE`: a stock instruct folder as Qwen ships it (flat v4-style config.json with
  `tie_word_embeddings: true`, no `lm_head.weight` in the file, keys `model.*` / `visual.*`,
  byte-level BPE tokenizer with the Qwen special tokens, chat template, image/video processors).
- `layout.PLANNER_ADAPTER`: a peft LoRA folder as LLaMA-Factory saves it after adding the 14
  Unison tokens: LoRA on every linear of the language model, the resized `embed_tokens` and
  `lm_head` as `modules_to_save`, and the tokenizer with the added tokens.
- `layout.PLANNER_MERGED`: base + adapter merged; config still says `tie_word_embeddings: true`
  while the file holds a distinct `lm_head.weight` (the case the reference asks users to hand-fix).

Everything is seeded and small (a few hundred KB per folder); built in about a second.
"""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

from .. import layout
from ..planner.constrained import UNISON_TOKENS  # the 14 tokens, in LLaMA-Factory's order

# Qwen2.5's special tokens, in the order of the real vocabulary (ids follow the BPE vocab).
QWEN_SPECIAL_TOKENS = (
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>",
    "<|box_start|>", "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>",
    "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>",
)
QWEN_PLAIN_ADDED = (
    "<tool_call>", "</tool_call>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>",
    "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>",
)

# Qwen2.5-VL-Instruct's chat template (vision placeholders for image/video content parts).
CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}"
    "{% if add_vision_id %}Picture {{ image_count.value }}: {% endif %}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}"
    "{% set video_count.value = video_count.value + 1 %}"
    "{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}"
    "<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

BPE_VOCAB_SIZE = 640
HIDDEN = 64
# Small pixel budget so that test images/videos become a handful of vision tokens.
MIN_PIXELS = 28 * 28 * 4
MAX_PIXELS = 28 * 28 * 16


def build(out_dir: Path, seed: int) -> list[Path]:
    """Write the base, adapter and merged planner folders under `out_dir`; return the files."""
    with warnings.catch_warnings():  # peft's tied-embedding notices are the point here
        warnings.simplefilter("ignore")
        return _build(Path(out_dir), seed)


def _build(out_dir: Path, seed: int) -> list[Path]:
    base_dir, adapter_dir, merged_dir = (out_dir / p for p in
                                         (layout.PLANNER_BASE, layout.PLANNER_ADAPTER, layout.PLANNER_MERGED))
    for folder in (base_dir, adapter_dir, merged_dir):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)

    tokenizer = build_tokenizer()
    base_config = flat_config(tokenizer, vocab_size=len(tokenizer))
    base = _random_model(base_config, seed)
    _save_model_folder(base, base_config, tokenizer, base_dir, with_lm_head=False)

    unison_tokenizer = build_tokenizer(with_unison_tokens=True)
    peft_model = _train_like_adapter(base, unison_tokenizer, seed)
    _save_adapter(peft_model, unison_tokenizer, adapter_dir)

    merged = peft_model.merge_and_unload()
    merged_config = flat_config(unison_tokenizer, vocab_size=len(unison_tokenizer))
    # The reference's quirk: the merge keeps `tie_word_embeddings: true` from the base config.
    _save_model_folder(merged, merged_config, unison_tokenizer, merged_dir, with_lm_head=True)
    return sorted(p for d in (base_dir, adapter_dir, merged_dir) for p in d.rglob("*") if p.is_file())


# -- tokenizer ---------------------------------------------------------------------------------
def corpus_lines() -> list[str]:
    """A few hundred deterministic lines of request-like and answer-like English."""
    subjects = ["a cat", "a dog", "the city", "a red car", "two people", "a forest", "the ocean",
                "a robot", "an old man", "a bird", "the mountains", "a cup of coffee"]
    verbs = ["Generate an image of", "Make a video of", "Describe", "Edit the picture so it shows",
             "Create a 3 second clip of", "What is in", "Draw", "Animate", "Show me", "Explain"]
    tails = ["at sunset.", "in 480P.", "in 16:9.", "vertical, 4s long.", "with 120 frames.",
             "using this pose.", "like the reference image.", "in the first frame.", "please?",
             "in the rain.", "on a white background.", "with high detail."]
    answers = ["The image shows {s} {t}", "This video contains {s} {t}", "Sure, here is {s} {t}",
               "I think {s} is shown {t}"]
    lines = []
    for i, s in enumerate(subjects):
        for j, v in enumerate(verbs):
            lines.append(f"{v} {s} {tails[(i + j) % len(tails)]}")
        for k, a in enumerate(answers):
            lines.append(a.format(s=s, t=tails[(i + 3 * k) % len(tails)]))
    lines += [f"{w},{h} {n} frames 0 1 2 3 4 5 6 7 8 9" for w, h, n in
              [(832, 480, 81), (640, 480, 72), (1280, 720, 96), (720, 1280, 120)]]
    lines += ["You are a helpful assistant.", "system user assistant", "{\"task\": \"text_to_image\"}"]
    return lines


def build_tokenizer(with_unison_tokens: bool = False):
    """A byte-level BPE with Qwen2's pre-tokenizer (single digits), Qwen specials, chat template."""
    import transformers
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX

    raw = Tokenizer(models.BPE())
    raw.normalizer = normalizers.NFC()
    raw.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    raw.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=BPE_VOCAB_SIZE, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    raw.train_from_iterator(corpus_lines(), trainer=trainer)
    # Added tokens in the real vocabulary's order (specials, plain, then LLaMA-Factory's
    # `new_special_tokens`), built here so that the ids do not depend on the transformers version.
    specials = QWEN_SPECIAL_TOKENS + (UNISON_TOKENS if with_unison_tokens else ())
    raw.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in QWEN_SPECIAL_TOKENS])
    raw.add_tokens([AddedToken(t, normalized=False) for t in QWEN_PLAIN_ADDED])
    if with_unison_tokens:
        raw.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in UNISON_TOKENS])
    # transformers 4.x names the tokenizers-backed class Qwen2TokenizerFast; 5.x folds it into Qwen2Tokenizer.
    tokenizer_class = getattr(transformers, "Qwen2TokenizerFast", None) or transformers.Qwen2Tokenizer
    tokenizer = tokenizer_class(tokenizer_object=raw, errors="replace", model_max_length=32768,
                                unk_token=None, bos_token=None, eos_token="<|im_end|>", pad_token="<|endoftext|>")
    tokenizer.add_special_tokens({"additional_special_tokens": list(specials)})  # both versions read this key
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def build_processor(tokenizer):
    from transformers import Qwen2VLImageProcessor, Qwen2VLVideoProcessor, Qwen2_5_VLProcessor

    pixels = {"min_pixels": MIN_PIXELS, "max_pixels": MAX_PIXELS}
    return Qwen2_5_VLProcessor(image_processor=Qwen2VLImageProcessor(**pixels),
                               video_processor=Qwen2VLVideoProcessor(**pixels),
                               tokenizer=tokenizer, chat_template=CHAT_TEMPLATE)


# -- model -------------------------------------------------------------------------------------
def flat_config(tokenizer, vocab_size: int) -> dict:
    """Qwen2.5-VL-3B-Instruct's config.json, shrunk (same flat v4 layout and keys)."""
    ids = tokenizer.convert_tokens_to_ids
    return {
        "architectures": ["Qwen2_5_VLForConditionalGeneration"],
        "attention_dropout": 0.0,
        "bos_token_id": ids("<|endoftext|>"),
        "eos_token_id": ids("<|im_end|>"),
        "vision_start_token_id": ids("<|vision_start|>"),
        "vision_end_token_id": ids("<|vision_end|>"),
        "vision_token_id": ids("<|vision_pad|>"),
        "image_token_id": ids("<|image_pad|>"),
        "video_token_id": ids("<|video_pad|>"),
        "hidden_act": "silu",
        "hidden_size": HIDDEN,
        "initializer_range": 0.02,
        "intermediate_size": 128,
        "max_position_embeddings": 4096,
        "max_window_layers": 2,
        "model_type": "qwen2_5_vl",
        "num_attention_heads": 4,
        "num_hidden_layers": 2,
        "num_key_value_heads": 2,
        "rms_norm_eps": 1e-06,
        "rope_theta": 1000000.0,
        "sliding_window": 4096,
        "tie_word_embeddings": True,
        "torch_dtype": "float32",
        "transformers_version": "4.49.0",
        "use_cache": True,
        "use_sliding_window": False,
        "vision_config": {
            "depth": 2, "hidden_act": "silu", "hidden_size": 32, "intermediate_size": 64,
            "num_heads": 2, "in_chans": 3, "out_hidden_size": HIDDEN, "patch_size": 14,
            "spatial_merge_size": 2, "spatial_patch_size": 14, "window_size": 56,
            "fullatt_block_indexes": [1], "tokens_per_second": 2, "temporal_patch_size": 2,
        },
        "rope_scaling": {"type": "mrope", "mrope_section": [2, 3, 3]},  # sums to head_dim/2 = 8
        "vocab_size": vocab_size,
    }


def _random_model(config_dict: dict, seed: int):
    import torch
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    torch.manual_seed(seed)
    config = Qwen2_5_VLConfig(**{k: v for k, v in config_dict.items()
                                 if k not in ("architectures", "transformers_version", "model_type")})
    model = Qwen2_5_VLForConditionalGeneration(config).eval()
    with torch.no_grad():  # larger than the default init so random outputs are not all alike
        for name, param in model.named_parameters():
            if param.dim() >= 2:
                param.normal_(0.0, 0.2)
    return model


def legacy_key(key: str) -> str:
    """transformers-5 module name -> the key released Qwen2.5-VL checkpoints use on disk."""
    if key.startswith("model.language_model."):
        return "model." + key[len("model.language_model."):]
    if key.startswith("model.visual."):
        return key[len("model."):]
    return key


def _save_model_folder(model, config_dict: dict, tokenizer, folder: Path, with_lm_head: bool) -> None:
    from safetensors.torch import save_file

    state = {legacy_key(k): v.detach().contiguous().clone() for k, v in model.state_dict().items()}
    if not with_lm_head:  # a tied checkpoint stores the embedding once
        state.pop("lm_head.weight", None)
    save_file(state, str(folder / "model.safetensors"), metadata={"format": "pt"})
    (folder / "config.json").write_text(json.dumps(config_dict, indent=2))
    (folder / "generation_config.json").write_text(json.dumps({
        "bos_token_id": config_dict["bos_token_id"], "pad_token_id": config_dict["bos_token_id"],
        "eos_token_id": [config_dict["eos_token_id"], config_dict["bos_token_id"]],
        "do_sample": True, "repetition_penalty": 1.05, "temperature": 0.1, "top_p": 0.001, "top_k": 1,
    }, indent=2))
    build_processor(tokenizer).save_pretrained(str(folder))


# -- adapter -----------------------------------------------------------------------------------
LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def _train_like_adapter(base, unison_tokenizer, seed: int):
    """Resize to the Unison vocabulary and wrap in a LoRA whose weights look trained."""
    import copy

    import torch
    from peft import LoraConfig, get_peft_model

    model = copy.deepcopy(base)
    model.resize_token_embeddings(len(unison_tokenizer), mean_resizing=False)
    # LoRA targets only the language model (LLaMA-Factory freezes the vision tower).
    lora = LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, task_type="CAUSAL_LM",
                      target_modules=r"^(?!.*visual).*(?:" + "|".join(LORA_TARGETS) + ")",
                      modules_to_save=["embed_tokens", "lm_head"])
    peft_model = get_peft_model(model, lora)
    generator = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_" in name or "modules_to_save" in name:
                param.add_(torch.randn(param.shape, generator=generator) * 0.1)
    return peft_model.eval()


def _save_adapter(peft_model, tokenizer, folder: Path) -> None:
    from safetensors.torch import load_file, save_file

    peft_model.save_pretrained(str(folder))
    # Rewrite the keys as the released adapter has them (trained before transformers moved the
    # language model under `model.language_model`); peft converts them back at load time.
    path = folder / "adapter_model.safetensors"
    prefix = "base_model.model."
    state = {prefix + legacy_key(k[len(prefix):]): v for k, v in load_file(str(path)).items()}
    save_file(state, str(path), metadata={"format": "pt"})
    build_processor(tokenizer).save_pretrained(str(folder))
