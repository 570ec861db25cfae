"""Request parsing: the user's words with `###path###` media markers (DESIGN §3).

`parse_request(text, allowed_roots, given)` finds the markers in order, types each file by its
extension, confines it to the allowed roots and replaces it with `<IMGPAD>` / `<VIDPAD>` in
`Request.prompt`. Files are checked to exist and be readable but are not decoded here (that is
`media`'s job). Media may also be *given* as pixels (a node's connected IMAGE/MASK), each with its
role stated (image, video or mask): `{name}` in the text marks where it belongs, and given media
the text does not mention are appended in order. A role is never guessed from a file name.

A `<IMGPAD>` / `<VIDPAD>` the user types stays that pad token, as the reference reads it (its
run.sh example 9, "Here is the mask <VIDPAD>. Make the bird in this video ###...###", asks for a
mask to be made that way): the planner sees every pad, typed or not, in order, and its plan's
indices count them all. `Request.pads` says which media item each pad is (None: typed, no media);
`Request.media` holds the media alone. Qwen's own vision tokens (`<|image_pad|>`...) are not
Unison tokens: mentioning one is text, broken by an invisible word joiner.

Path rules: a relative path is looked up under each allowed root in order (the first root where it
exists wins); an absolute path is taken as is. Either way the file, after following symlinks, must
lie inside one of the allowed roots, so `..`, absolute paths elsewhere and symlinks that point out
are refused. Containment is checked before existence, so the error never reveals whether a file
outside the roots exists.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Mapping

from .errors import RequestError
from .facts import MEDIA_ROLES
from .media import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS  # one list; media imports nothing heavy at load

MARKER = "###"
MAX_REQUEST_CHARS = 20_000  # far above any real request; keeps the planner's context sane
PAD_TOKENS = {"image": "<IMGPAD>", "video": "<VIDPAD>"}
PAD_KINDS = {token: kind for kind, token in PAD_TOKENS.items()}
_TYPED_PAD = "|".join(re.escape(token) for token in PAD_TOKENS.values())
# Qwen's vision tokens, which its processor would read as media slots if a user merely mentions one.
_PLACEHOLDER_RE = re.compile(r"<\|(?:image_pad|video_pad|vision_start|vision_end|vision_pad)\|>")
WORD_JOINER = "\u2060"

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np


@dataclass(frozen=True)
class GivenMedia:
    """Media handed over as pixels: frames `[T, H, W, 3]` uint8 (image: T = 1), or for a mask
    `[T, H, W]` float32 in 0..1 (1 = regenerate, soft values kept). `fps`: a video's real rate."""

    role: str  # "image" | "video" | "mask"
    pixels: "np.ndarray" = field(repr=False)
    fps: float | None = None

    def __post_init__(self) -> None:
        if self.role not in MEDIA_ROLES:
            raise RequestError(f"unknown media role {self.role!r}; allowed: {', '.join(MEDIA_ROLES)}")
        wanted = 3 if self.role == "mask" else 4
        if getattr(self.pixels, "ndim", None) != wanted or min(self.pixels.shape) == 0:
            layout = "[T, H, W] float 0..1" if self.role == "mask" else "[T, H, W, 3] uint8"
            raise RequestError(f"given {self.role} must be {layout}; got shape {getattr(self.pixels, 'shape', None)}")

    def frames(self) -> "np.ndarray":
        """As `[T, H, W, 3]` uint8 frames (a mask as grey, white = regenerate)."""
        import numpy as np

        if self.role != "mask":
            return self.pixels
        grey = (np.clip(self.pixels, 0.0, 1.0) * 255.0).round().astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=-1)

    @property
    def kind(self) -> str:
        """How the planner sees it: a mask is an image (or a video when it has several frames)."""
        if self.role == "mask":
            return "video" if self.pixels.shape[0] > 1 else "image"
        return self.role


