#!/usr/bin/env python3
"""Write the template thumbnails and the pack icon.

- `example_workflows/<stem>.jpg` beside each example workflow: ComfyUI's template browser shows it
  as the card's picture. Each card is the workflow's sample media (first frame for videos) or a
  plain panel for text-only workflows, with the task's name on a band; 320x192, under 30 KB.
- `web/icon.png`: the pack's icon (pyproject `[tool.comfy] Icon`), 128x128.

Both are committed; re-run only to change them (needs Pillow; videos are read with PyAV):

    .venv/bin/python scripts/make_thumbnails.py
"""

from __future__ import annotations

import importlib.util
import re
import sys
import textwrap
from pathlib import Path

PACK = Path(__file__).resolve().parents[1]
OUT = PACK / "example_workflows"
MEDIA = OUT / "input"
ICON = PACK / "web" / "icon.png"
W, H = 320, 192
MAX_BYTES = 30_000
ACCENT = (92, 62, 196)
INK = (245, 245, 250)


def _workflows():
    spec = importlib.util.spec_from_file_location("make_example_workflows", PACK / "scripts" / "make_example_workflows.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module.WORKFLOWS


def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType sizes
        return ImageFont.load_default()


def _first_frame(path: Path):
    from PIL import Image

    if path.suffix.lower() != ".mp4":
        return Image.open(path).convert("RGB")
    import av

    with av.open(str(path)) as container:
        frame = next(container.decode(video=0))
        return frame.to_image().convert("RGB")


def _media_of(workflow) -> list[Path]:
    names = []
    for node in workflow.nodes:
        if node.type in ("LoadImage", "LoadImageMask"):
            names.append(node.widgets["image"])
        if node.type == "LoadVideo":
            names.append(node.widgets["file"])
        if node.type == "UnisonPlanner":
            names.extend(re.findall(r"###(.+?)###", node.widgets.get("request", "")))
    return [MEDIA / n for n in names if (MEDIA / n).is_file()]


def _request_of(workflow) -> str:
    return next(n.widgets["request"] for n in workflow.nodes if n.type == "UnisonPlanner")


MARGIN = 12
MISSING = "\U0010fffd"  # a private-use code point: no font has it, so it draws the font's "missing" box
ASCII_FOR = {"→": "->", "“": '"', "”": '"', "‘": "'", "’": "'", "…": "...", "×": "x"}


def has_glyph(font, char: str) -> bool:
    """Whether `font` draws `char` as itself, not as its missing-glyph box."""
    if char.isspace():
        return True
    def pixels(c):
        mask = font.getmask(c)
        return mask.size, bytes(mask)

    return pixels(char) != pixels(MISSING)


def drawable(text: str, font) -> str:
    """`text` with each character the font lacks spelled in ASCII (the default font has no arrow)."""
    return "".join(c if has_glyph(font, c) else ASCII_FOR.get(c, "?") for c in text)


def wrap_to_width(text: str, font, width: int) -> list[str]:
    lines: list[str] = []
    for word in text.split():
        if lines and font.getlength(f"{lines[-1]} {word}") <= width:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    return lines


def fit(text: str, width: int, sizes: tuple[int, ...], max_lines: int):
    """(font, lines): the largest size at which `text` wraps into `max_lines` lines of `width` px."""
    for size in sizes:
        font = _font(size)
        lines = wrap_to_width(drawable(text, font), font, width)
        if len(lines) <= max_lines and all(font.getlength(line) <= width for line in lines):
            return font, lines
    raise ValueError(f"{text!r} does not fit a {width}px thumbnail in {max_lines} lines")


def layout(workflow) -> list[tuple[str, tuple[int, int], str, object]]:
    """Every text drawn on the card: (role, (x, y), line, font). The title sits on a band at the bottom
    (one line, or two smaller ones); a text-only card shows the request above it."""
    title = workflow.title.removeprefix("Unison: ")
    font, lines = fit(title, W - 2 * MARGIN, (20, 18, 16), 2)
    line_h = font.size + 6
    band_top = H - len(lines) * line_h - 12
    items = [("title", (MARGIN, band_top + 6 + i * line_h), line, font) for i, line in enumerate(lines)]
    if not _media_of(workflow):  # text-only: the request itself, as the user would type it
        request = re.sub(r"\s*(\{\w+\}|###.+?###)", "", _request_of(workflow))
        rows = max(1, (band_top - 16) // 26)
        font, lines = fit(f"“{request}”", W - 2 * 16, (18, 16, 14), rows)
        items += [("request", (16, 16 + i * 26), line, font) for i, line in enumerate(lines)]
    return items


def card(workflow):
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (W, H), (30, 28, 44))
    media = _media_of(workflow)
    draw = ImageDraw.Draw(image)
    if media:
        tiles = [_first_frame(p) for p in media[:2]]
        tile_w = W // len(tiles)
        for i, tile in enumerate(tiles):
            tile = tile.resize((tile_w, int(tile.height * tile_w / tile.width)), Image.LANCZOS)
            image.paste(tile.crop((0, 0, tile_w, min(tile.height, H))), (i * tile_w, 0))
    items = layout(workflow)
    draw.rectangle((0, items[0][1][1] - 6, W, H), fill=ACCENT)  # the title's band
    for role, xy, line, font in items:
        draw.text(xy, line, font=font, fill=INK if role == "title" else (200, 200, 220))
    return image


def icon():
    from PIL import Image, ImageDraw

    size = 128
    image = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle((4, 4, size - 4, size - 4), radius=24, fill=ACCENT + (255,))
    # Two overlapping rings: the planner and the generator, "in unison".
    draw.ellipse((22, 34, 82, 94), outline=INK + (255,), width=8)
    draw.ellipse((46, 34, 106, 94), outline=(255, 196, 64, 255), width=8)
    return image


def main() -> int:
    for workflow in _workflows():
        path = OUT / f"{workflow.name}.jpg"
        image = card(workflow)
        for quality in (85, 75, 65, 55):
            image.save(path, "JPEG", quality=quality, optimize=True)
            if path.stat().st_size < MAX_BYTES:
                break
        print(f"{path.relative_to(PACK)}: {path.stat().st_size} bytes")
    icon().save(ICON, "PNG", optimize=True)
    print(f"{ICON.relative_to(PACK)}: {ICON.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
