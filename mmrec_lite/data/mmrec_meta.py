"""MMRec folders joined with the raw Amazon text, so that SCALE's profiles (Eq. 1–2) can be written
on the paper's own datasets.

MMRec's folders (``<root>/<name>/<name>.inter``, ``text_feat.npy``, ``image_feat.npy``) carry
encoded features only. Their preprocessing also writes ``i_id_mapping.csv`` (tab-separated,
header ``asin  itemID``) and ``u_id_mapping.csv`` (``reviewerID  userID``), which map MMRec's
dense ids back to Amazon's. With them, the McAuley-lab files of the same category join back:

- ``meta_<Category>.json.gz`` (one product per line, strict JSON or Python dict literals, as the
  2014 release writes them): title, description, categories → ``item_text``, ``item_categories``;
- optionally ``reviews_<Category>_5.json.gz``: the review text of each interaction → ``reviews``.

None of these files can be downloaded by the course (MMRec distributes its folders by Google
Drive; the Amazon files need a request form), so a missing file raises a :class:`DataError`
that names each file and where to place it.
"""
from __future__ import annotations

import csv
import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd

from ..profiles import data_root
from .amazon import product_metadata, read_json_lines
from .mmrec_format import load_mmrec
from .recdata import DataError, RecData

__all__ = ["MMREC_CATEGORIES", "load_mmrec_with_text", "read_id_mapping"]

# MMRec folder name -> Amazon 2014 category of its files
MMREC_CATEGORIES = {"baby": "Baby", "sports": "Sports_and_Outdoors", "clothing": "Clothing_Shoes_and_Jewelry",
                    "elec": "Electronics"}
_SOURCES = ("MMRec's data folder (the preprocessing notebooks write it next to <name>.inter)",
            "the McAuley lab's Amazon product data 2014 (https://jmcauley.ucsd.edu/data/amazon/), per category")


def read_id_mapping(path: Path, raw_column: str, id_column: str, n_ids: int) -> np.ndarray:
    """``raw ids [n_ids]`` from an MMRec mapping file (tab- or comma-separated, with a header).

    Every dense id ``0 .. n_ids − 1`` must appear exactly once; errors name the file and line.
    """
    with open(path, newline="", encoding="utf-8-sig") as handle:
        header = handle.readline()
        delimiter = "\t" if "\t" in header else ","
        columns = [c.strip() for c in header.rstrip("\r\n").split(delimiter)]
        if raw_column not in columns or id_column not in columns:
            raise DataError(f"{path}, line 1: expected the columns {raw_column!r} and {id_column!r}, got {columns}")
        raw_at, id_at = columns.index(raw_column), columns.index(id_column)
        raw = np.full(n_ids, None, dtype=object)
        for line, row in enumerate(csv.reader(handle, delimiter=delimiter), start=2):
            if not row:
                continue
            if len(row) != len(columns):
                raise DataError(f"{path}, line {line}: {len(row)} fields, the header has {len(columns)}")
            try:
                dense = int(row[id_at])
            except ValueError:
                raise DataError(f"{path}, line {line}: field {id_column!r} is not an integer: {row[id_at]!r}") from None
            if not 0 <= dense < n_ids:
                raise DataError(f"{path}, line {line}: {id_column} {dense} is outside 0..{n_ids - 1} (the .inter file's ids)")
            if raw[dense] is not None:
                raise DataError(f"{path}, line {line}: {id_column} {dense} is mapped twice")
            if not row[raw_at].strip():
                raise DataError(f"{path}, line {line}: empty field {raw_column!r}")
            raw[dense] = row[raw_at].strip()
    missing = np.flatnonzero(pd.isna(raw))
    if len(missing):
        raise DataError(f"{path}: {len(missing)} of {n_ids} {id_column}s have no {raw_column} (first: {missing[0]})")
    return raw.astype(str)


def _need(paths: dict[Path, str], folder: Path) -> None:
    missing = [f"  {path.name}  (from {source})" for path, source in paths.items() if not path.exists()]
    if missing:
        raise DataError(f"cannot join raw text to the MMRec folder {folder}: place these files in it by hand\n"
                        + "\n".join(missing))


