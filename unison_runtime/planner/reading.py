"""What the rules planner reads from one request, in any language its lexicons hold: the stated
size, length and frame reference, which words name the output, and which file is the mask.

Sizes beyond 2048 pixels per side are scaled down keeping the aspect, and lengths beyond 241
frames clamped, each with a warning worded the same whatever language stated them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..facts import FPS, MAX_FRAMES, MAX_SIDE, MIN_SIDE
from ..request import Request
from .cues import MEDIA, Cues, amount_value, cues, fold, readable_scripts, scripts_in

# aspect ratio -> the size the planner writes for it (16:9 and 9:16 from the paper; rest ours)
ASPECT_SIZES = {
    (16, 9): (1280, 720), (9, 16): (720, 1280), (1, 1): (1024, 1024), (4, 3): (1024, 768),
    (3, 4): (768, 1024), (3, 2): (1152, 768), (2, 3): (768, 1152), (21, 9): (1680, 720),
}
# "<N>P" -> default size; 480P is 4:3 in the planner's data, the rest 16:9
P_SIZES = {360: (640, 360), 480: (640, 480), 540: (960, 540), 576: (1024, 576), 720: (1280, 720),
           1080: (1920, 1080), 1440: (2560, 1440), 2160: (3840, 2160)}
# "4s" written without a space; not after a letter or a dot ("mp4s", "v1.4s")
_BARE_SECONDS_RE = re.compile(r"(?<![0-9a-z\u00df-\u024f\u0400-\u04ff_.'’])(\d{1,6}(?:\.\d{1,3})?)s(?![0-9a-z])")
_CONTEXT = 24  # characters around a noun that say whether it names an input


@dataclass
class Reading:
    """What the rules read from one request."""

    text: str  # folded (lower case...), each media marker as "<mK>" (its spacing kept)
    cues: Cues  # of the languages whose scripts the text is written in
    size: tuple[int, int] | None = None
    frames: int | None = None
    frame_ref: str | None = None
    unread: list[str] = field(default_factory=list)  # scripts no lexicon reads ("Thai")
    notes: list[str] = field(default_factory=list)

    @property
    def prose(self) -> str:
        """The words alone, markers blanked."""
        return re.sub(MEDIA, " ", self.text)


def read(request: Request) -> Reading:
    text = " ".join(fold(_with_media_places(request)).split())
    scripts, readable = scripts_in(text), readable_scripts()
    reading = Reading(text=text, cues=cues(scripts & readable))
    reading.unread = sorted(script.title() for script in scripts - readable)
    reading.size = _stated_size(reading)
    reading.frames = _stated_frames(reading)
    reading.frame_ref = stated_frame_ref(reading)
    return reading


def _with_media_places(request: Request) -> str:
    """The request's text with each media item's marker (`###path###` or `{name}`) as "<mK>". The
    spacing is the writer's: a Korean particle stays on its file ("<m0>이"), a word apart does not."""
    text, parts, position = request.text, [], 0
    for index, item in enumerate(request.media):
        at = text.find(item.marker, position)
        if at < 0:  # given media the text never names
            continue
        parts += [text[position:at], f"<m{index}>"]
        position = at + len(item.marker)
    return "".join(parts) + text[position:]


# -- size ---------------------------------------------------------------------------------------

def _stated_size(reading: Reading) -> tuple[int, int] | None:
    size = _explicit_size(reading) or _size_from_words(reading)
    if size is None:
        return None
    width, height = size
    if max(width, height) > MAX_SIDE:
        scale = MAX_SIDE / max(width, height)
        fitted = (max(MIN_SIDE, round(width * scale)), max(MIN_SIDE, round(height * scale)))
        reading.notes.append(f"size {width}x{height} is beyond {MAX_SIDE} pixels per side; "
                             f"scaled to {fitted[0]}x{fitted[1]}")
        width, height = fitted
    return width, height


def _explicit_size(reading: Reading) -> tuple[int, int] | None:
    text, found = reading.text, reading.cues
    for match in found.explicit_size.finditer(text):
        width, height = int(match.group(1)), int(match.group(2))
        if width >= 64 and height >= 64:  # smaller pairs are grids ("10x10 tiles"), not sizes
            return width, height
    width = _first_number(found.width, text)
    height = _first_number(found.height, text)
    if width is not None and height is not None and width >= MIN_SIDE and height >= MIN_SIDE:
        return width, height
    return None


