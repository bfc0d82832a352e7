"""Opt-in download of the public datasets, verified against published checksums.

Nothing in aimc downloads implicitly; call :func:`download` yourself when online. Files are
streamed to a temporary file, checked against the MD5 (and SHA-256 where known) in
:mod:`aimc.data.sources`, and only then moved into place; archives are extracted safely
(:mod:`aimc.data._archive`). A file whose checksum does not match is deleted and reported.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.request
import warnings
from pathlib import Path

from aimc.data._archive import safe_extract
from aimc.data.paths import AIMC_DATA_ENV
from aimc.data.sources import REFUSED, SOURCES, Resource
from aimc.errors import DataError

__all__ = ["download", "verify_file"]

_CHUNK = 1 << 20


def _digests(path: Path) -> tuple[str, str]:
    md5, sha = hashlib.md5(usedforsecurity=False), hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(_CHUNK):
            md5.update(block)
            sha.update(block)
    return md5.hexdigest(), sha.hexdigest()


def _mismatch(md5: str, sha256: str, res: Resource) -> str | None:
    if res.md5 is not None and md5 != res.md5:
        return f"MD5 {md5} != published {res.md5}"
    if res.sha256 is not None and sha256 != res.sha256:
        return f"SHA-256 {sha256} != expected {res.sha256}"
    return None


def verify_file(path: Path, res: Resource) -> str | None:
    """``None`` if ``path``'s checksums match ``res``, else the reason."""
    return _mismatch(*_digests(path), res)


def _fetch_one(url: str, target: Path, res: Resource, timeout: float) -> str | None:
    """Download ``url`` to ``target`` atomically; ``None`` on success, else why it failed."""
    if not url.startswith(("https://", "http://", "file:")):
        return f"{url}: unsupported URL scheme"
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.",
                                    suffix=".part")
    tmp = Path(tmp_name)
    try:
        md5, sha = hashlib.md5(usedforsecurity=False), hashlib.sha256()
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
            while block := resp.read(_CHUNK):
                out.write(block)
                md5.update(block)
                sha.update(block)
        why = _mismatch(md5.hexdigest(), sha.hexdigest(), res)
        if why is not None:
            return f"{url}: checksum mismatch ({why}); the partial file was deleted"
        os.replace(tmp, target)
        return None
    except OSError as exc:  # URLError, timeouts and disk errors are all OSErrors
        return f"{url}: {exc}"
    finally:
        tmp.unlink(missing_ok=True)


def _root(root: str | os.PathLike[str] | None) -> Path:
    if root is None:
        text = os.environ.get(AIMC_DATA_ENV, "").strip()
        if not text:
            raise DataError(f"download needs a root folder: pass root=... or set {AIMC_DATA_ENV}")
        root = text
    return Path(os.path.expandvars(os.fspath(root))).expanduser()


def download(name: str, root: str | os.PathLike[str] | None = None, *, force: bool = False,
             timeout: float = 60.0) -> Path:
    """Fetch a public dataset into ``root/<name>/`` and verify it (needs network access).

    Known names: ``"mnist"`` (OSSCI mirror of LeCun's files), ``"fashion_mnist"`` (Zalando),
    ``"cifar10"`` (the python release from cs.toronto.edu, extracted to
    ``cifar-10-batches-py/``), ``"ptb"`` (Mikolov's text via Zaremba's repository), ``"sst2"``
    (GLUE's ``SST-2.zip``, extracted to ``SST-2/``), ``"speech_commands_v2"`` (Google Speech
    Commands v0.02, 2.4 GB, extracted in place; read it with
    :func:`aimc.data.load_speech_commands`). Afterwards ``load_<name>(path)`` -- or
    ``load_<name>()`` with ``AIMC_DATA=root`` -- reads it.

    Files already present with the right checksum are kept; a present file with a wrong
    checksum is replaced (with a warning).

    Args:
        name: dataset name (see above).
        root: dataset root; ``None`` uses ``$AIMC_DATA``.
        force: download again even if verified files are present.
        timeout: seconds per network operation.

    Returns:
        The dataset folder ``root/<name>``.

    Raises:
        DataError: unknown or refused name (no trustworthy checksum), no root, every mirror
            failed or served bytes with the wrong checksum (partial files are deleted), or an
            archive is corrupt or unsafe.
    """
    if name in REFUSED:
        raise DataError(f"download({name!r}) refused: {REFUSED[name]}")
    if name not in SOURCES:
        raise DataError(f"download: unknown dataset {name!r}; known: "
                        f"{', '.join(sorted(SOURCES))}")
    dest = _root(root) / name
    dest.mkdir(parents=True, exist_ok=True)
    for res in SOURCES[name]:
        target = dest / res.filename
        marker = dest / f".{res.filename}.extracted"
        if target.is_file() and not force:
            why = verify_file(target, res)
            if why is None:
                if res.extract and not (marker.is_file() and marker.read_text() == res.digest):
                    safe_extract(target, dest)
                    marker.write_text(res.digest)
                continue
            warnings.warn(f"{target} exists but does not verify ({why}); downloading it again",
                          stacklevel=2)
        failures = []
        for url in res.urls:
            failure = _fetch_one(url, target, res, timeout)
            if failure is None:
                break
            failures.append(failure)
        else:
            raise DataError(f"download({name!r}): could not fetch {res.filename}: "
                            + "; ".join(failures)
                            + f". Put a verified copy at {target} by hand, or try later.")
        if res.extract:
            safe_extract(target, dest)
            marker.write_text(res.digest)
    return dest
