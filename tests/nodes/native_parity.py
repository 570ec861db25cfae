"""The native side of the parity check, run in ComfyUI's own Python (no diffusers there, as in a
user's ComfyUI) by test_native_comfyui.py:

    python native_parity.py COMFYUI_DIR PACK MODELS_DIR SHIM_PARENT CASES_FILE OUT_FILE

CASES_FILE (written by the test, `torch.save`): the prompt, the projector tokens, a DiT input, and
per case the prepared stage-two inputs and sampler settings. This script loads the tiny Wan files
with ComfyUI's own loaders and computes, with ComfyUI's own code: the text context (CLIPLoader
type wan + CLIPTextEncode + Unison Conditioning's padding), the VACE latents of the first case
(core WanVaceToVideo), one DiT forward of UNETLoader's model on the given input, and every case's
frames through UnisonVACESampler's native path (Wan's UniPC on ComfyUI's model). It writes them
to OUT_FILE; the test computes the same with our diffusers path and compares.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(comfy_dir: str, pack: str, models: str, shim_parent: str, cases_file: str, out_file: str) -> dict:
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
    from unison_runtime.generator.inputs import SamplerSettings
    from unison_runtime.native import comfy_prompt, unison_context, vace_inputs
    from unison_runtime.pipeline.stage_two import StageTwoInputs
    from unison_runtime.pipeline.stages import Conditioning

    given = torch.load(cases_file, weights_only=True)
    root = Path(models) / layout.COMFYUI_MODELS
    unet = comfy.sd.load_diffusion_model(str(root / layout.COMFY_DIFFUSION_MODELS / layout.COMFY_TRANSFORMER_FILE))
    clip = comfy.sd.load_clip([str(root / layout.COMFY_TEXT_ENCODERS / layout.COMFY_TEXT_ENCODER_FILE)],
                              clip_type=comfy.sd.CLIPType.WAN)
    vae = comfy.sd.VAE(sd=comfy.utils.load_torch_file(str(root / layout.COMFY_VAE / layout.COMFY_VAE_FILE)))
    pack_nodes = _load_pack(pack).nodes

    def stage_of(case: dict) -> StageTwoInputs:
        arrays = {k: None if case[k] is None else case[k].numpy() for k in ("frames", "masks")}
        return StageTwoInputs(case["width"], case["height"], case["num_frames"], **arrays,
                              references=[r.numpy() for r in case["references"]])

    out: dict = {"frames": {}, "t5_tokens": None}
    # 1. Text context: T5 tokens (padding removed), 4 projector tokens, zeros to 2048.
    native_t5 = clip.encode_from_tokens_scheduled(clip.tokenize(comfy_prompt(given["prompt"])))[0][0]
    out["t5_tokens"] = int(native_t5.shape[1])
    out["context"] = unison_context(native_t5, given["tokens"])

    # 2. VACE context of the first case (core WanVaceToVideo), in the DiT's normalised space.
    first = stage_of(next(iter(given["cases"].values())))
    vace = vace_inputs(first)
    cond = [[out["context"], {}]]
    positive, *_ = WanVaceToVideo.execute(cond, cond, vae, vace.width, vace.height, vace.length, 1, 1.0,
                                          control_video=vace.control_video, control_masks=vace.control_masks,
                                          reference_image=vace.reference_image).args
    options = positive[0][1]
    wan21 = comfy.latent_formats.Wan21()
    raw = options["vace_frames"][0].float()
    out["vace"] = torch.cat([wan21.process_in(raw[:, :16]), wan21.process_in(raw[:, 16:]),
                             options["vace_mask"][0].float()], dim=1)

    # 3. One DiT forward of UNETLoader's model, on this side's own context and VACE latents.
    with torch.no_grad():
        out["dit"] = unet.model.diffusion_model(given["dit_x"], given["dit_t"], out["context"],
                                                vace_context=out["vace"][:, None], vace_strength=[1.0])

    # 4. Whole runs: UnisonVACESampler's native path on each case.
    for name, case in given["cases"].items():
        frames, _ = pack_nodes.comfy_wan.sample_native(unet, vae, clip, stage_of(case),
                                                    Conditioning(given["prompt"], given["tokens"]),
                                                    SamplerSettings(**case["settings"]))
        out["frames"][name] = frames.float().contiguous()
    out["diffusers_imported"] = "diffusers" in sys.modules  # a user's ComfyUI has none: nothing may need it
    torch.save(out, out_file)
    return {"t5_tokens": out["t5_tokens"], "cases": list(out["frames"])}


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
    print(json.dumps(main(*sys.argv[1:7])))
