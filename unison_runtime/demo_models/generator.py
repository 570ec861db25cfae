"""A tiny Wan2.1-VACE generator written in the three on-disk layouts users bring.

One set of seeded random weights, saved as:

1. `layout.GENERATOR_DIFFUSERS` — the `Wan2.1-VACE-1.3B-diffusers` folder (model_index.json,
   transformer/, vae/, text_encoder/, tokenizer/, scheduler/).
2. `layout.GENERATOR_NATIVE` — Wan's native release: `diffusion_pytorch_model.safetensors` and
   `config.json` (native key and config names), `Wan2.1_VAE.pth` and
   `models_t5_umt5-xxl-enc-bf16.pth` (torch.save'd state dicts, Wan's own key names), and the
   `google/umt5-xxl/` tokenizer folder.
3. ComfyUI's repackaged files under `comfyui/`: `diffusion_models/wan2.1_vace_1.3B_fp16.safetensors`
   (native keys, fp16), `text_encoders/umt5_xxl_fp16.safetensors` (transformers' T5 key names, fp16,
   with the sentencepiece model as a uint8 `spiece_model` tensor), `text_encoders/
   umt5_xxl_fp8_e4m3fn_scaled.safetensors` (ComfyUI's legacy scaled-fp8 format: e4m3 linear weights,
   a per-weight `scale_weight`, and a `scaled_fp8` marker) and `vae/wan_2.1_vae.safetensors`.

Architectures are the real ones, shrunk: the DiT keeps patch size, 16 latent channels, 96 VACE
channels, head size 128 and a VACE block on every other layer; the VAE keeps Wan 2.1's topology
(dim_mult [1,2,4,4], 2 res blocks) with a small `base_dim`; the UMT5 encoder has width 32.

Every weight is rounded so that it is exact in bf16, fp16 and (T5 linears, at a power-of-two scale)
fp8 e4m3: all layouts therefore load to bit-identical fp32 models, and tests can demand identical
outputs from each.
"""

from __future__ import annotations

import json
import shutil
import string
import tempfile
from pathlib import Path

from .. import layout

COMFY_ROOT = layout.COMFYUI_MODELS

TRANSFORMER_CONFIG = dict(
    patch_size=[1, 2, 2],
    num_attention_heads=1,
    attention_head_dim=128,
    in_channels=16,
    out_channels=16,
    text_dim=32,
    freq_dim=256,
    ffn_dim=64,
    num_layers=4,
    cross_attn_norm=True,
    qk_norm="rms_norm_across_heads",
    eps=1e-6,
    image_dim=None,
    added_kv_proj_dim=None,
    rope_max_seq_len=1024,
    pos_embed_seq_len=None,
    vace_layers=[0, 2],
    vace_in_channels=96,
)
VAE_BASE_DIM = 8
T5_CONFIG = dict(
    d_model=32,
    d_kv=8,
    num_heads=4,
    d_ff=64,
    num_layers=2,
    num_decoder_layers=2,
    feed_forward_proj="gated-gelu",
    dense_act_fn="gelu_new",
    is_gated_act=True,
    relative_attention_num_buckets=32,
    relative_attention_max_distance=128,
    layer_norm_epsilon=1e-6,
    pad_token_id=0,
    eos_token_id=1,
    decoder_start_token_id=0,
    tie_word_embeddings=False,
    scalable_attention=True,
    tokenizer_class="T5Tokenizer",
)
_WORDS = (
    "a an the of in on at and with to from is are cat dog car red blue green sun moon mat road "
    "night day person man woman child walking running sitting park city street river sky tree "
    "house video image photo style edit make turn into reference pose depth"
).split()


