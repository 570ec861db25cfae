"""The Unison alignment projector (DESIGN §4): planner hidden states → 4 text-context tokens.

    ln_in LayerNorm(H) → net.0 Linear(H→H) → GELU → Dropout → net.3 Linear(H→W) → ln_out LayerNorm(W)
    → pad with zeros / truncate the sequence to 56 → seq_adjust Linear(56→4) across the sequence

H is the planner's hidden size (2048 for Qwen2.5-VL-3B), W the text encoder's width (4096 for
UMT5-XXL). The attribute names are the released `projector.pth` state-dict names. The input is
the planner's last hidden state with the first token already dropped (the caller's job);
`forward` casts it to the projector's dtype and device (float32 by default).

torch is imported inside functions; `Projector` is built on first use by `_projector_class()`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .errors import GenerationError, ModelLoadError
from .state_dicts import read_state_dict

SEQ_LEN = 56
NUM_TOKENS = 4
STATE_DICT_SUFFIXES = (".pth", ".pt", ".bin", ".ckpt")
SAFETENSORS_SUFFIX = ".safetensors"

# Key → shape as a function of (H, W, seq_len, num_tokens).
_SHAPES = {
    "ln_in.weight": lambda h, w, s, n: (h,),
    "ln_in.bias": lambda h, w, s, n: (h,),
    "net.0.weight": lambda h, w, s, n: (h, h),
    "net.0.bias": lambda h, w, s, n: (h,),
    "net.3.weight": lambda h, w, s, n: (w, h),
    "net.3.bias": lambda h, w, s, n: (w,),
    "ln_out.weight": lambda h, w, s, n: (w,),
    "ln_out.bias": lambda h, w, s, n: (w,),
    "seq_adjust.weight": lambda h, w, s, n: (n, s),
    "seq_adjust.bias": lambda h, w, s, n: (n,),
}
PROJECTOR_KEYS = tuple(_SHAPES)

_CLASS = None


def _projector_class():
    """Define `Projector` once torch is wanted (keeps `import unison_runtime.projector` cheap)."""
    global _CLASS
    if _CLASS is not None:
        return _CLASS
    import torch
    from torch import nn

    class Projector(nn.Module):
        """`[B, L, planner_hidden]` → `[B, num_tokens, text_width]`."""

        def __init__(self, planner_hidden: int, text_width: int, seq_len: int = SEQ_LEN,
                     num_tokens: int = NUM_TOKENS, dropout: float = 0.0):
            super().__init__()
            self.planner_hidden, self.text_width = planner_hidden, text_width
            self.seq_len, self.num_tokens = seq_len, num_tokens
            self.ln_in = nn.LayerNorm(planner_hidden)
            self.net = nn.Sequential(
                nn.Linear(planner_hidden, planner_hidden),
                nn.GELU(),
                nn.Dropout(dropout),
                nn.Linear(planner_hidden, text_width),
            )
            self.ln_out = nn.LayerNorm(text_width)
            self.seq_adjust = nn.Linear(seq_len, num_tokens)

        def forward(self, hidden: torch.Tensor) -> torch.Tensor:
            if hidden.ndim != 3 or hidden.shape[-1] != self.planner_hidden or hidden.shape[1] == 0:
                raise GenerationError(
                    f"projector input must be [batch, tokens>0, {self.planner_hidden}], "
                    f"got {list(hidden.shape)}"
                )
            weight = self.ln_in.weight
            x = self.ln_out(self.net(self.ln_in(hidden.to(device=weight.device, dtype=weight.dtype))))
            x = self._fit_length(x)
            # seq_adjust mixes tokens: put the sequence axis last, project it, put it back.
            return self.seq_adjust(x.transpose(1, 2)).transpose(1, 2)

        def _fit_length(self, x: torch.Tensor) -> torch.Tensor:
            length = x.shape[1]
            if length >= self.seq_len:
                return x[:, : self.seq_len]
            return torch.nn.functional.pad(x, (0, 0, 0, self.seq_len - length))

        def extra_repr(self) -> str:
            return f"planner_hidden={self.planner_hidden}, text_width={self.text_width}, seq_len={self.seq_len}"

    _CLASS = Projector
    return Projector


def new_projector(planner_hidden: int, text_width: int, seq_len: int = SEQ_LEN, num_tokens: int = NUM_TOKENS):
    """A freshly initialised projector (for the demo models and tests)."""
    return _projector_class()(planner_hidden, text_width, seq_len, num_tokens)


def __getattr__(name: str):
    # `from unison_runtime.projector import Projector` works, importing torch only then.
    if name == "Projector":
        return _projector_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# -- loading ---------------------------------------------------------------------------------
def load_projector(path: str | Path, planner_hidden: int | None = None, text_width: int | None = None,
                   device: str = "auto", dtype: str = "float32"):
    """Load a projector checkpoint (`.pth` / `.safetensors`) through the model manager.

    The sizes come from the checkpoint; `planner_hidden` and `text_width`, when given, must match
    them (they are the loaded planner's hidden size and text encoder's width).
    """
    from .models import get_manager

    file = _checked_file(path)
    stat = file.stat()

    def loader(load_device: str, load_dtype: str):
        return _build_from_file(file, load_device, load_dtype)

    projector = get_manager().get(
        "projector", str(file), loader, dtype=dtype, device=device,
        options={"file": (stat.st_size, stat.st_mtime_ns)},  # a replaced file is loaded again
    )
    _check_widths(projector, file, planner_hidden, text_width)
    return projector


def project(projector, hidden_states) -> Any:
    """The projector's tokens for a planner's hidden states: `[1, L, H]` → `[1, 4, W]` float32 on
    the CPU, computed wherever the model manager places the projector."""
    import torch

    from .models import get_manager

    with get_manager().use(projector), torch.no_grad():
        param = next(projector.parameters())
        tokens = projector(hidden_states.to(device=param.device, dtype=param.dtype))
    return tokens.float().cpu()


def _checked_file(path: str | Path) -> Path:
    file = Path(path).expanduser().resolve()
    if not file.is_file():
        raise ModelLoadError(f"projector file not found: {file}")
    allowed = STATE_DICT_SUFFIXES + (SAFETENSORS_SUFFIX,)
    if file.suffix.lower() not in allowed:
        raise ModelLoadError(f"{file}: unsupported projector file type; allowed: {', '.join(allowed)}")
    return file


def _build_from_file(file: Path, device: str, dtype: str):
    from .models import torch_dtype

    state = read_state_dict(file, strip_ddp=True)
    h, w, seq_len, num_tokens = _sizes_of(state, file)
    projector = new_projector(h, w, seq_len, num_tokens)
    projector.load_state_dict(state, strict=True)
    projector.to(device=device, dtype=torch_dtype(dtype))
    return projector.eval().requires_grad_(False)


def _sizes_of(state: dict[str, Any], file: Path) -> tuple[int, int, int, int]:
    """(H, W, seq_len, num_tokens) from the tensor shapes; every key and shape checked."""
    present = set(state)
    if not present & set(PROJECTOR_KEYS):
        raise ModelLoadError(
            f"{file} is not a Unison projector checkpoint: none of its {len(state)} tensors "
            f"({_names(sorted(present))}) has a projector name ({_names(PROJECTOR_KEYS)})"
        )
    missing = [k for k in PROJECTOR_KEYS if k not in present]
    unexpected = sorted(present - set(PROJECTOR_KEYS))
    if missing or unexpected:
        raise ModelLoadError(
            f"{file} does not match the projector layout: missing {_names(missing) or 'none'}; "
            f"unexpected {_names(unexpected) or 'none'}"
        )
    matrices = [k for k in ("net.3.weight", "seq_adjust.weight") if state[k].ndim != 2]
    if matrices:
        raise ModelLoadError(f"{file} has inconsistent projector shapes: {_names(matrices)} must be matrices")
    w, h = state["net.3.weight"].shape
    num_tokens, seq_len = state["seq_adjust.weight"].shape
    wrong = [
        f"{k} {list(state[k].shape)} (expected {list(shape(h, w, seq_len, num_tokens))})"
        for k, shape in _SHAPES.items()
        if tuple(state[k].shape) != shape(h, w, seq_len, num_tokens)
    ]
    if wrong:
        raise ModelLoadError(f"{file} has inconsistent projector shapes: {'; '.join(wrong)}")
    return int(h), int(w), int(seq_len), int(num_tokens)


def _check_widths(projector, file: Path, planner_hidden: int | None, text_width: int | None) -> None:
    if planner_hidden is not None and planner_hidden != projector.planner_hidden:
        raise ModelLoadError(
            f"projector {file} takes planner hidden size {projector.planner_hidden}, "
            f"but the planner's hidden size is {planner_hidden}: they are not a matching pair"
        )
    if text_width is not None and text_width != projector.text_width:
        raise ModelLoadError(
            f"projector {file} produces width {projector.text_width}, "
            f"but the text encoder's width is {text_width}: they are not a matching pair"
        )


def _names(keys, limit: int = 6) -> str:
    keys = list(keys)
    shown = ", ".join(keys[:limit])
    return shown + (f", … ({len(keys) - limit} more)" if len(keys) > limit else "")
