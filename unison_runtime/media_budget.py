"""The per-request media budget: how many pixels decoding a request's media would cost, read from
file headers alone, and refused before any decoding when over `media.MEDIA_PIXEL_BUDGET`.

Each distinct file counts once (a request may name one file many times; it is decoded once), an
image at its size, a video as the frames that will be kept (at most `max_frames`) at the size they
are decoded at (`max_side`). A video whose frames exceed `media.MAX_VIDEO_FRAME_PIXELS` is refused
here too, and an image PIL considers a decompression bomb.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from .errors import MediaError
from .facts import MAX_FRAMES


@dataclass(frozen=True)
class MediaHeader:
    """One distinct media file as decoding would see it."""

    path: Path
    kind: str  # "image" | "video"
    width: int  # as decoded (a video scaled down to `max_side`)
    height: int
    frames: int  # frames kept (1 for an image)

    @property
    def pixels(self) -> int:
        return self.width * self.height * self.frames

    def describe(self) -> str:
        frames = f" x {self.frames} frames" if self.kind == "video" else ""
        return f"{self.path.name} ({self.width}x{self.height}{frames})"


def read_header(path: str | os.PathLike, kind: str, max_frames: int | None = MAX_FRAMES,
                max_side: int | None = None) -> MediaHeader:
    """The decode cost of one file, from its header (no pixel is decoded)."""
    from . import media

    path = Path(path)
    if kind == "video":
        width, height, count = media.video_header(path)
        media._check_frame_pixels(width, height, path)
        size = media._decode_size(width, height, max_side)
        if size is not None:
            width, height = size["width"], size["height"]
        frames = count if max_frames is None else min(count, max_frames)
        return MediaHeader(path, kind, width, height, max(frames, 1))
    width, height = media.image_header(path)
    return MediaHeader(path, kind, width, height, 1)


def check_media_budget(items: Iterable, budget: int | None = None, max_frames: int | None = MAX_FRAMES,
                       max_side: int | None = None) -> list[MediaHeader]:
    """Headers of the distinct files among `items` (objects with `.path` and `.kind`, such as
    `request.MediaItem`, or `(path, kind)` pairs; items without a path were given as pixels and
    cost nothing more); MediaError if their pixels exceed `budget` (default `media.MEDIA_PIXEL_BUDGET`)."""
    from . import media

    limit = media.MEDIA_PIXEL_BUDGET if budget is None else budget
    headers: dict[tuple[str, str], MediaHeader] = {}
    for item in items:
        path, kind = (item.path, item.kind) if hasattr(item, "path") else item
        if path is None:  # media given as pixels are decoded already
            continue
        key = (os.path.realpath(path), kind)
        if key not in headers:
            headers[key] = read_header(path, kind, max_frames=max_frames, max_side=max_side)
    total = sum(h.pixels for h in headers.values())
    if total > limit:
        largest = sorted(headers.values(), key=lambda h: h.pixels, reverse=True)[:3]
        raise MediaError(
            f"the request's media would decode to {total:,} pixels ({len(headers)} distinct file(s); "
            f"largest: {', '.join(h.describe() for h in largest)}); the limit is {limit:,} pixels "
            "per request: use fewer, smaller or shorter files")
    return list(headers.values())
