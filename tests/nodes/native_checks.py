"""Wan's UniPC and the Wan VACE check with ComfyUI's own objects, run in ComfyUI's Python by
test_native_comfyui.py:  python native_checks.py COMFYUI_DIR PACK MODELS_DIR SHIM_PARENT

- `check_wan_vace` against what users connect by mistake, each built by ComfyUI's own code: a Wan
  2.1 DiT without VACE blocks (the tiny VACE file less its VACE weights, through `comfy.sd`), an
  SD 1.5 model (ComfyUI's `SD15` model class at a tiny size), a Flux-family VAE (`comfy.sd.VAE` on
  a TAEF1-shaped file: TAESD with 16 latent channels), an SD 1.5 CLIP-L (`comfy.sd`'s text-encoder
  loader at a tiny size). UnisonVACESampler's native path and core `SamplerCustom` with our
  sampler refuse them before any encoding or model call.
- The sampler through core `comfy.sample.sample_custom` with ComfyUI's own progress/preview
  callback (`latent_preview.prepare_callback`): the progress hook sees every step with a preview
  image, and Cancel (`interrupt_current_processing`) stops it before the next model call.

Prints one JSON line: what each check saw.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(comfy_dir: str, pack: str, models: str, shim_parent: str) -> dict:
    sys.path[:0] = [comfy_dir, pack, shim_parent]
    from comfy.cli_args import LatentPreviewMethod, args

    args.cpu = True
    args.preview_method = LatentPreviewMethod.Latent2RGB
    import torch

    with torch.no_grad():
        out = {**bad_connections(pack, models), **progress_preview_and_cancel(pack, models)}
    return {**out, "diffusers_imported": "diffusers" in sys.modules}


def tiny_wan(models: str):
    import comfy.sd
    import comfy.utils
    import tiny_comfy_models  # noqa: F401 - lets the core loaders read the tiny files

    from unison_runtime import layout

    root = Path(models) / layout.COMFYUI_MODELS
    unet_file = str(root / layout.COMFY_DIFFUSION_MODELS / layout.COMFY_TRANSFORMER_FILE)
    unet = comfy.sd.load_diffusion_model(unet_file)
    clip = comfy.sd.load_clip([str(root / layout.COMFY_TEXT_ENCODERS / layout.COMFY_TEXT_ENCODER_FILE)],
                              clip_type=comfy.sd.CLIPType.WAN)
    vae = comfy.sd.VAE(sd=comfy.utils.load_torch_file(str(root / layout.COMFY_VAE / layout.COMFY_VAE_FILE)))
    return unet, vae, clip, unet_file


def wrong_objects(unet_file: str) -> dict:
    """What a user might connect instead, built by ComfyUI's own code at tiny sizes."""
    import json as json_module
    import os

    import comfy.clip_model
    import comfy.model_management as mm
    import comfy.model_patcher
    import comfy.ops
    import comfy.sd
    import comfy.supported_models
    import comfy.taesd.taesd
    import comfy.utils
    import torch

    no_vace = {k: v for k, v in comfy.utils.load_torch_file(unet_file).items() if not k.startswith("vace_")}
    sd15_config = {"image_size": 32, "in_channels": 4, "out_channels": 4, "model_channels": 32, "num_res_blocks": [1],
                   "channel_mult": [1], "transformer_depth": [1], "transformer_depth_output": [1, 1],
                   "transformer_depth_middle": 1, "context_dim": 768, "use_linear_in_transformer": False,
                   "adm_in_channels": None, "use_temporal_attention": False, "use_spatial_transformer": True,
                   "legacy": False, "num_head_channels": -1, "num_heads": 8, "use_temporal_resblock": False}
    sd15 = comfy.supported_models.SD15(sd15_config).get_model({})
    clip_config = json_module.loads(Path(os.path.dirname(comfy.sd.__file__), "sd1_clip_config.json").read_text())
    tiny_clip = {"hidden_size": 32, "intermediate_size": 64, "num_attention_heads": 2, "num_hidden_layers": 2,
                 "projection_dim": 32}
    clip_l = comfy.clip_model.CLIPTextModel({**clip_config, **tiny_clip}, torch.float32, "cpu", comfy.ops.manual_cast)
    return {
        "wan_t2v": comfy.sd.load_diffusion_model_state_dict(no_vace),
        "sd15": comfy.model_patcher.ModelPatcher(sd15, load_device=mm.get_torch_device(),
                                                 offload_device=mm.unet_offload_device()),
        "flux_vae": comfy.sd.VAE(sd=comfy.taesd.taesd.TAESD(latent_channels=16).state_dict()),
        "sd15_clip": comfy.sd.load_text_encoder_state_dicts([clip_l.state_dict()], clip_type=comfy.sd.CLIPType.STABLE_DIFFUSION,
                                                            model_options={"model_config": tiny_clip}),
    }


