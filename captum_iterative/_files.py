"""Files the package writes and reads: atomic writes, file digests, and safe reading of
``torch.save`` files.

Every file the package writes (explanation caches, reports, checkpoints, manifests) goes through
:func:`atomic_path`, so an interrupted run never leaves a half-written file under the final name;
leftovers are hidden files matching ``.<stem>.*.tmp<suffix>`` (see :data:`TEMP_GLOB`).

Every ``torch.save`` file the package reads (checkpoints, state dicts) goes through
:func:`load_torch_file`: ``torch.load(..., weights_only=True)``, which never runs code from the
file, with one clear line naming the file and the cause when it cannot be read.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

__all__ = [
    "TEMP_GLOB",
    "UnreadableTorchFile",
    "atomic_path",
    "atomic_write_bytes",
    "file_sha256",
    "load_torch_file",
]

#: Glob matching the temporary files of interrupted writes (in the target's folder).
TEMP_GLOB = ".*.tmp*"


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path to write ``path``'s content into; rename it over ``path`` on success.

    The temporary file is created next to ``path`` (same file system, so the rename is atomic)
    with the usual permissions (``0o666`` less the umask, not ``mkstemp``'s ``0o600``), keeps
    ``path``'s suffix (so writers that look at it, e.g. ``savefig``, still work) and is removed if
    the block raises.

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
    fd, name = tempfile.mkstemp(
        prefix=f".{target.stem}.", suffix=f".tmp{target.suffix}", dir=target.parent
    )
    os.close(fd)
    tmp = Path(name)
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


def file_sha256(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a file's bytes, as 64 hexadecimal digits (read in 1 MiB blocks)."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


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
