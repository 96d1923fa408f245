"""Amazon product data 2014 (McAuley lab): 5-core review files and product metadata.

``reviews_<Category>_5.json.gz`` holds one JSON object per line (``reviewerID``, ``asin``,
``overall``, ``reviewText``, ``summary``, ``unixReviewTime``, ...). ``meta_<Category>.json.gz``
holds one product per line; the official 2014 files write Python dict literals (single quotes),
not strict JSON, so both are accepted. A line that is neither (or that nests too deeply, or is
not UTF-8) raises a :class:`DataError` naming the file and line; a UTF-8 byte-order mark is
accepted. Timestamps must be whole numbers inside int64.
"""
from __future__ import annotations

import ast
import gzip
import json
import re
import zlib
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from ..profiles import data_root
from .checksums import verify_official
from .downloads import AMAZON_2014_URL
from .frame import dense_interactions
from .recdata import DataError, RecData, resolve_path
from .safe_io import id_values, int64_values, undecodable

__all__ = ["load_amazon_2014", "product_metadata", "read_json_lines"]

_ASIN = re.compile(r"""['"]asin['"]\s*:\s*['"]([^'"]+)['"]""")


def _parse_line(line: str, python_literals: bool):
    try:
        return json.loads(line)
    except RecursionError:
        raise ValueError("nested too deeply to parse") from None
    except json.JSONDecodeError as exc:
        if python_literals:
            try:
                return ast.literal_eval(line.strip())
            except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
                pass
        raise ValueError(f"malformed JSON ({exc.msg}, column {exc.colno})") from None


def read_json_lines(path: str | Path, python_literals: bool = False,
                    keep: Callable[[str], bool] | None = None) -> tuple[list[dict], list[int]]:
    """The objects of a JSON-lines file (``.gz`` or plain) and their line numbers.

    ``python_literals`` also accepts Python dict literals; ``keep(line)`` can skip lines before
    they are parsed. Blank lines are ignored.
    """
    path = resolve_path(path, "JSON-lines file")
    records, numbers = [], []
    opener = gzip.open if path.suffix == ".gz" else open
    number = 0
    try:
        with opener(path, "rt", encoding="utf-8-sig") as handle:
            for number, line in enumerate(handle, 1):
                if not line.strip() or (keep is not None and not keep(line)):
                    continue
                try:
                    record = _parse_line(line, python_literals)
                except ValueError as exc:
                    raise DataError(f"{path}, line {number}: {exc}: {line[:120]!r}") from None
                if not isinstance(record, dict):
                    raise DataError(f"{path}, line {number}: expected an object, got {type(record).__name__}")
                records.append(record)
                numbers.append(number)
    except UnicodeDecodeError:
        raise undecodable(path, "utf-8") from None
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{path}, after line {number}: cannot be read ({exc}); the file is damaged or "
                        f"truncated: delete {path} and download it again") from None
    if not records:
        raise DataError(f"{path}: no records")
    return records, numbers


def _required(frame: pd.DataFrame, column: str, where: Callable[[int], str], path: Path) -> pd.Series:
    if column not in frame:
        raise DataError(f"{path}: no record has the field {column!r}")
    missing = np.flatnonzero(frame[column].isna().to_numpy())
    if len(missing):
        raise DataError(f"{where(int(missing[0]))}: missing field {column!r}")
    return frame[column]


def _numbers(values: pd.Series, column: str, where: Callable[[int], str]) -> np.ndarray:
    parsed = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    bad = np.flatnonzero(~np.isfinite(parsed))
    if len(bad):
        raise DataError(f"{where(int(bad[0]))}: field {column!r} is not a number: {values.iloc[bad[0]]!r}")
    return parsed


def _text(value) -> str:
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, list):
        return " ".join(str(v).strip() for v in value)
    return ""


def _flat_categories(value) -> list[str]:
    """``[["Musical Instruments", "Guitars"], ...]`` -> unique names in order of appearance."""
    if not isinstance(value, list):
        return []
    paths = [p if isinstance(p, list) else [p] for p in value]
    return list(dict.fromkeys(str(name) for path in paths for name in path))


def _field(table: pd.DataFrame, name: str) -> pd.Series:
    """A column, or ``None`` values when no record has that field."""
    return table[name] if name in table else pd.Series(None, index=table.index, dtype=object)