def _reviews(path: Path, users: np.ndarray, items: np.ndarray, data: RecData) -> pd.DataFrame:
    """The review of every interaction of ``data`` (dense ids), from a 5-core review file."""
    records, numbers = read_json_lines(path)
    user_of = {raw: dense for dense, raw in enumerate(users)}
    item_of = {raw: dense for dense, raw in enumerate(items)}
    rows = []
    for record, line in zip(records, numbers):
        if "reviewerID" not in record or "asin" not in record:
            raise DataError(f"{path}, line {line}: a review needs the fields 'reviewerID' and 'asin'")
        user, item = user_of.get(str(record["reviewerID"])), item_of.get(str(record["asin"]))
        if user is not None and item is not None:
            rows.append((user, item, str(record.get("reviewText") or "").strip(), float(record.get("overall", np.nan))))
    reviews = pd.DataFrame(rows, columns=["user", "item", "text", "rating"]).drop_duplicates(["user", "item"])
    observed = pd.DataFrame({"user": data.interactions.user.numpy(), "item": data.interactions.item.numpy()})
    return reviews.merge(observed.drop_duplicates(), on=["user", "item"]).reset_index(drop=True)


def load_mmrec_with_text(name: str, category: str | None = None, root: str | Path | None = None,
                         meta_path: str | Path | None = None, reviews_path: str | Path | None = None) -> RecData:
    """:func:`~mmrec_lite.data.load_mmrec` plus the raw Amazon text of every item (and user reviews).

    ``category`` is the Amazon category of the files (default: :data:`MMREC_CATEGORIES` of
    ``name``); ``meta_path`` defaults to ``<folder>/meta_<Category>.json.gz``. Reviews are joined
    when ``reviews_path`` (default ``<folder>/reviews_<Category>_5.json.gz``) and
    ``u_id_mapping.csv`` exist. Products without a metadata line keep empty text; the share of
    items with a title is in ``data.item_meta["has_title"]``.
    """
    data = load_mmrec(name, root)
    folder = (Path(root).expanduser() if root is not None else data_root() / "mmrec") / name
    category = category or MMREC_CATEGORIES.get(name)
    if category is None and meta_path is None:
        raise DataError(f"no Amazon category known for the MMRec folder {name!r}: pass category= (e.g. 'Baby') "
                        f"or meta_path=; known: {MMREC_CATEGORIES}")
    item_map = folder / "i_id_mapping.csv"
    meta = Path(meta_path).expanduser() if meta_path is not None else folder / f"meta_{category}.json.gz"
    _need({item_map: _SOURCES[0], meta: _SOURCES[1]}, folder)
    asins = read_id_mapping(item_map, "asin", "itemID", data.n_items)
    text, categories, _, table = product_metadata(meta, asins)
    table["has_title"] = [bool(t) for t in text["title"]]
    if not table["has_title"].any() and not any(text["description"]):
        raise DataError(f"{meta}: none of the {data.n_items} products of {item_map} has a metadata line")
    changes = dict(item_ids=asins, item_text=text, item_categories=categories, item_meta=table)
    user_map = folder / "u_id_mapping.csv"
    reviews = Path(reviews_path).expanduser() if reviews_path is not None else folder / f"reviews_{category}_5.json.gz"
    if user_map.exists() and reviews.exists():
        users = read_id_mapping(user_map, "reviewerID" if _has_column(user_map, "reviewerID") else "user_id",
                                "userID", data.n_users)
        changes.update(user_ids=users, reviews=_reviews(reviews, users, asins, data))
    elif reviews_path is not None:
        _need({user_map: _SOURCES[0], reviews: _SOURCES[1]}, folder)
    return dataclasses.replace(data, **changes)


def _has_column(path: Path, column: str) -> bool:
    with open(path, encoding="utf-8-sig") as handle:
        header = handle.readline()
    return column in [c.strip() for c in header.rstrip("\r\n").split("\t" if "\t" in header else ",")]
