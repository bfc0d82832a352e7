"""Safe extraction of zip and tar archives (no path traversal, no links, atomic files)."""

from __future__ import annotations

import os
import shutil
import tarfile
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import IO

from aimc.errors import DataError

__all__ = ["safe_extract", "atomic_write_from"]


def _check_name(archive: Path, name: str) -> PurePosixPath:
    """The member path, refused if absolute, empty, or escaping the destination."""
    rel = PurePosixPath(name.replace("\\", "/"))
    if not rel.parts or rel.is_absolute() or ".." in rel.parts or ":" in rel.parts[0]:
        raise DataError(f"{archive}: refusing to extract member {name!r}: absolute path or "
                        f"path traversal outside the destination")
    return rel


def atomic_write_from(target: Path, source: IO[bytes]) -> None:
    """Copy ``source`` to ``target`` through a temporary file in the same folder, then
    ``os.replace`` it into place, so ``target`` is either absent/old or complete."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out:
            shutil.copyfileobj(source, out, length=1 << 20)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def safe_extract(archive: Path, dest: Path) -> list[Path]:
    """Extract a ``.zip`` or ``.tar[.gz|.bz2|.xz]`` archive into ``dest``.

    Every member is checked before anything is written: absolute paths, ``..`` components
    and drive letters are refused, and for tar only regular files and folders are allowed
    (no symlinks, hard links or devices). Each file is written atomically.

    Returns:
        The extracted file paths, in archive order.

    Raises:
        DataError: not a zip/tar archive, corrupt, or an unsafe member.
    """
    dest.mkdir(parents=True, exist_ok=True)
    try:
        if zipfile.is_zipfile(archive):
            return _extract_zip(archive, dest)
        if tarfile.is_tarfile(archive):
            return _extract_tar(archive, dest)
    except (OSError, EOFError, zipfile.BadZipFile, tarfile.TarError) as exc:
        raise DataError(f"{archive}: corrupt archive ({exc})") from exc
    raise DataError(f"{archive}: neither a zip nor a tar archive")


def _extract_zip(archive: Path, dest: Path) -> list[Path]:
    with zipfile.ZipFile(archive) as zf:
        infos = zf.infolist()
        plan = []
        for info in infos:
            rel = _check_name(archive, info.filename)
            mode = (info.external_attr >> 16) & 0o170000
            if mode == 0o120000:
                raise DataError(f"{archive}: refusing to extract symlink {info.filename!r}")
            plan.append((info, rel))
        return _write(dest, [(rel, info.is_dir(), lambda i=info: zf.open(i))
                             for info, rel in plan])


def _extract_tar(archive: Path, dest: Path) -> list[Path]:
    with tarfile.open(archive) as tf:
        members = tf.getmembers()
        plan = []
        for m in members:
            rel = _check_name(archive, m.name)
            if not (m.isfile() or m.isdir()):
                raise DataError(f"{archive}: refusing to extract {m.name!r}: links and special "
                                f"files are not allowed")
            plan.append((m, rel))

        def opener(m: tarfile.TarInfo) -> Callable[[], IO[bytes]]:
            def open_member() -> IO[bytes]:
                f = tf.extractfile(m)
                if f is None:  # pragma: no cover - isfile() members always have data
                    raise DataError(f"{archive}: cannot read {m.name!r}")
                return f
            return open_member

        return _write(dest, [(rel, m.isdir(), opener(m)) for m, rel in plan])


def _write(dest: Path, plan: list[tuple[PurePosixPath, bool, Callable[[], IO[bytes]]]]
           ) -> list[Path]:
    root = dest.resolve()
    targets = [dest.joinpath(*rel.parts) for rel, _, _ in plan]
    for (rel, _, _), target in zip(plan, targets, strict=True):
        if not target.resolve().is_relative_to(root):  # e.g. through a symlink already there
            raise DataError(f"refusing to extract {rel}: it resolves outside {dest}")
    written = []
    for (_, is_dir, open_member), target in zip(plan, targets, strict=True):
        if is_dir:
            target.mkdir(parents=True, exist_ok=True)
            continue
        with open_member() as src:
            atomic_write_from(target, src)
        written.append(target)
    return written
