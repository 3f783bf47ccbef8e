"""Files the package writes and reads: atomic writes, file digests, and safe reading of
``torch.save`` files.

Every file the package writes (explanation caches, reports, checkpoints, manifests) goes through
:func:`atomic_path`, so an interrupted run never leaves a half-written file under the final name;
what a killed run leaves are hidden temporary files with a name no one else would choose,
``.captum-iterative-<pid>-<random>.tmp<suffix>`` (:func:`is_temporary_file`), and
:func:`remove_temporary_files` removes those and nothing else.

Every ``torch.save`` file the package reads (checkpoints, state dicts) goes through
:func:`load_torch_file`: ``torch.load(..., weights_only=True)``, which never runs code from the
file, with one clear line naming the file and the cause when it cannot be read.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

__all__ = [
    "TEMP_PREFIX",
    "UnreadableTorchFile",
    "atomic_path",
    "atomic_write_bytes",
    "file_sha256",
    "file_stamp",
    "format_bytes",
    "is_temporary_file",
    "load_torch_file",
    "matches_stamp",
    "remove_temporary_files",
    "temporary_file",
]

#: Start of the name of every temporary file the package writes; the process id, a random part
#: and ``.tmp`` plus the target's suffix follow.
TEMP_PREFIX = ".captum-iterative-"
_TEMP_NAME = re.compile(re.escape(TEMP_PREFIX) + r"\d+-[a-z0-9_]+\.tmp(\.\w+)?")


def temporary_file(folder: str | os.PathLike[str], suffix: str = "") -> Path:
    """Create an empty temporary file in ``folder``, named
    ``.captum-iterative-<pid>-<random>.tmp<suffix>`` (:func:`is_temporary_file` knows it).

    Args:
        folder (str or PathLike): an existing folder.
        suffix (str, optional): e.g. ``".npz"``, kept at the end of the name. Default: ``""``.

    Returns:
        Path: the new file (mode ``0o600``, as :func:`tempfile.mkstemp` makes it).
    """
    fd, name = tempfile.mkstemp(
        prefix=f"{TEMP_PREFIX}{os.getpid()}-", suffix=f".tmp{suffix}", dir=folder
    )
    os.close(fd)
    return Path(name)


def is_temporary_file(path: str | os.PathLike[str]) -> bool:
    """Whether ``path``'s name is one :func:`temporary_file` gives (a user's ``.notes.tmp`` or
    ``.scan.tmp.png`` is not)."""
    return _TEMP_NAME.fullmatch(Path(path).name) is not None


def remove_temporary_files(folders: Sequence[str | os.PathLike[str]]) -> int:
    """Delete the temporary files of this package's interrupted writes directly in ``folders``
    (those :func:`is_temporary_file` knows, nothing else); returns how many.

    Only call it while no other process of the package writes there (``explain`` holds the
    output folder's lock): their files in flight have the same kind of name.
    """
    removed = 0
    for folder in map(Path, folders):
        if not folder.is_dir():
            continue
        for path in folder.iterdir():
            if is_temporary_file(path) and path.is_file():
                path.unlink(missing_ok=True)
                removed += 1
    return removed


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path to write ``path``'s content into; rename it over ``path`` on success.

    The temporary file (:func:`temporary_file`) is created next to ``path`` (same file system,
    so the rename is atomic) with the usual permissions (``0o666`` less the umask, not
    ``mkstemp``'s ``0o600``), keeps ``path``'s suffix (so writers that look at it, e.g.
    ``savefig``, still work) and is removed if the block raises.

    Examples::

        >>> import shutil
        >>> folder = Path(tempfile.mkdtemp())
        >>> with atomic_path(folder / "table.md") as tmp:
        ...     _ = tmp.write_text("| a | b |")
        >>> (folder / "table.md").read_text()
        '| a | b |'
        >>> shutil.rmtree(folder)
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_file(target.parent, target.suffix)
    try:
        yield tmp
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def format_bytes(count: float) -> str:
    """A byte count for people: ``"512 bytes"``, ``"1.5 KiB"``, ``"120.0 GiB"``."""
    if count < 1024:
        return f"{count:.0f} bytes"
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        count /= 1024
        if count < 1024 or unit == "TiB":
            break
    return f"{count:.1f} {unit}"


def file_sha256(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a file's bytes, as 64 hexadecimal digits (read in 1 MiB blocks)."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_stamp(path: str | os.PathLike[str]) -> dict[str, Any]:
    """What identifies a file's content: ``size``, ``mtime_ns`` and ``sha256``
    (see :func:`matches_stamp`)."""
    stat = os.stat(path)
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": file_sha256(path)}


def matches_stamp(path: str | os.PathLike[str], stamp: dict[str, Any]) -> bool:
    """Whether ``path`` still holds the content :func:`file_stamp` recorded in ``stamp``.

    Same size and modification time count as unchanged (as for ``make`` and ``rsync``), without
    reading the file; another modification time with the same size (a copy, a ``touch``) is
    decided by the SHA-256 of the bytes. A file that cannot be read no longer matches.
    """
    try:
        stat = os.stat(path)
        if stat.st_size != stamp.get("size"):
            return False
        return stat.st_mtime_ns == stamp.get("mtime_ns") or file_sha256(path) == stamp.get("sha256")
    except OSError:
        return False


#: First bytes of the zip archive that ``torch.save`` writes (PyTorch >= 1.6).
_ZIP_MAGIC = b"PK\x03\x04"
#: ``torch.load`` names the first object it refuses to unpickle like this.
_UNSAFE_GLOBAL = re.compile(r"Unsupported global: GLOBAL ([\w.]+)")


class UnreadableTorchFile(ValueError):
    """A file :func:`load_torch_file` cannot read; ``cause`` says why in a few words.

    Attributes:
        path (Path): the file.
        cause (str): e.g. ``"the file is empty"``.
    """

    def __init__(self, path: Path, cause: str) -> None:
        super().__init__(f"cannot read {path}: {cause}")
        self.path = path
        self.cause = cause


def _unreadable_cause(path: Path, error: BaseException) -> str:
    """Why ``torch.load(path, weights_only=True)`` failed, in a few words."""
    with path.open("rb") as handle:
        head = handle.read(4)
    if not head:
        return "the file is empty"
    unsafe = _UNSAFE_GLOBAL.search(str(error))
    if unsafe:
        return (
            f"it holds a pickled Python object ({unsafe.group(1)}), not only tensors; objects "
            "are never unpickled, since that can run code from the file: save a state dict "
            "instead (torch.save(model.state_dict(), path))"
        )
    if head == _ZIP_MAGIC:
        return (
            "it is a zip archive but not a complete torch.save file (truncated, damaged or "
            "another kind of archive)"
        )
    if head[:1] == b"\x80":
        return "it is a Python pickle, not a torch.save file of tensors"
    return f"it is not a torch.save file (those start with {_ZIP_MAGIC!r}; this one with {head!r})"


def load_torch_file(path: str | os.PathLike[str], map_location: Any = "cpu") -> Any:
    """Read a ``torch.save`` file of tensors and plain containers, never running its code.

    ``torch.load(path, map_location, weights_only=True)``; when that fails the error says, in one
    line, which file and why (empty, not a ``torch.save`` file, truncated, or holding pickled
    Python objects such as a whole ``nn.Module``), instead of torch's advice to turn the
    safety off.

    Args:
        path (str or PathLike): the file.
        map_location (optional): as for :func:`torch.load`. Default: ``"cpu"``

    Returns:
        Any: the loaded object (e.g. a state dict).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        UnreadableTorchFile: (a ``ValueError``) the file cannot be read safely; the message
            names the file and the cause.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"file not found: {path}")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except OSError:
        raise
    except Exception as error:  # a foreign file makes the unpickler fail in any way
        raise UnreadableTorchFile(path, _unreadable_cause(path, error)) from error