def _size_from_words(reading: Reading) -> tuple[int, int] | None:
    text, found = reading.text, reading.cues
    aspect = None
    for match in found.aspect.finditer(text):
        ratio = (int(match.group(1)), int(match.group(2)))
        if ratio in ASPECT_SIZES:
            aspect = ratio
            break
    if aspect is None:
        if found.vertical.search(text):
            aspect = (9, 16)
        elif found.square.search(text):
            aspect = (1, 1)
        elif found.horizontal.search(text):
            aspect = (16, 9)
    p_match = found.resolution.search(text)
    if p_match is None:
        return ASPECT_SIZES[aspect] if aspect else None
    short = int(p_match.group(1)) if p_match.group(1) else found.resolutions[p_match.group(2)]
    if aspect is None:
        return P_SIZES[short]
    wide, tall = aspect
    if wide >= tall:
        return round(short * wide / tall), short
    return short, round(short * tall / wide)


def _first_number(pattern: re.Pattern, text: str) -> int | None:
    match = pattern.search(text)
    if not match:
        return None
    return int(next(group for group in match.groups() if group))


# -- length -------------------------------------------------------------------------------------

def _stated_frames(reading: Reading) -> int | None:
    frames_match = reading.cues.frames.search(reading.text)
    seconds = _stated_seconds(reading)
    if frames_match:
        # The planner's data writes "120 frames" as <BONF>120<EONF>, i.e. 121 frames.
        count = int(frames_match.group(1))
        frames = count + 1
        source = f"{count} frames"
        if seconds is not None:
            reading.notes.append(f"the request gives both {source} and a duration; the frame count wins")
    elif seconds is not None:
        frames = round(seconds * FPS) + 1
        source = f"{seconds:g} s at {FPS} fps"
    else:
        return None
    if frames > MAX_FRAMES:
        reading.notes.append(f"{source} is {frames} frames, beyond the {MAX_FRAMES}-frame maximum "
                             f"({(MAX_FRAMES - 1) // FPS} s at {FPS} fps); clamped to {MAX_FRAMES}")
        frames = MAX_FRAMES
    return frames


def _stated_seconds(reading: Reading) -> float | None:
    text, found = reading.text, reading.cues
    for match in found.duration.finditer(text):
        amount, in_seconds = match.group(1), match.group(2) is not None
        if amount in found.articles and in_seconds:
            continue  # "a second dog" is an ordinal, not one second
        value = amount_value(amount, found.number_words)
        if value is not None:
            return value * (1 if in_seconds else 60)
        break
    for bare in _BARE_SECONDS_RE.finditer(text):
        value = float(bare.group(1))
        is_decade = value.is_integer() and (value >= 1000 or (value >= 20 and value % 10 == 0))
        if not is_decade:
            return value
    return None


# -- frame reference ----------------------------------------------------------------------------

def stated_frame_ref(reading: Reading) -> str | None:
    text, found = reading.text, reading.cues
    first = bool(found.first_frame.search(text))
    last = bool(found.last_frame.search(text))
    if (first and last) or found.first_to_last.search(text):
        return "firstlast"
    return "last" if last else "first" if first else None


def frame_ref_for(reading: Reading, image_count: int) -> str:
    """The stated frame reference, or "first"; first-and-last needs two images."""
    stated = reading.frame_ref or "first"
    if stated == "firstlast" and image_count < 2:
        found = reading.cues
        last_only = bool(found.last_frame.search(reading.text)) and not found.first_frame.search(reading.text)
        return "last" if last_only else "first"
    return stated


# -- words about the output and the mask ------------------------------------------------------------

def output_words(found: Cues, pattern: re.Pattern, text: str) -> list[tuple[int, str]]:
    """(position, word) of `pattern`'s matches that describe the output, not an attached file."""
    words = []
    for match in pattern.finditer(text):
        before = text[max(0, match.start() - _CONTEXT):match.start()]
        after = text[match.end():match.end() + _CONTEXT]
        # "this photo", "the person in the photo", "<m0> photo", "photo: <m0>", 图片里: the input
        if found.input_before.search(before) or found.input_after.match(after):
            continue
        words.append((match.start(), match.group(0)))
    return words


def mask_index(reading: Reading, request: Request) -> int | None:
    """Which media item is the mask: one given as a mask, a file named like one (mask.png,
    蒙版.png), else one the words call the mask. (Reading names is planning from what the user
    wrote, as the model does.)"""
    for index, item in enumerate(request.media):
        if item.role == "mask":
            return index
    found = reading.cues
    for index, item in enumerate(request.media):
        if item.path is not None and found.mask_in_name.search(fold(item.path.name)):
            return index
    text = reading.text
    for index in range(len(request.media)):
        marker = f"<m{index}>"
        at = text.find(marker)
        if at < 0:
            continue
        before, after = text[max(0, at - 40):at], text[at + len(marker):at + len(marker) + 24]
        if found.mask_before.search(before) or found.mask_after.search(after):
            return index
    return None

