"""A disk cache for feature matrices, keyed by a hash of everything that produced them.

A key is the sha256 of the parts that determine a result (model identity, pooling, the input
texts or image bytes, ...), so a changed input or setting can never reuse a stale matrix.
Files are written atomically (``.part`` then ``os.replace``) and read with
``torch.load(..., weights_only=True)``. A stored value is returned only if it is what the caller
asked for: a finite floating tensor of the requested shape (2-D by default) and dtype; anything
else (a dict, an int64 or NaN tensor, a (40, 7) matrix for 50 texts) is ignored with a warning, so
the caller recomputes and overwrites it. A cache folder that cannot be created or written (for
example ``MMREC_CACHE`` pointing at a regular file, or a read-only folder, where ``torch.save``
raises a ``RuntimeError`` rather than an ``OSError``) gives one warning and the run goes on uncached.
"""
from __future__ import annotations

import hashlib
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..profiles import cache_root

__all__ = ["FeatureCache", "content_key"]


def _feed(h, part: Any) -> None:
    """Hash one part with a type tag and a length prefix, so that ("ab", "c") != ("a", "bc")."""
    if isinstance(part, torch.Tensor):
        part = part.detach().cpu().contiguous().numpy()
    if isinstance(part, np.ndarray):
        part = np.ascontiguousarray(part)
        header = f"array:{part.dtype.str}:{part.shape}".encode()
        h.update(len(header).to_bytes(8, "little") + header)
        h.update(part.nbytes.to_bytes(8, "little"))
        h.update(part.data)
        return
    if isinstance(part, (list, tuple)):
        h.update(f"seq:{len(part)}:".encode())
        for item in part:
            _feed(h, item)
        return
    if isinstance(part, bytes):
        tag, data = b"bytes:", part
    elif part is None or isinstance(part, (str, int, float, bool, Path, torch.dtype)):
        tag, data = f"{type(part).__name__}:".encode(), str(part).encode("utf-8")
    else:
        raise TypeError(f"content_key cannot hash a {type(part).__name__}")
    h.update(tag + len(data).to_bytes(8, "little") + data)


def content_key(*parts: Any) -> str:
    """The sha256 hex digest of ``parts`` (str, numbers, bytes, arrays, tensors, nested lists)."""
    h = hashlib.sha256()
    for part in parts:
        _feed(h, part)
    return h.hexdigest()


def _mismatch(value, shape, dtype) -> str | None:
    """Why a loaded cache value does not answer the request (``None`` when it does)."""
    if not isinstance(value, torch.Tensor):
        return f"it holds a {type(value).__name__}, not a tensor"
    if not value.is_floating_point() or (dtype is not None and value.dtype != dtype):
        return f"dtype {value.dtype}, expected {dtype or 'a floating dtype'}"
    wanted = shape if shape is not None else (None, None)
    if value.ndim != len(wanted) or any(w is not None and w != n for w, n in zip(wanted, value.shape)):
        expected = ", ".join("*" if w is None else str(w) for w in wanted)
        return f"shape {tuple(value.shape)}, expected ({expected}{',' if len(wanted) == 1 else ''})"
    if not bool(torch.isfinite(value).all()):
        return "it holds NaN or infinite values"
    return None


class FeatureCache:
    """Tensors on disk under ``root`` (default ``profiles.cache_root() / "features"``), one file per key."""

    def __init__(self, root: str | Path | None = None):
        self.root = Path(root).expanduser() if root is not None else cache_root() / "features"
        self._warned = False

    def path(self, key: str) -> Path:
        return self.root / f"{key}.pt"

    def get(self, key: str, shape: tuple[int | None, ...] | None = None,
            dtype: torch.dtype | None = None) -> torch.Tensor | None:
        """The stored tensor, or ``None`` when the key is absent or the file is unusable (with a warning).

        Usable means: a tensor with a floating dtype (``dtype`` when given), every value finite, and
        ``shape`` (``None`` entries match any size; default: any 2-D shape).
        """
        path = self.path(key)
        if not path.is_file():
            return None
        try:
            value = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # a damaged file is recomputed, never trusted
            warnings.warn(f"ignoring unreadable feature cache file {path}: {err}; recomputing", stacklevel=2)
            return None
        problem = _mismatch(value, shape, dtype)
        if problem:
            warnings.warn(f"ignoring feature cache file {path}: {problem}; recomputing", stacklevel=2)
            return None
        return value

    def put(self, key: str, value: torch.Tensor) -> Path | None:
        """Store ``value`` (moved to CPU) atomically; return its path (``None``, with a warning, when the
        cache folder is unusable)."""
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"FeatureCache stores tensors, got {type(value).__name__}")
        path = self.path(key)
        part = path.with_name(f"{path.name}.{os.getpid()}.part")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            torch.save(value.detach().cpu().contiguous(), part)
            os.replace(part, path)
        except (OSError, RuntimeError) as err:
            if not self._warned:
                warnings.warn(f"feature cache {self.root} is not usable ({type(err).__name__}: {err}); running "
                              "uncached (set MMREC_CACHE to a writable folder)", stacklevel=2)
                self._warned = True
            if part.parent.is_dir():
                part.unlink(missing_ok=True)
            return None
        return path

    def __contains__(self, key: str) -> bool:
        return self.path(key).exists()

    def __repr__(self) -> str:
        return f"FeatureCache({str(self.root)!r})"