def product_metadata(path: Path, asins: np.ndarray) -> tuple[dict[str, list[str]], list[list[str]], list, pd.DataFrame]:
    """Title/description, categories, image URLs and a metadata table for the given products."""
    needed = set(asins.tolist())

    def wanted(line: str) -> bool:
        match = _ASIN.search(line)
        return match is None or match.group(1) in needed

    records, numbers = read_json_lines(path, python_literals=True, keep=wanted)
    meta = pd.DataFrame.from_records(records)
    asin = _required(meta, "asin", lambda row: f"{path}, line {numbers[row]}", path).astype(str)
    repeated = np.flatnonzero(asin.duplicated().to_numpy())
    if len(repeated):
        raise DataError(f"{path}, line {numbers[repeated[0]]}: product {asin.iloc[repeated[0]]!r} appears twice")
    rows = meta.set_axis(pd.Index(asin)).reindex(asins)
    text = {"title": [_text(v) for v in _field(rows, "title")],
            "description": [_text(v) for v in _field(rows, "description")]}
    categories = [_flat_categories(v) for v in _field(rows, "categories")]
    images = [v if isinstance(v, str) and v else None for v in _field(rows, "imUrl")]
    table = pd.DataFrame({"asin": asins, "title": text["title"],
                          "price": pd.to_numeric(_field(rows, "price"), errors="coerce").to_numpy(),
                          "brand": [_text(v) for v in _field(rows, "brand")], "im_url": images})
    return text, categories, images, table


def load_amazon_2014(category: str = "Musical_Instruments", root: str | Path | None = None,
                     meta_path: str | Path | None = None, duplicates: str = "raise",
                     verify: bool | None = None) -> RecData:
    """An Amazon 2014 5-core category as an unsplit :class:`RecData` (ratings 1..5, timestamps).

    ``root`` defaults to ``profiles.data_root()/"amazon-2014-5core"`` (fetch with
    :func:`~mmrec_lite.data.ensure_amazon_2014`). ``reviews`` has one row per interaction:
    ``user, item`` (dense), ``text`` (reviewText), ``summary``, ``rating``, ``timestamp``.
    Product metadata (``meta_path``, default ``root/meta_<category>.json.gz`` when present) adds
    ``item_text`` title/description, ``item_categories`` and ``item_images`` (image URLs).
    A review file with a pinned official sha256 is checked first (``verify=False`` or
    ``MMREC_VERIFY=0`` for a modified copy).
    """
    folder = Path(root).expanduser() if root is not None else data_root() / "amazon-2014-5core"
    path = folder / f"reviews_{category}_5.json.gz"
    if not path.exists():
        raise DataError(f"Amazon 2014 reviews not found: {path}. Download them with "
                        f"mmrec_lite.data.ensure_amazon_2014({category!r}) or by hand from "
                        f"{AMAZON_2014_URL.format(file=path.name)}")
    verify_official(path, "amazon-2014-5core", verify)
    records, numbers = read_json_lines(path)
    frame = pd.DataFrame.from_records(records)

    def where(row: int) -> str:
        return f"{path}, line {numbers[row]}"

    users = id_values(_required(frame, "reviewerID", where, path), "reviewerID", where, "user").astype(str)
    items = id_values(_required(frame, "asin", where, path), "asin", where, "item").astype(str)
    ratings = _required(frame, "overall", where, path)
    times = (int64_values(_numbers(_required(frame, "unixReviewTime", where, path), "unixReviewTime", where),
                          "unixReviewTime", where, what="a whole-number timestamp")
             if "unixReviewTime" in frame else np.zeros(len(frame), np.int64))
    table = pd.DataFrame({"user": users, "item": items, "rating": ratings, "timestamp": times})
    dense = dense_interactions(table, where=where, rating="rating", timestamp="timestamp",
                               rating_range=(1.0, 5.0), duplicates=duplicates)
    kept = frame.iloc[dense.rows]
    reviews = pd.DataFrame({
        "user": dense.interactions.user.numpy(), "item": dense.interactions.item.numpy(),
        "text": [_text(v) for v in _field(kept, "reviewText")],
        "summary": [_text(v) for v in _field(kept, "summary")],
        "rating": dense.interactions.rating.numpy(), "timestamp": dense.interactions.timestamp.numpy(),
    })
    meta_file = Path(meta_path).expanduser() if meta_path is not None else folder / f"meta_{category}.json.gz"
    text = categories = images = None
    item_meta = pd.DataFrame({"asin": dense.item_ids})
    if meta_path is not None or meta_file.exists():
        text, categories, images, item_meta = product_metadata(meta_file, dense.item_ids)
    return RecData(name=f"amazon-{category}", user_ids=dense.user_ids, item_ids=dense.item_ids,
                   interactions=dense.interactions, item_text=text, item_images=images,
                   item_categories=categories, item_meta=item_meta, reviews=reviews)
