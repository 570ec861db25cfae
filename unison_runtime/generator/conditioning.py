"""Stage-two text conditioning (DESIGN §5): what the DiT's cross-attention sees.

- Positive context: T5 of the request text (its `<IMGPAD>`/`<VIDPAD>` markers left in), trimmed to
  the real token count, then the projector's 4 tokens appended, then zero rows up to 2048 tokens
  (Unison raised the DiT's text length from Wan's 512 to 2048). Without a projector the context is
  T5 alone (the paper's no-alignment ablation).
- Negative context: T5 of the negative prompt, zero-padded to the same length. An empty negative
  prompt means Wan 2.1's standard `sample_neg_prompt`.

The transformer uses no text attention mask, so the zero rows take part in attention; padding to
2048 (not 512) is part of the model's behaviour, not a convenience.
"""

from __future__ import annotations

import html
import re
from typing import TYPE_CHECKING

from ..errors import GenerationError
from ..facts import CONTEXT_LENGTH

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from .loading import GeneratorModels

# Wan 2.1's `wan/configs/shared_config.py: sample_neg_prompt`.
DEFAULT_NEGATIVE_PROMPT = (
    "色调艳丽，过曝，静态，细节模糊不清，字幕，风格，作品，画作，画面，静止，整体发灰，最差质量，低质量，"
    "JPEG压缩残留，丑陋的，残缺的，多余的手指，画得不好的手部，画得不好的脸部，畸形的，毁容的，形态畸形的肢体，"
    "手指融合，静止不动的画面，杂乱的背景，三条腿，背景人很多，倒着走"
)
T5_MAX_TOKENS = 512        # Wan's T5 text_len: longer prompts are truncated there
PROJECTOR_TOKENS = 4


def clean_prompt(text: str) -> str:
    """Wan's prompt cleaning ("whitespace"): ftfy fix, HTML unescape, collapse whitespace."""
    try:
        import ftfy

        text = ftfy.fix_text(text)
    except ImportError:  # pragma: no cover - ftfy is a declared dependency
        pass
    text = html.unescape(html.unescape(text)).strip()
    return re.sub(r"\s+", " ", text).strip()


def resolve_negative_prompt(negative_prompt: str | None) -> str:
    """An empty or missing negative prompt means Wan's default one."""
    if negative_prompt is None or not negative_prompt.strip():
        return DEFAULT_NEGATIVE_PROMPT
    return negative_prompt


def encode_text(models: "GeneratorModels", text: str) -> "torch.Tensor":
    """T5 hidden states of `text`, trimmed to its real length: `[L, W]` float32 on the CPU.

    L counts the text's tokens plus the end token (at most 512, Wan's T5 length).
    """
    return encode_texts(models, [text])[0]


def encode_texts(models: "GeneratorModels", texts: list[str]) -> list["torch.Tensor"]:
    """`encode_text` of several texts in one text-encoder block: under `offload` the 11 GB encoder
    moves to the device and back once, not once per text. Each is encoded alone (no padding), so
    the results equal separate calls."""
    import torch

    from ..models import get_manager

    ids = [
        models.tokenizer(clean_prompt(text), max_length=T5_MAX_TOKENS, truncation=True,
                         add_special_tokens=True, return_tensors="pt").input_ids
        for text in texts
    ]
    out = []
    with get_manager().use(models, "text_encoder"):
        encoder = models.text_encoder
        device = next(encoder.parameters()).device
        for one in ids:
            with torch.no_grad():
                hidden = encoder(input_ids=one.to(device), attention_mask=torch.ones_like(one, device=device))
            out.append(hidden.last_hidden_state[0].float().cpu())
    return out


def build_context(
    t5_tokens: "torch.Tensor",
    projector_tokens: "torch.Tensor | None" = None,
    total_len: int = CONTEXT_LENGTH,
) -> "torch.Tensor":
    """`[1, total_len, W]`: T5 tokens, then the projector's tokens (if any), then zeros."""
    import torch

    if t5_tokens.ndim != 2:
        raise GenerationError(f"T5 tokens must be [L, W]; got shape {tuple(t5_tokens.shape)}")
    parts = [t5_tokens.float()]
    if projector_tokens is not None:
        if projector_tokens.ndim == 3 and projector_tokens.shape[0] == 1:
            projector_tokens = projector_tokens[0]
        if projector_tokens.ndim != 2 or projector_tokens.shape[-1] != t5_tokens.shape[-1]:
            raise GenerationError(
                f"projector tokens must be [N, {t5_tokens.shape[-1]}] (the T5 width); "
                f"got shape {tuple(projector_tokens.shape)}"
            )
        parts.append(projector_tokens.to(device=t5_tokens.device, dtype=torch.float32))
    tokens = torch.cat(parts, dim=0)
    if tokens.shape[0] > total_len:
        raise GenerationError(
            f"the text context has {tokens.shape[0]} tokens; at most {total_len} fit the DiT's text length"
        )
    context = tokens.new_zeros(1, total_len, tokens.shape[-1])
    context[0, : tokens.shape[0]] = tokens
    return context


def encode_context(
    models: "GeneratorModels",
    text: str,
    projector_tokens: "torch.Tensor | None" = None,
    total_len: int = CONTEXT_LENGTH,
) -> "torch.Tensor":
    """The positive context for `text`: `build_context(encode_text(models, text), projector_tokens)`."""
    return build_context(encode_text(models, text), projector_tokens, total_len)


def negative_context(
    models: "GeneratorModels", negative_prompt: str | None = None, total_len: int = CONTEXT_LENGTH
) -> "torch.Tensor":
    """The negative context: T5 of the negative prompt (default when empty), zero-padded.

    Its T5 tokens are kept on the models (by text), so the usual fixed negative prompt is encoded
    once per loaded generator, not once per run."""
    text = resolve_negative_prompt(negative_prompt)
    tokens = _negative_tokens(models, text)
    if tokens is None:
        tokens = _remember_negative(models, text, encode_text(models, text))
    return build_context(tokens, None, total_len)


def encode_contexts(
    models: "GeneratorModels",
    text: str,
    projector_tokens: "torch.Tensor | None" = None,
    negative_prompt: str | None = None,
    total_len: int = CONTEXT_LENGTH,
) -> tuple["torch.Tensor", "torch.Tensor"]:
    """(positive, negative) contexts; whatever T5 must encode is encoded in one device block."""
    negative = resolve_negative_prompt(negative_prompt)
    cached = _negative_tokens(models, negative)
    encoded = encode_texts(models, [text] if cached is not None else [text, negative])
    if cached is None:
        cached = _remember_negative(models, negative, encoded[1])
    return build_context(encoded[0], projector_tokens, total_len), build_context(cached, None, total_len)


_NEGATIVES_KEPT = 8


def _negative_tokens(models, text: str):
    return getattr(models, "reuse", {}).get(("negative", text))


def _remember_negative(models, text: str, tokens):
    reuse = getattr(models, "reuse", None)
    if reuse is not None:
        negatives = [k for k in reuse if k[0] == "negative"]
        for old in negatives[: max(0, len(negatives) - _NEGATIVES_KEPT + 1)]:
            del reuse[old]
        reuse[("negative", text)] = tokens
    return tokens
