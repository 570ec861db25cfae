"""The native path's GPU measurement, run in a ComfyUI's own Python (no diffusers) by `benchmarks.gpu`:

    COMFYUI_PYTHON benchmarks/native_gpu.py COMFYUI_DIR [--lowvram] [--dry-run]

Our sampler (Wan's UniPC, `nodes.comfy_wan`) on ComfyUI's own Wan2.1-VACE-1.3B and Wan VAE, loaded
the way a user's files are (`comfy.sd.load_diffusion_model_state_dict`, `comfy.sd.VAE`) from state
dicts of random weights in the real shapes (ComfyUI's own classes on the meta device give the
shapes; nothing to download), at 832×480×81, 50 steps, cfg 5: core WanVaceToVideo, sample_custom,
TrimVideoLatent, VAE decode, under ComfyUI's memory management in its default mode or `--lowvram`.
The text context is random, 2048 tokens of the UMT5 width (what Unison Conditioning gives): the T5
encode is not part of these figures. `--dry-run` runs the same on the CPU with tiny shapes (the
plumbing only). Prints one JSON line.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

PACK = Path(__file__).resolve().parents[1]
DRY_TRANSFORMER = {"num_attention_heads": 1, "attention_head_dim": 128, "ffn_dim": 64, "num_layers": 2,
                   "vace_layers": [0]}  # ComfyUI reads Wan's head count as dim // 128
DRY_VAE_DIM = 8
WAN_VAE_DIM = 96
GIB = 1024**3


def unet_config(config: dict) -> dict:
    """ComfyUI's Wan VACE unet_config (what its detection reads from a file) from our shipped
    transformer config (the diffusers names)."""
    return {"image_model": "wan2.1", "model_type": "vace", "dim": config["num_attention_heads"] * config["attention_head_dim"],
            "num_heads": config["num_attention_heads"], "ffn_dim": config["ffn_dim"], "num_layers": config["num_layers"],
            "in_dim": config["in_channels"], "out_dim": config["out_channels"], "text_dim": config["text_dim"],
            "freq_dim": config["freq_dim"], "eps": config["eps"], "patch_size": tuple(config["patch_size"]),
            "window_size": (-1, -1), "qk_norm": True, "cross_attn_norm": True,
            "vace_in_dim": config["vace_in_channels"], "vace_layers": len(config["vace_layers"])}


def random_state_dict(module, generator, dtype) -> dict:
    """Random tensors in the shapes of `module` (built on the meta device): a file's stand-in."""
    import torch

    return {name: (torch.randn(tensor.shape, generator=generator) * 0.02).to(dtype)
            for name, tensor in module.state_dict().items()}


def build(dry_run: bool):
    import comfy.ldm.wan.vae
    import comfy.sd
    import comfy.supported_models
    import torch

    from unison_runtime.generator.loading import _shipped_config

    config = {**_shipped_config("transformer"), **(DRY_TRANSFORMER if dry_run else {})}
    generator = torch.Generator().manual_seed(0)
    dtype = torch.float32 if dry_run else torch.bfloat16
    with torch.device("meta"):
        shapes = comfy.supported_models.WAN21_Vace(unet_config(config)).get_model({}).diffusion_model
        vae_shapes = comfy.ldm.wan.vae.WanVAE(dim=DRY_VAE_DIM if dry_run else WAN_VAE_DIM, z_dim=16,
                                              dim_mult=[1, 2, 4, 4], num_res_blocks=2, attn_scales=[],
                                              temperal_downsample=[False, True, True], dropout=0.0)
    model = comfy.sd.load_diffusion_model_state_dict(random_state_dict(shapes, generator, dtype))
    vae = comfy.sd.VAE(sd=random_state_dict(vae_shapes, generator, torch.float32))
    return model, vae, config["text_dim"]


def run(dry_run: bool) -> dict:
    import comfy.model_management as mm
    import comfy.sample
    import torch
    from comfy_extras.nodes_wan import TrimVideoLatent, WanVaceToVideo

    from benchmarks.gpu import DRY, FULL  # the same sizes as the diffusers path's plan
    from unison_runtime.generator.unipc import wan_schedule

    wan_unipc_sampler = _load_pack().nodes.comfy_wan.wan_unipc_sampler

    size = DRY if dry_run else FULL
    cuda = torch.cuda.is_available() and not dry_run
    start = time.perf_counter()
    model, vae, text_width = build(dry_run)
    built = time.perf_counter() - start
    g = torch.Generator().manual_seed(1)
    context = [[torch.randn(1, 2048, text_width, generator=g) * 0.1, {}]]
    negative = [[torch.randn(1, 2048, text_width, generator=g) * 0.1, {}]]
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    stamps = {"start": _now(cuda)}
    positive, negative, latent, trim = WanVaceToVideo.execute(context, negative, vae, size["width"], size["height"],
                                                              size["num_frames"], 1, 1.0).args
    stamps["encoded"] = _now(cuda)
    steps: list[float] = []
    schedule = wan_schedule(size["steps"], 5.0)
    samples = comfy.sample.sample_custom(model, comfy.sample.prepare_noise(latent["samples"], 0), size["cfg"],
                                         wan_unipc_sampler(schedule), schedule.sigmas, positive, negative,
                                         latent["samples"], seed=0, callback=lambda *_: steps.append(_now(cuda)))
    stamps["sampled"] = _now(cuda)
    (trimmed,) = TrimVideoLatent.execute({"samples": samples}, trim).args
    frames = vae.decode(trimmed["samples"])
    stamps["decoded"] = _now(cuda)
    per_step = [b - a for a, b in zip(steps, steps[1:])]
    return {
        "mode": "lowvram" if mm.vram_state == mm.VRAMState.LOW_VRAM else mm.vram_state.name.lower(),
        "device": torch.cuda.get_device_name() if cuda else "cpu (dry run)",
        "size": size, "build_seconds": round(built, 1), "steps": len(steps),
        "seconds_per_step": round(sorted(per_step)[len(per_step) // 2], 3) if per_step else None,
        "vace_encode_seconds": round(stamps["encoded"] - stamps["start"], 2),
        "sampling_seconds": round(stamps["sampled"] - stamps["encoded"], 2),
        "decode_seconds": round(stamps["decoded"] - stamps["sampled"], 2),
        "video_seconds": round(stamps["decoded"] - stamps["start"], 2),
        "peak_vram_gb": round(torch.cuda.max_memory_allocated() / GIB, 2) if cuda else None,
        "frames": list(frames.shape),
    }


def _load_pack():
    """The pack as ComfyUI imports it: a package named after its folder, so that its `nodes`
    subpackage does not shadow ComfyUI's own `nodes` module (which core nodes import)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("unison_pack", PACK / "__init__.py",
                                                  submodule_search_locations=[str(PACK)])
    module = importlib.util.module_from_spec(spec)
    sys.modules["unison_pack"] = module
    spec.loader.exec_module(module)
    return module


def _now(cuda: bool) -> float:
    if cuda:
        import torch

        torch.cuda.synchronize()
    return time.perf_counter()


def main(argv: list[str]) -> dict:
    comfy_dir, flags = argv[0], set(argv[1:])
    sys.path[:0] = [comfy_dir, str(PACK)]  # ComfyUI's `nodes` module first
    from comfy.cli_args import args

    args.lowvram = "--lowvram" in flags  # read when comfy.model_management is first imported
    args.cpu = "--dry-run" in flags
    import torch

    with torch.inference_mode():  # as ComfyUI runs its nodes
        return run("--dry-run" in flags)


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:])))
