"""Tables -> dense interactions: strict delimited-file reading and the generic ``from_dataframe``.

Every loader goes through two steps kept here:

1. :class:`TableSource` reads a delimited file with explicit dtypes (pandas, vectorised). When
   pandas fails, the file is re-scanned record by record only then, to name the exact line and
   field at fault in a :class:`DataError`.
2. :func:`dense_interactions` turns raw ``user, item[, rating, timestamp]`` columns into dense
   0-based ids (sorted raw ids, or a given catalogue), checking ratings, unknown ids and duplicate
   ``(user, item)`` pairs.

Shared checks (:mod:`.safe_io`) keep every bad value a :class:`DataError`: UTF-8 files may start
with a byte-order mark (a file declared Latin-1 that starts with one was re-saved as UTF-8 and is
read as such), integers must fit in int64, ids are integers or strings (never NaN, lists or
fractional floats), timestamps are whole numbers inside int64 and a catalogue lists each raw id once.
An integer column accepts digits, and whole numbers written as floats (``3.0``, ``1e3``) only below
2**53, where a float is still exact: ``9007199254740993.0`` would silently become ...992.
"""
from __future__ import annotations

import csv
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, NamedTuple, NoReturn

import numpy as np
import pandas as pd

from .recdata import DataError, Interactions, RecData, resolve_path
from .safe_io import INT64_LIMIT, id_values, int64_values, text_encoding, undecodable

__all__ = ["TableSource", "DenseInteractions", "dense_interactions", "from_dataframe", "catalogue_index",
           "dense_id_range"]