@dataclass(frozen=True)
class MediaItem:
    """One media item of the request, in order. `marker` is as written (`###path###` or
    `{name}`); a file has a `path`, given media have `given` pixels instead."""

    path: Path | None  # resolved, inside an allowed root; None for given media
    kind: str  # "image" | "video": the pad token the planner sees
    marker: str
    role: str = ""  # "image" | "video" | "mask"; a file's role is its kind
    given: GivenMedia | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not self.role:
            object.__setattr__(self, "role", self.kind)

    @property
    def name(self) -> str:
        return self.path.name if self.path is not None else self.marker.strip("{}")


@dataclass(frozen=True)
class Request:
    """A parsed request: `text` as written, `prompt` with each marker replaced by its pad token.

    `pads`: for each pad token of `prompt` in order, the index of its media item, or None for a
    pad the user typed (empty: one pad per media item, in order)."""

    text: str
    prompt: str
    media: tuple[MediaItem, ...] = ()
    pads: tuple[int | None, ...] = ()

    @property
    def media_kinds(self) -> tuple[str, ...]:
        return tuple(item.kind for item in self.media)

    @property
    def slots(self) -> tuple[int | None, ...]:
        """Every pad the planner sees, in order: its media index, or None for a typed pad."""
        return self.pads or tuple(range(len(self.media)))

    def pad_token(self, slot: int) -> str:
        """The pad token of planner slot `slot` (`prompt` holds every pad, typed or not, in order)."""
        return re.findall(_TYPED_PAD, self.prompt)[slot]


def media_kind(path: str | Path) -> str:
    """"image" or "video" by extension (case-insensitive); RequestError for anything else."""
    suffix = Path(str(path)).suffix.lower()
    if suffix in IMAGE_EXTENSIONS:
        return "image"
    if suffix in VIDEO_EXTENSIONS:
        return "video"
    raise RequestError(
        f"unsupported media file {str(path)!r}: images must end in {', '.join(IMAGE_EXTENSIONS)} "
        f"and videos in {', '.join(VIDEO_EXTENSIONS)}")


def parse_request(text: str, allowed_roots: Iterable[str | Path] | str | Path = (),
                  given: Mapping[str, GivenMedia] | None = None) -> Request:
    """Parse `text`, resolving each `###path###` inside `allowed_roots` (a path or a list) and
    each `{name}` of `given` media; given media the text does not mention are appended."""
    if not isinstance(text, str):
        raise RequestError(f"a request must be text, got {type(text).__name__}")
    if len(text) > MAX_REQUEST_CHARS:
        raise RequestError(f"the request is {len(text):,} characters long; the limit is {MAX_REQUEST_CHARS:,}")
    if not text.strip() and not given:
        raise RequestError("the request is empty: describe what to generate or ask a question")
    given = dict(given or {})
    placeholder = re.compile(r"\{(" + "|".join(re.escape(n) for n in given) + r")\}") if given else None
    if placeholder is not None:
        unmentioned = [n for n in given if "{" + n + "}" not in text]
        if unmentioned:
            text = text.rstrip() + " " + " ".join("{" + n + "}" for n in unmentioned)
    _check_utf8(text)
    # str.split is linear in the text, and even pieces are prose, odd pieces marker paths.
    pieces = text.split(MARKER)
    if len(pieces) % 2 == 0:
        raise RequestError(f"unterminated media marker: every {MARKER}path{MARKER} needs a closing {MARKER}")
    roots = _resolve_roots(allowed_roots) if len(pieces) > 1 else ()
    prompt_parts: list[str] = []
    media: list[MediaItem] = []
    pads: list[int | None] = []
    for index, piece in enumerate(pieces):
        if index % 2 == 0:
            prompt_parts.append(_prose_pads(escape_placeholders(piece), placeholder, given, media, pads))
            continue
        marker = f"{MARKER}{piece}{MARKER}"
        item = MediaItem(path=_confined_file(piece, roots), kind=media_kind(piece.strip()), marker=marker)
        pads.append(len(media))
        media.append(item)
        prompt_parts.append(PAD_TOKENS[item.kind])
    typed = any(slot is None for slot in pads)
    return Request(text=text, prompt="".join(prompt_parts), media=tuple(media), pads=tuple(pads) if typed else ())