def build(out_dir: str | Path, seed: int = 0) -> list[Path]:
    """Write the tiny generator in all three layouts; returns the files written."""
    import torch
    from diffusers import AutoencoderKLWan, UniPCMultistepScheduler, WanVACEPipeline, WanVACETransformer3DModel
    from transformers import UMT5Config, UMT5EncoderModel

    from ..generator.checkpoints import wan_transformer_to_native, wan_vae_to_native
    from ..generator.loading import SHIPPED_CONFIGS
    from ..generator.native_t5 import hf_to_native

    out = Path(out_dir)
    generator = torch.Generator().manual_seed(seed)

    # 1. Tokenizer (a hand-built sentencepiece unigram model: deterministic, no training).
    spiece = _sentencepiece_model()
    with tempfile.TemporaryDirectory() as tmp:
        tokenizer = _tokenizer_from_spiece(spiece, Path(tmp))

    # 2. Models, random but exact in every storage dtype.
    transformer = WanVACETransformer3DModel(**TRANSFORMER_CONFIG)
    vae = AutoencoderKLWan(base_dim=VAE_BASE_DIM)
    t5_config = UMT5Config(**T5_CONFIG, vocab_size=len(tokenizer))
    t5_config.architectures = ["UMT5EncoderModel"]
    text_encoder = UMT5EncoderModel(t5_config)
    _randomize(transformer, generator)
    _randomize(vae, generator, gamma_like_ones=True)
    _randomize(text_encoder, generator, gamma_like_ones=True)
    fp8_scales = _make_t5_fp8_exact(text_encoder)
    scheduler = UniPCMultistepScheduler.from_pretrained(str(SHIPPED_CONFIGS), subfolder="scheduler")

    written: list[Path] = []

    # 3. The diffusers folder.
    diffusers_dir = out / layout.GENERATOR_DIFFUSERS
    if diffusers_dir.exists():
        shutil.rmtree(diffusers_dir)
    pipe = WanVACEPipeline(
        tokenizer=tokenizer, text_encoder=text_encoder, vae=vae, scheduler=scheduler, transformer=transformer
    )
    pipe.save_pretrained(str(diffusers_dir), safe_serialization=True)
    (diffusers_dir / "tokenizer" / "spiece.model").write_bytes(spiece)

    # 4. The native release.
    native_dir = out / layout.GENERATOR_NATIVE
    if native_dir.exists():
        shutil.rmtree(native_dir)
    native_dir.mkdir(parents=True)
    from safetensors.torch import save_file

    transformer_native = {k: v.contiguous() for k, v in wan_transformer_to_native(transformer.state_dict()).items()}
    save_file(transformer_native, str(native_dir / "diffusion_pytorch_model.safetensors"))
    (native_dir / "config.json").write_text(json.dumps(_native_config(), indent=2))
    vae_native = {k: v.clone() for k, v in wan_vae_to_native(vae.state_dict()).items()}
    torch.save(vae_native, native_dir / "Wan2.1_VAE.pth")
    t5_native = {k: v.to(torch.bfloat16).clone() for k, v in hf_to_native(text_encoder.state_dict()).items()}
    torch.save(t5_native, native_dir / "models_t5_umt5-xxl-enc-bf16.pth")
    tok_dir = native_dir / "google" / "umt5-xxl"
    tokenizer.save_pretrained(str(tok_dir))
    (tok_dir / "spiece.model").write_bytes(spiece)

    # 5. ComfyUI's repackaged single files.
    comfy = out / COMFY_ROOT
    for sub in (layout.COMFY_DIFFUSION_MODELS, layout.COMFY_TEXT_ENCODERS, layout.COMFY_VAE):
        (comfy / sub).mkdir(parents=True, exist_ok=True)
    comfy_transformer = comfy / layout.COMFY_DIFFUSION_MODELS / layout.COMFY_TRANSFORMER_FILE
    save_file({k: v.half() for k, v in transformer_native.items()}, str(comfy_transformer))
    te_hf = {k: v for k, v in text_encoder.state_dict().items() if k != "encoder.embed_tokens.weight"}
    spiece_tensor = torch.frombuffer(bytearray(spiece), dtype=torch.uint8)
    comfy_te = comfy / layout.COMFY_TEXT_ENCODERS / layout.COMFY_TEXT_ENCODER_FILE
    save_file({**{k: v.half().contiguous() for k, v in te_hf.items()}, "spiece_model": spiece_tensor}, str(comfy_te))
    comfy_te8 = comfy / layout.COMFY_TEXT_ENCODERS / layout.COMFY_TEXT_ENCODER_FP8_FILE
    save_file(_scaled_fp8(te_hf, fp8_scales, spiece_tensor), str(comfy_te8))
    comfy_vae = comfy / layout.COMFY_VAE / layout.COMFY_VAE_FILE
    save_file({k: v.to(torch.bfloat16).contiguous() for k, v in vae_native.items()}, str(comfy_vae))

    written += sorted(p for p in diffusers_dir.rglob("*") if p.is_file())
    written += sorted(p for p in native_dir.rglob("*") if p.is_file())
    written += [comfy_transformer, comfy_te, comfy_te8, comfy_vae]
    return written


