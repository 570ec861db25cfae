"""Tiny projector checkpoints in the release's formats (DESIGN §4).

Sizes match the other tiny models: the tiny Qwen2.5-VL planner's hidden size and the tiny UMT5
text encoder's d_model. Three files, the same weights each:
- `layout.PROJECTOR` (`projector/projector.pth`): release key names, as users get it;
- `projector/projector_ddp.pth`: keys prefixed `module.`, as saved from a DDP training run;
- `projector/projector.safetensors`.
"""

from __future__ import annotations

from pathlib import Path

from .. import layout

TINY_PLANNER_HIDDEN = 64  # tiny Qwen2.5-VL hidden_size
TINY_TEXT_WIDTH = 32      # tiny UMT5 d_model
DDP_FILE = "projector/projector_ddp.pth"
SAFETENSORS_FILE = "projector/projector.safetensors"


def build(out_dir: str | Path, seed: int) -> list[Path]:
    """Write the three projector files under `out_dir`; returns their paths."""
    import torch
    from safetensors.torch import save_file

    out = Path(out_dir)
    state = random_state_dict(seed)
    main, ddp, safe = out / layout.PROJECTOR, out / DDP_FILE, out / SAFETENSORS_FILE
    main.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, main)
    torch.save({f"module.{k}": v for k, v in state.items()}, ddp)
    save_file(state, str(safe))
    return [main, ddp, safe]


def random_state_dict(seed: int) -> dict:
    """Seeded random weights under the release key names (contiguous, float32)."""
    import torch

    from ..projector import new_projector

    generator = torch.Generator().manual_seed(seed)
    projector = new_projector(TINY_PLANNER_HIDDEN, TINY_TEXT_WIDTH)
    state = {}
    for name, tensor in projector.state_dict().items():
        noise = torch.randn(tensor.shape, generator=generator)
        # LayerNorm weights stay near 1 (default init is exactly 1/0, which would hide a
        # loader that forgot to load them); linear weights at a fan-in scale.
        if name.startswith("ln_") and name.endswith("weight"):
            state[name] = 1.0 + 0.1 * noise
        elif tensor.ndim == 2:
            state[name] = noise / tensor.shape[1] ** 0.5
        else:
            state[name] = 0.1 * noise
    return {k: v.contiguous() for k, v in state.items()}