_DIGITS = re.compile(r"\s*[+-]?\d+\s*")
_DECIMAL = re.compile(r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*")
#: Whole numbers written as floats are exact only below this magnitude.
FLOAT_EXACT_LIMIT = 2 ** 53


def _finite_float(text: str) -> float:
    """A decimal number (``float()`` would also take ``1_000`` and ``inf``); ValueError says why not."""
    if not _DECIMAL.fullmatch(text):
        raise ValueError("is not a finite number")
    return float(text)


def _int64(text: str) -> int:
    """Digits inside int64, or a whole float below 2**53; ValueError says why not."""
    if _DIGITS.fullmatch(text):
        value = int(text)
        if not -INT64_LIMIT <= value < INT64_LIMIT:
            raise ValueError("does not fit in 64 bits (int64)")
        return value
    if _DECIMAL.fullmatch(text) and float(text).is_integer():
        if abs(float(text)) >= FLOAT_EXACT_LIMIT:
            raise ValueError("is written as a float beyond 2**53, where floats are not exact; write the integer "
                             "in digits")
        return int(float(text))
    raise ValueError("is not an integer")


_CASTS = {"int64": _int64, "float64": _finite_float, "str": str}


@dataclass(frozen=True)
class TableSource:
    """A delimited text file read with explicit column dtypes (``"int64"``, ``"float64"``, ``"str"``).

    ``header=True``: the first line names the columns; every line must have that many fields and
    only the requested columns are returned. ``header=False``: the file has exactly the requested
    columns, in order.
    """

    path: Path
    sep: str = ","
    header: bool = True
    encoding: str = "utf-8"
    quoting: int = csv.QUOTE_MINIMAL

    def __post_init__(self):
        path = resolve_path(self.path, "data file")
        if path.is_dir():
            raise DataError(f"{path} is a folder, not a data file")
        encoding = text_encoding(self.encoding)
        if encoding != "utf-8-sig":
            with open(path, "rb") as handle:
                if handle.read(3) == b"\xef\xbb\xbf":   # re-saved as UTF-8 with a byte-order mark
                    encoding = "utf-8-sig"
        object.__setattr__(self, "path", path)
        object.__setattr__(self, "encoding", encoding)

    def read(self, columns: dict[str, str], optional: dict[str, str] | None = None) -> pd.DataFrame:
        """The requested columns (plus the ``optional`` ones the header has), every value typed."""
        optional = optional or {}
        if self.header:
            present = self._header()
            missing = [c for c in columns if c not in present]
            if missing:
                raise DataError(f"{self.path}: missing column(s) {missing}; the header has {present}")
            dtypes = {**columns, **{c: t for c, t in optional.items() if c in present}}
            every_column = {c: dtypes.get(c, "str") for c in present}
            n_fields, names = len(present), None
        else:
            dtypes, n_fields, names = dict(columns), len(columns), list(columns)
            every_column = dtypes
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", pd.errors.ParserWarning)
                frame = pd.read_csv(self.path, sep=self.sep, header=0 if self.header else None, names=names,
                                    index_col=False, encoding=self.encoding, quoting=self.quoting,
                                    keep_default_na=False, na_values=[""], dtype=every_column)
        except (ValueError, OverflowError, UnicodeDecodeError, pd.errors.ParserWarning) as exc:
            self._raise_first_bad_record(dtypes, n_fields, list(every_column), exc)
        frame = frame[list(dtypes)]
        inexact = {c: t for c, t in dtypes.items() if t == "int64" and
                   ((frame[c] >= FLOAT_EXACT_LIMIT) | (frame[c] <= -FLOAT_EXACT_LIMIT)).any()}
        if inexact:  # pandas also takes "9007199254740993.0" for int64: re-read those columns strictly
            error = self._first_bad_record(inexact, n_fields, list(every_column))
            if error is not None:
                raise error
        floats = [c for c, t in dtypes.items() if t == "float64"]
        if floats and frame[floats].isna().to_numpy().any():
            self._raise_first_bad_record(dtypes, n_fields, list(every_column), ValueError("empty numeric field"))
        text = [c for c, t in dtypes.items() if t == "str"]
        if text:
            frame[text] = frame[text].fillna("")
        if frame.empty:
            raise DataError(f"{self.path}: no data rows")
        return frame

    def where(self, row: int) -> str:
        """``"<file>, line N"`` for the ``row``-th data record (re-scans the file)."""
        for position, (line, _) in enumerate(self._records()):
            if position == row:
                return f"{self.path}, line {line}"
        return f"{self.path}, data row {row}"

    def _reader(self, handle):
        return csv.reader(handle, delimiter=self.sep, quoting=self.quoting)

    def _header(self) -> list[str]:
        try:
            with open(self.path, encoding=self.encoding, newline="") as handle:
                first = next(self._reader(handle), None)
        except UnicodeDecodeError:
            raise undecodable(self.path, self.encoding) from None
        if not first:
            raise DataError(f"{self.path}: empty file (expected a header line)")
        return first

    def _records(self):
        """``(line number, fields)`` of each non-blank data record."""
        with open(self.path, encoding=self.encoding, newline="") as handle:
            reader = self._reader(handle)
            if self.header:
                next(reader, None)
            for fields in reader:
                if fields:
                    yield reader.line_num, fields

    def _first_bad_record(self, dtypes: dict[str, str], n_fields: int, columns: list[str]) -> DataError | None:
        """A :class:`DataError` naming the first record with a wrong field count or a ``dtypes`` value
        that fails its cast (None if none); ``columns`` are the file's columns in order."""
        try:
            positions = {c: i for i, c in enumerate(columns)}
            for line, fields in self._records():
                if len(fields) != n_fields:
                    return DataError(f"{self.path}, line {line}: expected {n_fields} fields, found "
                                     f"{len(fields)}: {self.sep.join(fields)[:200]!r}")
                for column, dtype in dtypes.items():
                    value = fields[positions[column]]
                    try:
                        _CASTS[dtype](value)
                    except ValueError as why:
                        return DataError(f"{self.path}, line {line}: field {column!r} {why}: {value!r}")
        except UnicodeDecodeError:
            return undecodable(self.path, self.encoding)
        return None

    def _raise_first_bad_record(self, dtypes: dict[str, str], n_fields: int, columns: list[str],
                                exc: Exception) -> NoReturn:
        """Raise a :class:`DataError` naming the first record with a wrong field count or value."""
        error = self._first_bad_record(dtypes, n_fields, columns)
        if error is not None:
            raise error from None
        if isinstance(exc, pd.errors.EmptyDataError):
            raise DataError(f"{self.path}: empty file (no data rows)") from None
        raise DataError(f"{self.path}: could not be parsed ({exc})") from exc


def _plain(value):
    """A NumPy scalar as the Python value it holds (for readable messages)."""
    return value.item() if isinstance(value, np.generic) else value


class DenseInteractions(NamedTuple):
    """Dense interactions with the raw-id catalogues and, per kept interaction, its input row."""

    interactions: Interactions
    user_ids: np.ndarray
    item_ids: np.ndarray
    rows: np.ndarray


#: Ids already dense 0..n-1 (MMRec, KGAT) may leave a few ids unused; more than this share (and
#: more than this count) means an id far beyond the others, which would create phantom entities.
MAX_UNUSED_SHARE, MAX_UNUSED_ANY = 0.01, 10


def dense_id_range(values: np.ndarray, what: str, where: Callable[[int], str], hint: str,
                   confirmed: set[int] = frozenset()) -> np.ndarray:
    """``0 .. max(values)`` after checking that no id is negative and that the range is not mostly
    unused (``itemID`` 10**6 among 700 items); ``confirmed`` holds sizes another file vouches for."""
    negative = np.flatnonzero(values < 0)
    if len(negative):
        raise DataError(f"{where(int(negative[0]))}: {what} must be >= 0, got {values[negative[0]]}")
    size = int(values.max()) + 1
    unused = size - len(np.unique(values))
    if unused > max(MAX_UNUSED_ANY, MAX_UNUSED_SHARE * size) and size not in confirmed:
        raise DataError(f"{where(int(np.argmax(values)))}: {what} {size - 1} would make {size:,} ids of which "
                        f"{unused:,} never occur; {hint}")
    return np.arange(size)


def catalogue_index(catalogue: np.ndarray, values: np.ndarray, where: Callable[[int], str], what: str) -> np.ndarray:
    """Position of each value in ``catalogue`` (raw ids); unknown values and a catalogue that lists
    one raw id twice raise, naming the first."""
    index = pd.Index(catalogue)
    if not index.is_unique:
        repeated = _plain(index[index.duplicated()][0])
        raise DataError(f"{where(0)}: the {what} catalogue these rows refer to lists raw id {repeated!r} "
                        "more than once")
    codes = index.get_indexer(values)
    unknown = np.flatnonzero(codes < 0)
    if len(unknown):
        row = int(unknown[0])
        raise DataError(f"{where(row)}: {what} id {_plain(values[row])!r} is not in the {what} catalogue "
                        f"({len(unknown)} such rows)")
    return codes


def dense_interactions(frame: pd.DataFrame, *, where: Callable[[int], str], user: str = "user",
                       item: str = "item", rating: str | None = None, timestamp: str | None = None,
                       user_ids: np.ndarray | None = None, item_ids: np.ndarray | None = None,
                       rating_range: tuple[float, float] | None = None,
                       duplicates: str = "raise") -> DenseInteractions:
    """Map raw ``user``/``item`` columns to dense ids and validate the interactions.

    Dense ids follow the sorted raw ids unless a catalogue (``user_ids`` / ``item_ids``, e.g. the
    rows of ``u.item``) is given. ``duplicates``: ``"raise"`` (the error names the first repeated
    pair's location and its earlier one) or ``"keep-last"``. ``where(row)`` names an input row.
    """
    if duplicates not in ("raise", "keep-last"):
        raise ValueError(f"duplicates must be 'raise' or 'keep-last', got {duplicates!r}")
    if frame.empty:
        raise DataError(f"{where(0)}: no interactions")
    codes = {}
    for side, column, catalogue in (("user", user, user_ids), ("item", item, item_ids)):
        values = id_values(frame[column], column, where, side)
        if catalogue is None:
            try:
                catalogue = np.unique(values)
            except TypeError:
                raise DataError(f"{where(0)}: column {column!r} mixes id types that cannot be sorted") from None
        codes[side] = (catalogue_index(catalogue, values, where, side), np.asarray(catalogue))
    (user_code, user_ids), (item_code, item_ids) = codes["user"], codes["item"]
    ratings = None if rating is None else _checked_ratings(frame[rating], rating_range, where)
    times = None if timestamp is None else int64_values(_numeric(frame[timestamp]), timestamp, where,
                                                         what="a whole-number timestamp")
    pair = pd.Series(user_code.astype(np.int64) * len(item_ids) + item_code)
    repeated = pair.duplicated(keep="first").to_numpy()
    if repeated.any() and duplicates == "raise":
        row = int(np.flatnonzero(repeated)[0])
        earlier = int(np.flatnonzero(pair.to_numpy() == pair.iloc[row])[0])
        raise DataError(f"{where(row)}: duplicate interaction (user {_plain(user_ids[user_code[row]])!r}, item "
                        f"{_plain(item_ids[item_code[row]])!r}) first seen at {where(earlier)}; "
                        f"{int(repeated.sum())} duplicate rows in all (pass duplicates='keep-last' to keep "
                        "the last of each)")
    rows = np.flatnonzero(~pair.duplicated(keep="last").to_numpy())
    interactions = Interactions.from_arrays(user_code[rows], item_code[rows],
                                            None if ratings is None else ratings[rows],
                                            None if times is None else times[rows])
    return DenseInteractions(interactions, user_ids, item_ids, rows)


def _numeric(values: pd.Series) -> np.ndarray:
    """A column as a NumPy array, nullable dtypes as float (``pd.NA`` -> NaN, refused downstream)."""
    if isinstance(values.dtype, pd.api.extensions.ExtensionDtype):
        return values.to_numpy(dtype=np.float64, na_value=np.nan) if values.dtype.kind in "iuf" \
            else values.to_numpy(dtype=object)
    return values.to_numpy()


def _checked_ratings(values: pd.Series, rating_range: tuple[float, float] | None,
                     where: Callable[[int], str]) -> np.ndarray:
    """Ratings as float64; non-numbers, non-finite values or values outside the range raise."""
    ratings = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    low, high = rating_range if rating_range is not None else (-np.inf, np.inf)
    bad = np.flatnonzero(~np.isfinite(ratings) | (ratings < low) | (ratings > high))
    if len(bad):
        row = int(bad[0])
        problem = (f"outside {low:g}..{high:g}" if np.isfinite(ratings[row]) else "is not a finite number")
        raise DataError(f"{where(row)}: rating {_plain(values.iloc[row])!r} {problem} ({len(bad)} such rows)")
    return ratings


def from_dataframe(df: pd.DataFrame, user: str = "user", item: str = "item", rating: str | None = None,
                   timestamp: str | None = None, name: str = "frame", duplicates: str = "raise") -> RecData:
    """An unsplit :class:`RecData` from any interaction table (implicit when ``rating`` is None).

    Dense ids follow the sorted raw ids; ``user_ids``/``item_ids`` map them back.
    """
    wanted = [c for c in (user, item, rating, timestamp) if c is not None]
    missing = [c for c in wanted if c not in df.columns]
    if missing:
        raise DataError(f"{name}: DataFrame lacks column(s) {missing}; it has {list(df.columns)}")
    if timestamp is not None and not pd.api.types.is_integer_dtype(df[timestamp]):
        raise DataError(f"{name}: column {timestamp!r} must hold integer timestamps, got {df[timestamp].dtype}")

    def where(row: int) -> str:
        return f"{name}: DataFrame row {_plain(df.index[row])!r}" if row < len(df) else f"{name}: DataFrame"

    dense = dense_interactions(df, where=where, user=user, item=item, rating=rating, timestamp=timestamp,
                               duplicates=duplicates)
    return RecData(name=name, user_ids=dense.user_ids, item_ids=dense.item_ids,
                   interactions=dense.interactions, implicit=rating is None)