# ----------------------------------------------------------------------------------------------
def _pieces() -> list[tuple[str, float, str]]:
    """The unigram vocabulary (T5 ids: pad 0, eos 1, unk 2): (piece, score, kind)."""
    from ..generator.conditioning import DEFAULT_NEGATIVE_PROMPT

    pieces = [("<pad>", 0.0, "CONTROL"), ("</s>", 0.0, "CONTROL"), ("<unk>", 0.0, "UNKNOWN")]
    pieces += [("▁" + word, -2.0 - 0.01 * i, "NORMAL") for i, word in enumerate(_WORDS)]
    pieces.append(("▁", -3.0, "NORMAL"))
    chars = string.ascii_lowercase + string.ascii_uppercase + string.digits + string.punctuation
    chars += "".join(dict.fromkeys(c for c in DEFAULT_NEGATIVE_PROMPT if c not in chars))
    pieces += [(char, -5.0 - 0.01 * i, "NORMAL") for i, char in enumerate(chars)]
    return pieces


def _sentencepiece_model() -> bytes:
    """A small unigram sentencepiece model, built piece by piece."""
    try:
        from sentencepiece import sentencepiece_model_pb2 as pb
    except ImportError:  # recent sentencepiece ships code generated for protobuf >= 5; transformers
        from transformers.utils import sentencepiece_model_pb2_new as pb  # keeps one for older runtimes

    model = pb.ModelProto()
    model.trainer_spec.model_type = pb.TrainerSpec.UNIGRAM
    model.trainer_spec.pad_id, model.trainer_spec.eos_id = 0, 1
    model.trainer_spec.unk_id, model.trainer_spec.bos_id = 2, -1
    model.trainer_spec.pad_piece, model.trainer_spec.eos_piece = "<pad>", "</s>"
    model.trainer_spec.unk_piece = "<unk>"
    spec = model.normalizer_spec
    spec.name = "identity"
    spec.add_dummy_prefix = True
    spec.remove_extra_whitespaces = True
    spec.escape_whitespaces = True
    for piece, score, kind in _pieces():
        entry = model.pieces.add()
        entry.piece, entry.score, entry.type = piece, score, getattr(pb.ModelProto.SentencePiece, kind)
    return model.SerializeToString()


def _tokenizer_from_spiece(spiece: bytes, folder: Path):
    """transformers' T5 tokenizer for that sentencepiece model, with its `tokenizer.json` (as the
    releases ship it) built directly rather than converted: transformers 4.x converts through
    protobuf code that an older protobuf runtime beside a recent sentencepiece cannot import."""
    import transformers
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors

    raw = Tokenizer(models.Unigram([(piece, score) for piece, score, _ in _pieces()], unk_id=2))
    raw.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(),
                                                 pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")])
    raw.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    raw.post_processor = processors.TemplateProcessing(single="$A </s>", pair="$A </s> $B </s>",
                                                       special_tokens=[("</s>", 1)])
    raw.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in ("<pad>", "</s>", "<unk>")])
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "spiece.model").write_bytes(spiece)
    # transformers 4.x names the tokenizers-backed class T5TokenizerFast; 5.x folds it into T5Tokenizer.
    tokenizer_class = getattr(transformers, "T5TokenizerFast", None) or transformers.T5Tokenizer
    return tokenizer_class(tokenizer_object=raw, extra_ids=0, model_max_length=512,
                           eos_token="</s>", unk_token="<unk>", pad_token="<pad>")


