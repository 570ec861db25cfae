"""Stage two: Wan2.1-VACE-1.3B on diffusers.

- `loading.load_generator(...) -> GeneratorModels` — any of the three on-disk layouts, cached by the
  model manager.
- `conditioning` — T5 context (+ projector tokens) padded to 2048 tokens, negative context.
- `inputs` — `GenerationInputs`, `SamplerSettings`, `check_inputs`.
- `sampling.generate(models, inputs, settings, callback=None)` — frames `[C, T, H, W]` in [-1, 1].
- `unipc` — Wan's flow-matching UniPC on a denoiser (`wan_schedule`, `sample`): the one solver, also
  driven by ComfyUI's model (`nodes.comfy_wan`).

Importing this package imports no heavy library; each submodule imports torch/diffusers inside
its functions.
"""

__all__ = ["checkpoints", "conditioning", "inputs", "loading", "native_t5", "sampling", "unipc"]
