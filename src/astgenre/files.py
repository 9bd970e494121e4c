"""Outputs written whole or not at all, with the permissions a plain ``open()`` gives (the umask decides).

``tempfile.mkstemp`` and ``mkdtemp`` create 0600 files and 0700 folders, and safetensors writes its weights 0600:
renamed into place, such outputs could not be read by colleagues on a shared filesystem. The helpers here create
temporary files and folders with the normal modes instead, and :func:`share_like_umask` repairs what a library wrote.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_path", "atomic_write_bytes", "atomic_write_text", "make_temp_dir", "share_like_umask", "umask"]


def umask() -> int:
    """The process's umask, read without changing it where Linux tells (/proc), else by setting and restoring it."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    current = os.umask(0o022)
    os.umask(current)
    return current


def _temp_name(target: Path, suffix: str) -> Path:
    return target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}{suffix}")


@contextmanager
def atomic_path(target: Path | str, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a fresh path beside ``target`` to write; it replaces ``target`` when the block ends without an error.

    The yielded path does not exist yet: whatever creates it (``open``, ``np.save``, ``DataFrame.to_csv``) gives it
    the normal mode. On an error (or Ctrl-C) it is removed and ``target`` is left as it was.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = _temp_name(target, suffix)
    try:
        yield temp
        os.replace(temp, target)
    except BaseException:
        if temp.is_dir() and not temp.is_symlink():
            shutil.rmtree(temp, ignore_errors=True)
        else:
            temp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(target: Path | str, data: bytes) -> None:
    """Write ``data`` to ``target`` atomically (mode 0666 less the umask, like ``open``)."""
    with atomic_path(target) as temp, open(temp, "xb") as handle:
        handle.write(data)


def atomic_write_text(target: Path | str, text: str, *, encoding: str = "utf-8", errors: str = "strict") -> None:
    """Write ``text`` to ``target`` atomically (mode 0666 less the umask, like ``open``)."""
    atomic_write_bytes(target, text.encode(encoding, errors))


def make_temp_dir(parent: Path | str, prefix: str, suffix: str = "") -> Path:
    """Create a new, uniquely named folder in ``parent`` with the mode ``os.mkdir`` gives (not mkdtemp's 0700)."""
    parent = Path(parent)
    parent.mkdir(parents=True, exist_ok=True)
    for _ in range(100):
        folder = parent / f"{prefix}{secrets.token_hex(4)}{suffix}"
        try:
            folder.mkdir()
        except FileExistsError:
            continue
        return folder
    raise FileExistsError(f"could not create a new temporary folder {prefix}*{suffix} in {parent}")


def share_like_umask(path: Path | str) -> None:
    """Give ``path`` (and, for a folder, everything in it) the mode a plain ``open``/``mkdir`` would have given.

    Files get 0666 (0777 when executable) and folders 0777, less the umask. Symbolic links are left alone.
    """
    mask = umask()
    path = Path(path)
    entries = [path]
    if path.is_dir() and not path.is_symlink():
        entries += sorted(path.rglob("*"))
    for entry in entries:
        if entry.is_symlink():
            continue
        executable = entry.stat().st_mode & 0o111
        wanted = 0o777 if entry.is_dir() or executable else 0o666
        os.chmod(entry, wanted & ~mask)