def _prose_pads(prose: str, placeholder, given: Mapping[str, GivenMedia], media: list[MediaItem],
                pads: list[int | None]) -> str:
    """`prose` with each `{name}` of given media replaced by its pad token (items appended to
    `media`); each pad, typed or given, recorded in `pads` in order of appearance."""
    names = placeholder.pattern if placeholder is not None else None
    pattern = re.compile(_TYPED_PAD + (f"|{names}" if names else ""))

    def pad(match) -> str:
        if match.group(0) in PAD_KINDS:  # typed by the user: a slot no media fills
            pads.append(None)
            return match.group(0)
        item = given[match.group(1)]
        pads.append(len(media))
        media.append(MediaItem(path=None, kind=item.kind, marker=match.group(0), role=item.role, given=item))
        return PAD_TOKENS[item.kind]

    return pattern.sub(pad, prose)


def escape_placeholders(prose: str) -> str:
    """The user's own words with any of Qwen's vision tokens (`<|image_pad|>`, `<|vision_start|>`,
    ...) broken by an invisible word joiner, so that mentioning one is text, not a media slot.
    Unison's pads stay (a typed pad is a slot, as the reference reads it)."""
    return _PLACEHOLDER_RE.sub(lambda m: m.group(0)[0] + WORD_JOINER + m.group(0)[1:], prose)


def _check_utf8(text: str) -> None:
    """Text read from bytes that are not UTF-8 arrives with lone surrogates (Python's
    surrogateescape); name the first bad byte instead of failing later in a tokenizer."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as err:
        char = text[err.start]
        byte = f"byte 0x{ord(char) - 0xDC00:02x}" if 0xDC80 <= ord(char) <= 0xDCFF else f"code point U+{ord(char):04X}"
        raise RequestError(f"the request text is not valid UTF-8 ({byte} at character {err.start}); "
                           "save or pass it as UTF-8") from None


def _resolve_roots(allowed_roots: Iterable[str | Path] | str | Path) -> tuple[Path, ...]:
    if isinstance(allowed_roots, (str, os.PathLike)):
        allowed_roots = [allowed_roots]
    try:
        roots = tuple(Path(root).resolve() for root in allowed_roots)
    except (OSError, ValueError, TypeError) as err:
        raise RequestError(f"invalid media root: {err}") from None
    if not roots:
        raise RequestError("the request names media files but no media folder is allowed; "
                           "pass one (--media-root, or the node's media folder)")
    return roots


def _confined_file(written: str, roots: tuple[Path, ...]) -> Path:
    name = written.strip()
    if not name or "\n" in name or "\x00" in name:
        raise RequestError(f"empty or malformed media marker {MARKER}{written[:60]}{MARKER}: "
                           f"write {MARKER}path/to/file.png{MARKER}")
    media_kind(name)  # the extension is checked before touching the file system
    allowed = ", ".join(str(root) for root in roots)
    try:
        candidate = _locate(Path(name), roots)
        # Non-strict resolve follows the symlinks that exist, so an escape is caught even when
        # the final target is missing; strict resolve below then requires the file itself.
        if not _inside(candidate.resolve(), roots):
            raise RequestError(f"media file {name!r} is outside the allowed folders ({allowed})")
        if not candidate.exists():
            raise RequestError(f"media file {name!r} not found (looked in {allowed})")
        resolved = candidate.resolve(strict=True)
        if not _inside(resolved, roots):
            raise RequestError(f"media file {name!r} is outside the allowed folders ({allowed})")
        if not resolved.is_file():
            raise RequestError(f"media path {name!r} is not a file")
        with open(resolved, "rb"):
            pass
    except RequestError:
        raise
    except (OSError, RuntimeError) as err:  # RuntimeError: a symlink loop (Python < 3.13)
        reason = getattr(err, "strerror", None) or err
        raise RequestError(f"media file {name!r} cannot be read: {reason}") from None
    return resolved


def _locate(path: Path, roots: tuple[Path, ...]) -> Path:
    if path.is_absolute():
        return path
    for root in roots:
        candidate = root / path
        if candidate.exists():
            return candidate
    return roots[0] / path


def _inside(path: Path, roots: tuple[Path, ...]) -> bool:
    return any(path == root or path.is_relative_to(root) for root in roots)
