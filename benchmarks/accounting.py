"""Memory accounting on the real architectures without a GPU or weights.

Qwen2.5-VL-3B (the merged Unison planner: untied head), the UMT5-XXL encoder, Wan2.1-VACE-1.3B and
the Wan 2.1 VAE are built from their real configs on the `meta` device (shapes only: no RAM), in
the dtypes a GPU run uses (bf16; the VAE and diffusers' fp32 modules in fp32). The model manager's
own placement logic then runs each task's sequence of model uses under each offload policy on a
fake card: free memory = card − the weights the manager placed there. Moves are recorded, not
performed. The peak of resident weights (and of weights + the running module's working memory) is
what each policy costs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

GIB = 1024**3
CARDS_GB = (8, 12, 16, 24)
POLICIES = ("auto", "keep", "offload", "sequential")

# Qwen2.5-VL-3B-Instruct's config.json (text and vision sizes).
QWEN25_VL_3B = {
    "vocab_size": 151936, "hidden_size": 2048, "intermediate_size": 11008, "num_hidden_layers": 36,
    "num_attention_heads": 16, "num_key_value_heads": 2, "max_position_embeddings": 128000,
    "rope_theta": 1000000.0, "rope_scaling": {"type": "mrope", "mrope_section": [16, 24, 24]},
    "vision_config": {"depth": 32, "hidden_size": 1280, "intermediate_size": 3420, "num_heads": 16,
                      "out_hidden_size": 2048, "patch_size": 14, "spatial_merge_size": 2,
                      "temporal_patch_size": 2, "window_size": 112, "fullatt_block_indexes": [7, 15, 23, 31]},
}


def build_meta_models(dtype_name: str = "bfloat16") -> dict[str, Any]:
    """{"planner": LoadedQwen, "generator": GeneratorModels} with meta weights of the real sizes."""
    import torch
    from diffusers import AutoencoderKLWan, WanVACETransformer3DModel
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration, UMT5Config, UMT5EncoderModel

    from unison_runtime.generator.loading import GeneratorModels, _keep_fp32, _shipped_config
    from unison_runtime.planner.qwen import LoadedQwen

    dtype = getattr(torch, dtype_name)
    with torch.device("meta"):
        qwen = Qwen2_5_VLForConditionalGeneration(Qwen2_5_VLConfig(**QWEN25_VL_3B, tie_word_embeddings=False))
        transformer = WanVACETransformer3DModel.from_config(_shipped_config("transformer"))
        vae = AutoencoderKLWan.from_config(_shipped_config("vae"))
        t5 = UMT5EncoderModel(UMT5Config(**_shipped_config("text_encoder")))
    qwen.to(dtype)
    transformer.to(dtype)
    _keep_fp32(transformer, dtype)
    t5.to(dtype)
    generator = GeneratorModels(transformer=transformer, vae=vae, text_encoder=t5, tokenizer=None,
                                scheduler_config={})
    return {"planner": LoadedQwen(model=qwen, processor=None, untied_head=True, source="meta"),
            "generator": generator}


def task_uses(task: str) -> list[tuple[str, tuple[str, ...]]]:
    """The model-use blocks one run of `task` opens, in order (as `pipeline.run` does)."""
    from unison_runtime.plan import Plan

    uses = [("planner", ())]  # plan (model planner) or answer; hidden states for the projector
    if Plan(task=task).is_understanding:
        return uses
    return uses + [("generator", ("text_encoder",)), ("generator", ("vae",)),
                   ("generator", ("transformer",)), ("generator", ("vae",))]


@dataclass
class Outcome:
    policy: str
    task: str
    card_gb: int
    peak_weights: int = 0      # most weight bytes resident on the card at once
    peak_with_work: int = 0    # ... plus the working memory of the module running then
    placements: dict | None = None
    error: str | None = None
    notes: list | None = None


class FakeCard:
    def __init__(self, capacity: int):
        from unison_runtime.models import ModelManager

        self.capacity = capacity
        self.manager = ModelManager(mover=lambda module, device: None, free_memory=self.free)

    def free(self, device: str) -> int:
        return self.capacity - self.manager.resident_bytes(device)


def simulate(models: dict[str, Any], policy: str, task: str, card_gb: int, runs: int = 2) -> Outcome:
    """Load both models (as ComfyUI's loader nodes do) and run `task` `runs` times on the card."""
    from unison_runtime.errors import ModelLoadError
    from unison_runtime.models import modules_of

    card = FakeCard(card_gb * GIB)
    manager = card.manager
    outcome = Outcome(policy, task, card_gb)
    try:
        for kind, value in models.items():
            manager.get(kind, kind, lambda device, dtype, v=value: v, dtype="bfloat16", device="cuda",
                        offload_policy=policy)
        for _ in range(runs):
            for kind, names in task_uses(task):
                value = models[kind]
                work = value.working_bytes() if hasattr(value, "working_bytes") else {}
                with manager.use(value, *names):
                    running = names or tuple(modules_of(value))
                    on_card = manager.resident_bytes("cuda")
                    extra = max((work.get(n, 0) for n in running), default=0)
                    outcome.peak_with_work = max(outcome.peak_with_work, on_card + extra)
    except ModelLoadError as err:
        outcome.error = str(err)
    outcome.peak_weights = manager.peak_resident_bytes
    outcome.placements = {kind: manager.placement_of(value) for kind, value in models.items()}
    outcome.notes = manager.take_notes()
    return outcome


def model_sizes(models: dict[str, Any]) -> dict[str, int]:
    from unison_runtime.models import module_bytes, modules_of

    sizes = {}
    for kind, value in models.items():
        for name, module in modules_of(value).items():
            sizes[f"{kind}.{name}" if kind != "planner" else "planner"] = module_bytes(module)
    return sizes


def accounting_table(models: dict[str, Any] | None = None) -> dict[str, Any]:
    """Sizes, working-memory estimates and policy × card outcomes for a video and a text task."""
    from unison_runtime.generator.memory import transformer_bytes, vae_bytes

    models = models or build_meta_models()
    generator = models["generator"]
    tconf, vconf = generator.transformer.config, generator.vae.config
    estimates = {
        "dit_separate_cfg": transformer_bytes(tconf, 832, 480, 81, batch=1),
        "dit_batched_cfg": transformer_bytes(tconf, 832, 480, 81, batch=2),
        "vae_decode_untiled": vae_bytes(vconf, 832, 480, 81, tiled=False),
        "vae_decode_tiled": vae_bytes(vconf, 832, 480, 81, tiled=True),
    }
    rows = []
    for task in ("text_to_video", "text_understanding"):
        for policy in POLICIES:
            for card in CARDS_GB:
                o = simulate(models, policy, task, card)
                rows.append({"task": task, "policy": policy, "card_gb": card,
                             "peak_weights_gb": round(o.peak_weights / GIB, 2),
                             "peak_with_work_gb": round(o.peak_with_work / GIB, 2),
                             "placements": o.placements, "error": o.error})
    return {"sizes_gb": {k: round(v / GIB, 2) for k, v in model_sizes(models).items()},
            "estimates_gb": {k: round(v / GIB, 2) for k, v in estimates.items()}, "rows": rows}