def _message(call) -> str:
    try:
        call()
    except ValueError as err:
        return str(err)
    return ""


def bad_connections(pack: str, models: str) -> dict:
    import comfy.sample
    import torch

    from unison_runtime.generator.inputs import SamplerSettings
    from unison_runtime.pipeline.stage_two import StageTwoInputs
    from unison_runtime.pipeline.stages import Conditioning

    nodes = _load_pack(pack).nodes
    check = nodes.comfy_wan.check_wan_vace
    unet, vae, clip, unet_file = tiny_wan(models)
    wrong = wrong_objects(unet_file)
    out = {"right": _message(lambda: check(unet, vae, clip)),
           "not_a_model": _message(lambda: check(model=object()))}
    out.update({name: _message(lambda value=value, name=name: check(
        model=value if name in ("wan_t2v", "sd15") else None, vae=value if name == "flux_vae" else None,
        clip=value if name == "sd15_clip" else None)) for name, value in wrong.items()})

    # UnisonVACESampler's native path refuses before the prompt is tokenized.
    tokenized = []
    original = clip.tokenize
    clip.tokenize = lambda *a, **k: tokenized.append(1) or original(*a, **k)
    stage = StageTwoInputs(32, 32, 1)
    out["native_path"] = _message(lambda: nodes.comfy_wan.sample_native(unet, wrong["flux_vae"], clip, stage,
                                                                     Conditioning("a cat"), SamplerSettings(steps=1)))
    out["native_path_tokenized"] = len(tokenized)

    # Core SamplerCustom with our sampler and an SD 1.5 model: refused before any model call.
    calls = []
    model = wrong["sd15"].clone()
    model.set_model_unet_function_wrapper(lambda apply, kw: calls.append(1) or apply(kw["input"], kw["timestep"], **kw["c"]))
    latent = torch.zeros(1, 4, 4, 4)
    cond = [[torch.zeros(1, 77, 768), {}]]
    out["sampler_sd15"] = _message(lambda: comfy.sample.sample_custom(
        model, torch.randn(1, 4, 4, 4), 5.0, nodes.comfy_wan.wan_unipc_sampler(), torch.tensor([0.9, 0.5, 0.0]),
        cond, cond, latent, seed=0))
    out["sampler_sd15_model_calls"] = len(calls)
    return out


def progress_preview_and_cancel(pack: str, models: str) -> dict:
    import comfy.model_management as mm
    import comfy.sample
    import comfy.utils
    import latent_preview
    import torch

    from unison_runtime.native import wan_sigmas

    nodes = _load_pack(pack).nodes
    unet, _, clip, _ = tiny_wan(models)
    steps, stop_after = 5, 2
    calls, seen = [], []
    model = unet.clone()
    model.set_model_unet_function_wrapper(lambda apply, kw: calls.append(1) or apply(kw["input"], kw["timestep"], **kw["c"]))

    def hook(value, total, preview, node_id=None, **_):  # what ComfyUI's server does with progress
        seen.append({"value": value, "total": total, "preview": type(preview[1]).__name__ if preview else None})
        if value == stop_after:
            mm.interrupt_current_processing(True)  # the user presses Cancel
        mm.throw_exception_if_processing_interrupted()  # as the server's hook does

    comfy.utils.set_progress_bar_global_hook(hook)
    text = clip.encode_from_tokens_scheduled(clip.tokenize("a cat"))
    latent = torch.zeros(1, 16, 2, 4, 4)
    stopped = None
    try:
        comfy.sample.sample_custom(model, comfy.sample.prepare_noise(latent, 0), 5.0, nodes.comfy_wan.wan_unipc_sampler(),
                                   wan_sigmas(steps, 5.0), text, text, latent, seed=0,
                                   callback=latent_preview.prepare_callback(model, steps))
    except mm.InterruptProcessingException:
        stopped = "interrupted"
    finally:
        mm.interrupt_current_processing(False)
        comfy.utils.set_progress_bar_global_hook(None)
    return {"progress": seen, "stopped": stopped, "model_calls": len(calls)}


def _load_pack(pack: str):
    """The pack as ComfyUI imports it (a package named after its folder), loaded once."""
    import importlib.util

    if "unison_pack" in sys.modules:
        return sys.modules["unison_pack"]
    spec = importlib.util.spec_from_file_location("unison_pack", Path(pack) / "__init__.py",
                                                  submodule_search_locations=[pack])
    module = importlib.util.module_from_spec(spec)
    sys.modules["unison_pack"] = module
    spec.loader.exec_module(module)
    return module


if __name__ == "__main__":
    print(json.dumps(main(*sys.argv[1:5])))
