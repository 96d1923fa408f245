"""Checks shared by every loader: text encodings, 64-bit integers, id columns and timestamps.

Each helper turns a class of bad input into a :class:`DataError` naming the file (or DataFrame),
line and field, so that no loader lets a raw ``UnicodeDecodeError``, ``OverflowError`` or a
silently wrapped integer through.

- :func:`text_encoding`: UTF-8 is read as ``utf-8-sig``, so a byte-order mark is accepted everywhere.
- :func:`undecodable`: the first line of a file that is not valid text in its encoding.
- :func:`int64_values`: numbers (float or int) that must be whole and fit in int64 (ids, timestamps);
  Python integers are checked exactly, never through a float.
- :func:`id_values`: an id column of a DataFrame: integers or strings, never lists, NaN or fractions.
"""
from __future__ import annotations

import gzip
import numbers
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from .recdata import DataError

__all__ = ["text_encoding", "undecodable", "int64_values", "id_values", "INT64_LIMIT"]

#: Integers must satisfy ``-INT64_LIMIT <= x < INT64_LIMIT``.
INT64_LIMIT = 2 ** 63


def text_encoding(encoding: str) -> str:
    """``utf-8-sig`` for any spelling of UTF-8 (reads files with or without a BOM), else ``encoding``."""
    return "utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8", "utf-8-sig") else encoding


def undecodable(path: str | Path, encoding: str) -> DataError:
    """A :class:`DataError` naming the first line (and byte) of ``path`` that ``encoding`` cannot decode."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    encoding = text_encoding(encoding)
    shown = "UTF-8" if encoding == "utf-8-sig" else encoding
    with opener(path, "rb") as handle:
        for number, raw in enumerate(handle, 1):
            try:
                raw.decode(encoding if number == 1 else encoding.replace("-sig", ""))
            except UnicodeDecodeError as exc:
                return DataError(f"{path}, line {number}, byte {exc.start + 1}: not valid {shown} text "
                                 f"({raw[exc.start:exc.start + 4]!r}); re-save the file as {shown}")
    return DataError(f"{path}: not valid {shown} text")


def int64_values(values, column: str, where: Callable[[int], str], what: str = "an integer") -> np.ndarray:
    """``values`` as int64 after checking each is a finite whole number inside the int64 range.

    Floats are accepted when whole (``3.0``); ``1e30``, ``2**63``, NaN and ``1.5`` raise, naming the
    first such row with ``where(row)``.
    """
    array = np.asarray(values)
    if array.dtype.kind in "iu":
        if array.dtype.kind == "u" and len(array) and int(array.max()) >= INT64_LIMIT:
            row = int(np.argmax(array))
            raise DataError(f"{where(row)}: field {column!r} {array[row]} does not fit in 64 bits")
        return array.astype(np.int64)
    if array.dtype == object and all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in array):
        outside = [row for row, v in enumerate(array) if not -INT64_LIMIT <= v < INT64_LIMIT]
        if outside:   # Python ints are checked exactly, never through a float
            raise DataError(f"{where(outside[0])}: field {column!r} {array[outside[0]]} does not fit in 64 bits "
                            f"({len(outside)} such rows)")
        return array.astype(np.int64)
    try:
        floats = array.astype(np.float64)
    except (TypeError, ValueError):
        floats = pd.to_numeric(pd.Series(array, dtype=object), errors="coerce").to_numpy(np.float64, na_value=np.nan)
    outside = (floats < -INT64_LIMIT) | (floats >= INT64_LIMIT)
    bad = ~np.isfinite(floats) | outside | (np.round(floats) != floats)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        value = array[row].item() if isinstance(array[row], np.generic) else array[row]
        reason = "does not fit in 64 bits" if np.isfinite(floats[row]) and outside[row] else f"is not {what}"
        raise DataError(f"{where(row)}: field {column!r} {value!r} {reason} ({int(bad.sum())} such rows)")
    return floats.astype(np.int64)


def id_values(values: pd.Series, column: str, where: Callable[[int], str], side: str = "") -> np.ndarray:
    """Raw ids of a DataFrame column: integers (whole floats become int64) or strings.

    Missing values (NaN, ``None``, ``pd.NA``), fractional floats, values beyond int64 in numeric
    columns, and anything that is neither an integer nor a string (lists, dicts, bools) raise;
    ``side`` ("user", "item") names the id in messages.
    """
    array = values.to_numpy(dtype=object) if isinstance(values.dtype, pd.api.extensions.ExtensionDtype) \
        else values.to_numpy()
    missing = np.flatnonzero(pd.isna(array)) if array.dtype == object or array.dtype.kind == "f" else []
    if len(missing):
        raise DataError(f"{where(int(missing[0]))}: empty {side + ' ' if side else ''}id in column {column!r} ({len(missing)} such rows)")
    if array.dtype.kind == "b":
        raise DataError(f"{where(0)}: column {column!r} holds booleans, not ids")
    if array.dtype.kind in "iuf":
        return int64_values(array, column, where, what="a whole-number id")
    kinds = np.fromiter((isinstance(v, str) or (isinstance(v, numbers.Integral) and not isinstance(v, bool))
                         for v in array), bool, len(array))
    if not kinds.all():
        row = int(np.flatnonzero(~kinds)[0])
        raise DataError(f"{where(row)}: id {array[row]!r} in column {column!r} is a {type(array[row]).__name__}; "
                        "ids must be integers or strings")
    is_text = np.fromiter((isinstance(v, str) for v in array), bool, len(array))
    if is_text.any() and not is_text.all():
        row = int(np.flatnonzero(is_text != is_text[0])[0])
        raise DataError(f"{where(row)}: column {column!r} mixes string and integer ids (first change here: "
                        f"{array[row]!r})")
    return array
