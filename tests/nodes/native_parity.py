"""Native path vs our diffusers path on the same tiny weights, run in ComfyUI's own Python by
test_native_comfyui.py:  python native_parity.py COMFYUI_DIR PACK MODELS_DIR SHIM_PARENT

Each side builds its own inputs from the same request and media: ComfyUI's CLIPLoader (type wan)
+ CLIPTextEncode + Unison Conditioning (native) against our T5 context; core WanVaceToVideo's
VACE latents against our generator's; then one DiT forward of ComfyUI's UNETLoader model against
our transformer, each on its own side's inputs. Prints one JSON line of maximum differences.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(comfy_dir: str, pack: str, models: str, shim_parent: str) -> dict:
    sys.path[:0] = [comfy_dir, pack, shim_parent]  # ComfyUI's `nodes` module first (the pack has a package of that name)
    from comfy.cli_args import args

    args.cpu = True
    import comfy.latent_formats
    import comfy.sd
    import comfy.utils
    import torch
    import tiny_comfy_models  # noqa: F401 - lets the core loaders read the tiny files
    from comfy_extras.nodes_wan import WanVaceToVideo

    from unison_runtime import layout
    from unison_runtime.generator.conditioning import encode_context
    from unison_runtime.generator.inputs import GenerationInputs
    from unison_runtime.generator.loading import load_generator
    from unison_runtime.generator.sampling import prepare_control_latents
    from unison_runtime.native import comfy_prompt, unison_context, vace_inputs
    from unison_runtime.pipeline.stage_two import StageTwoInputs

    root = Path(models) / layout.COMFYUI_MODELS
    unet = comfy.sd.load_diffusion_model(str(root / layout.COMFY_DIFFUSION_MODELS / layout.COMFY_TRANSFORMER_FILE))
    clip = comfy.sd.load_clip([str(root / layout.COMFY_TEXT_ENCODERS / layout.COMFY_TEXT_ENCODER_FILE)],
                              clip_type=comfy.sd.CLIPType.WAN)
    vae = comfy.sd.VAE(sd=comfy.utils.load_torch_file(str(root / layout.COMFY_VAE / layout.COMFY_VAE_FILE)))
    ours = load_generator(Path(models) / layout.GENERATOR_DIFFUSERS, device="cpu", dtype="float32")
    g = torch.Generator().manual_seed(3)

    # 1. Text context: T5 tokens (padding removed), 4 projector tokens, zeros to 2048.
    prompt = "a red car (at night) <IMGPAD>"
    tokens = torch.randn(1, 4, ours.text_width, generator=g)
    native_t5 = clip.encode_from_tokens_scheduled(clip.tokenize(comfy_prompt(prompt)))[0][0]
    native_context = unison_context(native_t5, tokens)
    our_context = encode_context(ours, prompt, tokens)

    # 2. VACE context for an edit with a mask and a reference, 48x32, 5 frames.
    frames = torch.randint(0, 256, (5, 32, 48, 3), generator=g, dtype=torch.uint8).numpy()
    masks = torch.zeros(5, 32, 48, dtype=torch.uint8)
    masks[:, 8:24, 16:40] = 255
    reference = torch.randint(0, 256, (32, 48, 3), generator=g, dtype=torch.uint8).numpy()
    stage = StageTwoInputs(48, 32, 5, frames=frames, masks=masks.numpy(), references=[reference])
    vace = vace_inputs(stage)
    cond = [[native_context, {}]]
    positive, *_ = WanVaceToVideo.execute(cond, cond, vae, vace.width, vace.height, vace.length, 1, 1.0,
                                          control_video=vace.control_video, control_masks=vace.control_masks,
                                          reference_image=vace.reference_image).args
    options = positive[0][1]
    wan21 = comfy.latent_formats.Wan21()
    raw = options["vace_frames"][0].float()
    native_control = torch.cat([wan21.process_in(raw[:, :16]), wan21.process_in(raw[:, 16:]),
                                options["vace_mask"][0].float()], dim=1)
    source, vace_masks, references = stage.to_tensors()
    inputs = GenerationInputs(context=our_context, width=48, height=32, num_frames=5, source=source, masks=vace_masks,
                              reference_images=references)
    our_control, _ = prepare_control_latents(ours, inputs)

    # 3. One DiT forward at t = 700 on the same noise, each side on its own inputs.
    x = torch.randn(1, 16, our_control.shape[2], 4, 6, generator=g)
    t = torch.tensor([700.0])
    with torch.no_grad():
        native_out = unet.model.diffusion_model(x, t, native_context, vace_context=native_control[:, None],
                                                vace_strength=[1.0])
        our_out = ours.transformer(hidden_states=x, timestep=t, encoder_hidden_states=our_context,
                                   control_hidden_states=our_control.float(),
                                   control_hidden_states_scale=torch.ones(len(ours.transformer.config.vace_layers)),
                                   return_dict=False)[0]

    # 4. Whole runs: our sampler node's native path (ComfyUI's UniPC on Wan's sigmas) vs our diffusers path.
    from types import SimpleNamespace

    from unison_runtime.generator.inputs import SamplerSettings
    from unison_runtime.pipeline.stage_two import generate_frames

    pack_nodes = _load_pack(pack).nodes
    settings = dict(seed=5, steps=4, cfg=5.0, shift=5.0, context_scale=1.0, negative_prompt="blurry")
    from unison_runtime.pipeline.options import SamplingOptions
    from unison_runtime.pipeline.stages import Conditioning

    native_frames, _ = pack_nodes.native.sample_native(unet, vae, clip, stage, Conditioning(prompt, tokens),
                                                       SamplingOptions(**settings))
    ours_video = generate_frames(ours, stage, prompt, tokens, SamplerSettings(**{k: v for k, v in settings.items()
                                                                                 if k != "negative_prompt"}),
                                 settings["negative_prompt"])
    our_frames = ((ours_video + 1) / 2).permute(1, 2, 3, 0)

    def diff(a, b):
        assert a.shape == b.shape, (tuple(a.shape), tuple(b.shape))
        return float((a.detach().float() - b.detach().float()).abs().max())

    return {"context_max_diff": diff(native_context, our_context), "vace_max_diff": diff(native_control, our_control),
            "dit_max_diff": diff(native_out, our_out), "dit_scale": float(our_out.abs().max()),
            "native_t5_tokens": int(native_t5.shape[1]),
            "frames_mean_diff": float((native_frames.float() - our_frames).abs().mean()),
            "frames_max_diff": diff(native_frames, our_frames)}


def _load_pack(pack: str):
    """The pack as ComfyUI imports it: a package named after its folder (here `unison_pack`), so
    its `nodes` subpackage does not clash with ComfyUI's own `nodes` module."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("unison_pack", Path(pack) / "__init__.py",
                                                  submodule_search_locations=[pack])
    module = importlib.util.module_from_spec(spec)
    sys.modules["unison_pack"] = module
    spec.loader.exec_module(module)
    return module


if __name__ == "__main__":
    print(json.dumps(main(*sys.argv[1:5])))
