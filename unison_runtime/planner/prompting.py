"""Chat messages for the Qwen planner: the plain planning turn and the turn with media attached.

Planning and hidden states use the request's prompt as one plain user turn, with `<IMGPAD>` /
`<VIDPAD>` left in as text (DESIGN §3–4). Answering re-runs the model with the media itself
(`media_turn`: images after the text as the reference does; videos in place).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MediaBudget:
    """How much of each medium the answering model sees. Pixel bounds left None are the
    processor's own (Qwen2.5-VL's defaults, as the reference uses them); set them to lower the
    cost. Videos are sampled at `video_fps`, at most `video_max_frames` frames over the clip."""

    image_min_pixels: int | None = None
    image_max_pixels: int | None = None
    video_min_pixels: int | None = None
    video_max_pixels: int | None = None
    video_fps: float = 2.0
    video_max_frames: int = 32


def plain_turn(prompt: str, system: str | None = None) -> list[dict]:
    """A user turn with the prompt as plain text (pads stay text tokens)."""
    messages = [{"role": "system", "content": system}] if system else []
    return messages + [{"role": "user", "content": prompt}]


def media_turn(request) -> list[dict]:
    """The answering turn for a parsed request.

    Images only: as the reference builds it, the prompt as text with its pad tokens kept, then
    the images (the reference attaches its first image; every one is attached here). With a
    video (the reference cannot answer about videos): each item in place of its marker. A pad the
    user typed stays its pad token with no media attached, as the reference keeps it; Qwen's own
    vision tokens typed as text are escaped.
    """
    from ..request import escape_placeholders

    kinds = request.media_kinds
    if "video" not in kinds:
        return [{"role": "user", "content": [{"type": "text", "text": request.prompt}]
                 + [{"type": "image"} for _ in kinds]}]
    parts: list[dict] = []
    position = 0
    for item in request.media:  # `###file###` or a node's `{name}`, in order
        at = request.text.index(item.marker, position)
        if request.text[position:at]:
            parts.append({"type": "text", "text": escape_placeholders(request.text[position:at])})
        parts.append({"type": item.kind})
        position = at + len(item.marker)
    if request.text[position:]:
        parts.append({"type": "text", "text": escape_placeholders(request.text[position:])})
    return [{"role": "user", "content": parts}]


def render(processor, messages: list[dict], add_generation_prompt: bool) -> str:
    """The chat template applied as text (the processor's template, else the tokenizer's)."""
    target = processor if getattr(processor, "chat_template", None) else processor.tokenizer
    return target.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)
