"""Decoding small image files (JPEG/PNG) with Pillow, imported lazily.

Pillow is an optional dependency (``pip install "aimc[data]"``); only the image-folder
loaders need it.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from aimc.errors import DataError

__all__ = ["require_pillow", "decode_rgb"]


def require_pillow() -> Any:
    """Return the ``PIL.Image`` module.

    Raises:
        DataError: Pillow is not installed; says ``pip install "aimc[data]"``.
    """
    try:
        from PIL import Image
    except ImportError as exc:  # pragma: no cover - exercised only without Pillow
        raise DataError('reading JPEG/PNG datasets needs Pillow: pip install "aimc[data]" '
                        '(or pip install pillow)') from exc
    return Image


def decode_rgb(names: Sequence[str], read: Callable[[str], bytes], size: tuple[int, int],
               where: str) -> np.ndarray:
    """Decode images to one uint8 array.

    Args:
        names: image identifiers (zip member names or file paths), decoded in this order.
        read: returns the encoded bytes of one name.
        size: required ``(width, height)``; images of another size are an error, never resized.
        where: the archive or folder, for error messages.

    Returns:
        ``(len(names), height, width, 3)`` uint8 RGB array.

    Raises:
        DataError: an entry cannot be read or decoded (not an image, truncated) or has the
            wrong size; the message names the entry and ``where``.
    """
    image_mod = require_pillow()
    width, height = size
    out = np.empty((len(names), height, width, 3), dtype=np.uint8)
    for i, name in enumerate(names):
        try:
            with image_mod.open(io.BytesIO(read(name))) as img:
                img.load()
                if img.size != (width, height):
                    raise DataError(f"{where}: {name} is {img.size[0]}x{img.size[1]}, expected "
                                    f"{width}x{height}")
                out[i] = np.asarray(img.convert("RGB"), dtype=np.uint8)
        except DataError:
            raise
        except Exception as exc:  # Pillow raises OSError, SyntaxError, ValueError...
            raise DataError(f"{where}: cannot decode {name} as an image ({type(exc).__name__}: "
                            f"{exc}); the file is corrupt or not an image") from exc
    return out
