"""Chat messages for the Qwen planner: the plain planning turn and the turn with media attached.

Planning and hidden states use the request's prompt as one plain user turn, with `<IMGPAD>` /
`<VIDPAD>` left in as text (DESIGN §3–4). Answering re-runs the model with the media itself:
each pad token becomes an image or video content part, in order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import RequestError

PAD_TO_KIND = {"<IMGPAD>": "image", "<VIDPAD>": "video"}
_PAD_RE = re.compile("(" + "|".join(map(re.escape, PAD_TO_KIND)) + ")")


@dataclass(frozen=True)
class MediaBudget:
    """How much of each medium the answering model sees (pixels per image / video frame)."""

    image_min_pixels: int = 4 * 28 * 28
    image_max_pixels: int = 1024 * 28 * 28
    video_min_pixels: int = 4 * 28 * 28
    video_max_pixels: int = 256 * 28 * 28
    video_fps: float = 2.0
    video_max_frames: int = 32


def plain_turn(prompt: str, system: str | None = None) -> list[dict]:
    """A user turn with the prompt as plain text (pads stay text tokens)."""
    messages = [{"role": "system", "content": system}] if system else []
    return messages + [{"role": "user", "content": prompt}]


def media_turn(prompt: str, media_kinds: tuple[str, ...]) -> list[dict]:
    """A user turn whose content interleaves text with one image/video part per pad token."""
    parts: list[dict] = []
    kinds = []
    for piece in _PAD_RE.split(prompt):
        if piece in PAD_TO_KIND:
            kinds.append(PAD_TO_KIND[piece])
            parts.append({"type": PAD_TO_KIND[piece]})
        elif piece:
            parts.append({"type": "text", "text": piece})
    if tuple(kinds) != tuple(media_kinds):
        raise RequestError(f"the prompt's media placeholders {kinds} do not match the request's media "
                           f"{list(media_kinds)}")
    return [{"role": "user", "content": parts}]


def render(processor, messages: list[dict], add_generation_prompt: bool) -> str:
    """The chat template applied as text (the processor's template, else the tokenizer's)."""
    target = processor if getattr(processor, "chat_template", None) else processor.tokenizer
    return target.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)
