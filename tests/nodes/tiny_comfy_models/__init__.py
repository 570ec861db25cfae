"""Test-only ComfyUI custom node (installed beside the pack by the real-ComfyUI tests): lets ComfyUI's
core loaders (0.8.0 and 0.33.0) read the pack's *tiny* Wan stand-ins (`make-demo-models`, models/comfyui/).

Two limits of ComfyUI's detection that real files never meet:
- `CLIPLoader` (type wan) recognises UMT5-XXL only by its 24th block with width 4096 and then builds
  the model from a fixed XXL config (`comfy/text_encoders/umt5_config_xxl.json`); a tiny UMT5 is
  mistaken for T5-base. Here a UMT5 file with a `spiece_model` but fewer blocks is taken as UMT5
  and built with its own sizes (ComfyUI's `umt5xxl_model_config` model option).
- `UNETLoader` detects a Wan DiT's sizes from its weights except the text width (always 4096); a
  tiny DiT's `text_embedding.0.weight` gives it.
Each patch touches only state dicts that are not real-sized, so real models load as in ComfyUI.
The wrappers name only the arguments they change and pass every other one on as it came, so the
arguments a ComfyUI release adds (0.33: `disable_dynamic`) reach its loader unchanged.

It also serves GET /tiny_comfy_models/loaded_models: ComfyUI's own `current_loaded_models`, seen
from inside the server (test_comfyui_model_management.py). The pack itself has no such route.
"""

from __future__ import annotations

import inspect
import logging

import comfy.model_detection
import comfy.sd

NODE_CLASS_MAPPINGS: dict = {}
REAL_T5_LAST_BLOCK = "encoder.block.23.layer.1.DenseReluDense.wi_1.weight"
T5_FIRST_FFN = "encoder.block.0.layer.1.DenseReluDense.wi_1.weight"


def tiny_umt5_config(sd) -> dict | None:
    """The sizes of a tiny UMT5 encoder file (None for anything else)."""
    if not isinstance(sd, dict) or "spiece_model" not in sd or T5_FIRST_FFN not in sd or REAL_T5_LAST_BLOCK in sd:
        return None
    attention = "encoder.block.0.layer.0.SelfAttention."
    num_heads = sd[attention + "relative_attention_bias.weight"].shape[1]
    inner = sd[attention + "q.weight"].shape[0]
    layers = len({k.split(".")[2] for k in sd if k.startswith("encoder.block.")})
    return {"d_model": sd["shared.weight"].shape[1], "vocab_size": sd["shared.weight"].shape[0],
            "num_layers": layers, "num_decoder_layers": layers, "num_heads": num_heads, "d_kv": inner // num_heads,
            "d_ff": sd[T5_FIRST_FFN].shape[0]}


_detect_te_model = comfy.sd.detect_te_model
_load_text_encoder_state_dicts = comfy.sd.load_text_encoder_state_dicts
_detect_unet_config = comfy.model_detection.detect_unet_config
_load_text_encoder_signature = inspect.signature(_load_text_encoder_state_dicts)


def detect_te_model(sd):
    return comfy.sd.TEModel.T5_XXL if tiny_umt5_config(sd) else _detect_te_model(sd)


def load_text_encoder_state_dicts(*args, **kwargs):
    call = _load_text_encoder_signature.bind(*args, **kwargs)  # by name, whatever the release's order
    call.apply_defaults()
    state_dicts = call.arguments["state_dicts"]
    config = tiny_umt5_config(state_dicts[0]) if len(state_dicts) == 1 else None
    if config is not None:
        logging.info("tiny_comfy_models: a tiny UMT5 %s", config)
        call.arguments["model_options"] = {**call.arguments["model_options"], "umt5xxl_model_config": config}
    return _load_text_encoder_state_dicts(*call.args, **call.kwargs)


def detect_unet_config(state_dict, key_prefix, *args, **kwargs):
    config = _detect_unet_config(state_dict, key_prefix, *args, **kwargs)
    text = state_dict.get(f"{key_prefix}text_embedding.0.weight")
    if isinstance(config, dict) and config.get("image_model") == "wan2.1" and text is not None and text.shape[1] != 4096:
        config["text_dim"] = text.shape[1]
    return config


comfy.sd.detect_te_model = detect_te_model
comfy.sd.load_text_encoder_state_dicts = load_text_encoder_state_dicts
comfy.model_detection.detect_unet_config = detect_unet_config


def loaded_models() -> list[dict]:
    """One row per entry of ComfyUI's `current_loaded_models`: the model's class, the pack's kind
    for its own models (None for ComfyUI's), the load device and the bytes on it."""
    import comfy.model_management as mm

    rows = []
    for loaded in list(mm.current_loaded_models):
        patcher = loaded.model
        model = getattr(patcher, "model", None)
        rows.append({"class": type(model).__name__, "unison_kind": getattr(model, "unison_kind", None),
                     "device": str(loaded.device), "loaded_bytes": int(patcher.loaded_size()) if patcher else 0})
    return rows


def _add_route() -> None:
    import sys

    server = getattr(sys.modules.get("server"), "PromptServer", None)
    if getattr(server, "instance", None) is None:  # imported outside a server (the in-process scripts)
        return
    from aiohttp import web

    routes = server.instance.routes

    @routes.get("/tiny_comfy_models/loaded_models")
    async def get_loaded_models(request):
        return web.json_response(loaded_models())


_add_route()
