"""Error types. Every error the runtime raises on bad input is a `UnisonError`, so callers
(the CLI, the ComfyUI nodes) can show its message to the user as-is."""


import re

_ANSI = re.compile(r"\x1b\[[0-9;]*m")


class UnisonError(Exception):
    """Base class: the message names what was wrong and what is allowed.

    The message is always one line (a wrapped library error may span several, with terminal
    colour codes): the CLI prints it after "error:", ComfyUI shows it as the node's error.
    """

    def __str__(self) -> str:
        return one_line(super().__str__())


def one_line(text: str) -> str:
    """`text` with colour codes removed and every run of whitespace (newlines too) as one space."""
    return " ".join(_ANSI.sub("", text).split())


class PlanError(UnisonError, ValueError):
    """A plan (tokens, JSON or an override) that is not valid."""


class RequestError(UnisonError, ValueError):
    """A request whose text or media cannot be used (path outside the allowed roots, missing file...)."""


class MediaError(UnisonError, ValueError):
    """An image, video or mask that cannot be read, written or converted."""


class ModelLoadError(UnisonError):
    """A model folder or file that is missing, of the wrong kind, or corrupt."""


class AnnotatorError(UnisonError, ValueError):
    """Bad input to an annotator (unknown mode, mask size mismatch, box outside the image...)."""


class GenerationError(UnisonError, ValueError):
    """Bad settings or inputs for stage-two generation."""


class Cancelled(UnisonError):
    """The user cancelled a long-running step; whatever it allocated has been released."""


class OutputError(UnisonError, OSError):
    """An output file that cannot be written or published (disk full, name taken, no permission)."""


class DeviceError(UnisonError, ValueError):
    """A device name that is unknown or not present on this machine (e.g. cuda without a GPU)."""