def _randomize(module, generator, gamma_like_ones: bool = False) -> None:
    """Seeded weights on the bf16∩fp16 grid: std 1/sqrt(fan_in) for matrices, near-1 gains."""
    import torch

    with torch.no_grad():
        for name, param in module.named_parameters():
            if param.ndim >= 2 and not name.endswith("gamma") and "relative_attention_bias" not in name:
                fan_in = param[0].numel()
                value = torch.randn(param.shape, generator=generator) / fan_in**0.5
            elif gamma_like_ones and (name.endswith("gamma") or "layer_norm" in name or name.endswith("norm.weight")):
                value = 1.0 + 0.1 * torch.randn(param.shape, generator=generator)
            else:
                value = 0.1 * torch.randn(param.shape, generator=generator)
            param.copy_(_exact(value))
        for buffer in module.buffers():
            if buffer.is_floating_point():
                buffer.copy_(_exact(buffer))


def _exact(value):
    """Round to values exact in bf16 and in fp16 (no fp16 subnormals)."""
    import torch

    value = value.to(torch.bfloat16).float()
    return torch.where(value.abs() < 2.0**-14, torch.zeros_like(value), value).clamp(-60000, 60000)


def _is_fp8_linear(name: str) -> bool:
    return name.endswith(".weight") and any(
        part in name for part in (".SelfAttention.q.", ".SelfAttention.k.", ".SelfAttention.v.",
                                  ".SelfAttention.o.", ".wi_0.", ".wi_1.", ".wo.")
    )


def _make_t5_fp8_exact(text_encoder) -> dict:
    """Snap the T5 linear weights onto the e4m3 grid at a power-of-two scale; returns the scales."""
    import math

    import torch

    scales = {}
    with torch.no_grad():
        for name, param in text_encoder.named_parameters():
            if not _is_fp8_linear(name):
                continue
            scale = 2.0 ** math.ceil(math.log2(param.abs().max().item() / 448.0))
            snapped = (param / scale).to(torch.float8_e4m3fn).float() * scale
            param.copy_(_exact(snapped))
            scales[name] = scale
    return scales


def _scaled_fp8(te_hf: dict, scales: dict, spiece_tensor) -> dict:
    """ComfyUI's legacy scaled-fp8 text encoder: `<layer>.weight` e4m3, `<layer>.scale_weight` fp32."""
    import torch

    out = {"scaled_fp8": torch.empty(0, dtype=torch.float8_e4m3fn), "spiece_model": spiece_tensor}
    for name, value in te_hf.items():
        if name in scales:
            scale = scales[name]
            out[name] = (value / scale).to(torch.float8_e4m3fn).contiguous()
            out[name[: -len("weight")] + "scale_weight"] = torch.tensor(scale, dtype=torch.float32)
        else:
            out[name] = value.half().contiguous()
    return out


def _native_config() -> dict:
    """config.json as Wan's native VACE release writes it (its own field names)."""
    c = TRANSFORMER_CONFIG
    return {
        "_class_name": "VaceWanModel",
        "_diffusers_version": "0.30.0",
        "dim": c["num_attention_heads"] * c["attention_head_dim"],
        "eps": c["eps"],
        "ffn_dim": c["ffn_dim"],
        "freq_dim": c["freq_dim"],
        "in_dim": c["in_channels"],
        "model_type": "t2v",
        "num_heads": c["num_attention_heads"],
        "num_layers": c["num_layers"],
        "out_dim": c["out_channels"],
        "text_len": 512,
        "vace_in_dim": c["vace_in_channels"],
        "vace_layers": c["vace_layers"],
    }
