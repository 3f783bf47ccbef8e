"""Atomic file writes (a hidden temporary file in the target's folder, renamed when complete) and
file digests.

Every file the package writes (explanation caches, reports, checkpoints, manifests) goes through
:func:`atomic_path`, so an interrupted run never leaves a half-written file under the final name;
leftovers are hidden files matching ``.<stem>.*.tmp<suffix>`` (see :data:`TEMP_GLOB`).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["TEMP_GLOB", "atomic_path", "atomic_write_bytes", "file_sha256"]

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

        >>> with atomic_path("out/table.md") as tmp:
        ...     tmp.write_text("| a | b |")
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
