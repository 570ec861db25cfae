"""Publishing output files safely: a reader (or a crash) never sees a half-written file under a
final name, and an existing file or symlink is never replaced unless the caller asks for it.

`publish(target, write, exists=...)` runs `write(tmp)` on a new temp file beside `target` (same
folder, so the final step is a link or rename within one filesystem), fsyncs it, then gives it
its final name:

- `exists="number"` (outputs of a run): `target`, else `stem_1.ext`, `stem_2.ext`, ... — the first
  name nobody holds. Each name is claimed atomically with `os.link`, which fails on any existing
  entry, a dangling symlink included; when another run claims a name first, the next one is tried.
- `exists="error"`: `target` only; an existing entry is an `OutputError`.
- `exists="replace"`: `os.replace` over whatever is there (only for callers that own the name).

Where hard links are not supported (some network and FAT filesystems), a name is claimed with an
exclusive create (`O_CREAT|O_EXCL`, which also refuses dangling symlinks) and the finished temp file
is renamed over that placeholder: still no replacement of anyone else's file, but a crash at that
exact moment can leave an empty placeholder.

A failed write (disk full, permission) removes the temp file, replaces nothing, and raises an
`OutputError` that says earlier files were left as they were.
"""

from __future__ import annotations

import errno
import os
import secrets
from pathlib import Path
from typing import Callable

from .errors import OutputError

EXISTS_MODES = ("number", "error", "replace")
MAX_NUMBERED = 100_000  # a folder with this many outputs of one name is a mistake, not a queue
_NO_LINK_ERRNOS = {errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EXDEV, errno.EMLINK, errno.ENOSYS}


def publish(target: str | os.PathLike, write: Callable[[Path], None], exists: str = "number") -> Path:
    """Write a file through `write(tmp_path)` and publish it under `target` (see the module doc).

    Returns the name it was published under.
    """
    if exists not in EXISTS_MODES:
        raise OutputError(f"unknown exists mode {exists!r}; allowed: {', '.join(EXISTS_MODES)}")
    target = Path(target).expanduser()
    if not target.parent.is_dir():
        raise OutputError(f"folder does not exist: {target.parent}")
    tmp = _new_temp_file(target)
    try:
        try:
            write(tmp)
            _fsync(tmp)
        except OSError as err:
            raise OutputError(f"could not write {target.name} in {target.parent}: "
                              f"{err.strerror or err}; nothing was replaced and earlier outputs "
                              "are intact") from err
        final = _place(tmp, target, exists)
        _fsync_folder(target.parent)
        return final
    finally:
        tmp.unlink(missing_ok=True)


def write_text(target: str | os.PathLike, text: str, exists: str = "number") -> Path:
    """`publish` for UTF-8 text."""
    return publish(target, lambda tmp: tmp.write_text(text, encoding="utf-8"), exists)


def numbered(target: Path, n: int) -> Path:
    """`target` for n = 0, else `stem_n.ext`."""
    return target if n == 0 else target.with_name(f"{target.stem}_{n}{target.suffix}")


def is_taken(path: Path) -> bool:
    """Whether any directory entry has this name (a dangling symlink counts; `exists()` says no)."""
    return os.path.lexists(path)


def _place(tmp: Path, target: Path, exists: str) -> Path:
    if exists == "replace":
        os.replace(tmp, target)
        return target
    attempts = MAX_NUMBERED if exists == "number" else 1
    for n in range(attempts):
        candidate = numbered(target, n)
        if _claim(tmp, candidate):
            return candidate
        if exists == "error":
            kind = "symlink" if candidate.is_symlink() else "file"
            raise OutputError(f"{candidate} already exists (a {kind}) and is not replaced; "
                              "choose another name or remove it")
    raise OutputError(f"{target.parent} already holds {MAX_NUMBERED:,} files named like "
                      f"{target.name}; choose another output folder")


def _claim(tmp: Path, candidate: Path) -> bool:
    """Give `tmp`'s content the name `candidate` if no entry has it; False if one does."""
    try:
        os.link(tmp, candidate)
        return True
    except FileExistsError:
        return False
    except OSError as err:
        if err.errno not in _NO_LINK_ERRNOS:
            raise OutputError(f"could not publish {candidate}: {err.strerror or err}") from err
    try:  # no hard links here: claim the name with an exclusive create, then rename onto it
        os.close(os.open(candidate, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
    except FileExistsError:
        return False
    os.replace(tmp, candidate)
    return True


def _new_temp_file(target: Path) -> Path:
    """An empty, uniquely named hidden file beside `target` that keeps its suffix (writers pick the
    format from it), with a plain new file's permissions (mkstemp would make it owner-only)."""
    for _ in range(100):
        tmp = target.with_name(f".{target.stem}.{secrets.token_hex(4)}.tmp{target.suffix}")
        try:
            os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
            return tmp
        except FileExistsError:
            continue
        except OSError as err:
            raise OutputError(f"cannot write in {target.parent}: {err.strerror or err}") from err
    raise OutputError(f"could not create a temporary file in {target.parent}")


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_folder(folder: Path) -> None:
    """Make the new name itself durable; some platforms cannot open or fsync a folder."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
