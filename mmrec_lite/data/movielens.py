"""MovieLens-100K (GroupLens), optionally joined with TMDB metadata and posters.

Official files in ``ml-100k/``: ``u.data`` (tab: user item rating timestamp), ``u.item`` (pipe,
Latin-1: id|title|release date|video release date|IMDb URL|19 genre flags), ``u.genre``
(name|index) and ``u.user`` (user|age|gender|occupation|zip). The optional TMDB folder
(``ml-100k-tmdb/``) holds ``links.csv`` (movie_id, imdb_id, tmdb_id), the TMDB metadata in the
columns of *The Movies Dataset* (``item_features.csv`` or ``movies_metadata.csv``; optional
``keywords.csv`` / ``credits.csv``) and ``posters/<movie_id>.jpg``.
"""
from __future__ import annotations

import csv
import difflib
import os
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from ..profiles import data_root
from .checksums import verify_official
from .frame import TableSource, dense_interactions
from .movies_dataset import read_links, tmdb_side_information
from .recdata import DataError, RecData

__all__ = ["load_movielens_100k"]

_ITEM_FIELDS = {"movie_id": "int64", "title": "str", "release_date": "str", "video_release_date": "str",
                "imdb_url": "str"}
_USER_FIELDS = {"user_id": "int64", "age": "int64", "gender": "str", "occupation": "str", "zip": "str"}
_METADATA_FILES = ("item_features.csv", "movies_metadata.csv")
_ARTICLE = re.compile(r"^(.*), (The|A|An|Les|La|Le|Il|L'|Das|Der|Die|El)$")
TITLE_AGREEMENT_THRESHOLD = 0.5


def _normalise_title(title: str) -> str:
    """``"Mask, The (1994)"`` -> ``"the mask"``: year and aka dropped, article moved, lower-case."""
    title = re.sub(r"\s*\([^)]*\)\s*$", "", re.sub(r"\s*\(\d{4}\)\s*$", "", str(title))).strip()
    match = _ARTICLE.match(title)
    if match:
        title = f"{match.group(2)} {match.group(1)}"
    return re.sub(r"[^a-z0-9 ]", "", title.lower()).strip()


def title_agreement(movielens_titles, tmdb_titles, original_titles) -> np.ndarray:
    """Best string similarity (0..1) of each MovieLens title with its linked TMDB title or original
    title; NaN where the movie has no TMDB row. A low value flags a wrong link in ``links.csv``."""
    out = np.full(len(movielens_titles), np.nan)
    for i, (ml, *candidates) in enumerate(zip(movielens_titles, tmdb_titles, original_titles)):
        names = [c for c in candidates if isinstance(c, str) and c]
        if names:
            out[i] = max(difflib.SequenceMatcher(None, _normalise_title(ml), _normalise_title(c)).ratio()
                         for c in names)
    return out


def _pipe_file(path: Path) -> TableSource:
    return TableSource(path, sep="|", header=False, encoding="latin-1", quoting=csv.QUOTE_NONE)


def _read_genres(path: Path) -> list[str]:
    """Genre names in flag order, from ``u.genre`` (``name|index``)."""
    source = _pipe_file(path)
    table = source.read({"genre": "str", "index": "int64"}).sort_values("index")
    if not np.array_equal(table["index"].to_numpy(), np.arange(len(table))):
        raise DataError(f"{path}: genre indices must be 0..{len(table) - 1}, got {table['index'].tolist()}")
    return table["genre"].tolist()


def _read_items(root: Path, verify: bool | None) -> tuple[pd.DataFrame, list[str]]:
    """``u.item`` sorted by movie id, ``release_date`` parsed, with one ``genre:<name>`` flag column
    per genre."""
    for name in ("u.genre", "u.item"):
        verify_official(root / name, "ml-100k", verify)
    genres = _read_genres(root / "u.genre")
    source = _pipe_file(root / "u.item")
    items = source.read({**_ITEM_FIELDS, **{f"genre:{g}": "int64" for g in genres}})
    flags = items[[f"genre:{g}" for g in genres]].to_numpy()
    bad = np.flatnonzero(((flags != 0) & (flags != 1)).any(1))
    if len(bad):
        raise DataError(f"{source.where(int(bad[0]))}: genre flags must be 0 or 1")
    repeated = np.flatnonzero(items["movie_id"].duplicated().to_numpy())
    if len(repeated):
        raise DataError(f"{source.where(int(repeated[0]))}: movie id {items['movie_id'].iloc[repeated[0]]} "
                        "appears twice")
    items["release_date"] = _release_dates(items, source)
    return items.sort_values("movie_id", kind="stable").reset_index(drop=True), genres


def _release_dates(items: pd.DataFrame, source: TableSource) -> pd.Series:
    """``u.item`` release dates (``01-Jan-1995``) as datetimes; empty -> NaT, garbage -> DataError."""
    text = items["release_date"].str.strip()
    dates = pd.to_datetime(text, format="%d-%b-%Y", errors="coerce")
    bad = np.flatnonzero(dates.isna().to_numpy() & (text != "").to_numpy())
    if len(bad):
        raise DataError(f"{source.where(int(bad[0]))}: field 'release_date' is not a date like 01-Jan-1995: "
                        f"{text.iloc[bad[0]]!r}")
    return dates


def _read_users(root: Path, verify: bool | None) -> pd.DataFrame | None:
    """``u.user`` sorted by user id (``None`` when the file is absent)."""
    if not (root / "u.user").exists():
        return None
    verify_official(root / "u.user", "ml-100k", verify)
    source = _pipe_file(root / "u.user")
    users = source.read(_USER_FIELDS)
    repeated = np.flatnonzero(users["user_id"].duplicated().to_numpy())
    if len(repeated):
        raise DataError(f"{source.where(int(repeated[0]))}: user id appears twice")
    return users.sort_values("user_id", kind="stable").reset_index(drop=True)


def _resolve_tmdb_root(tmdb_root) -> Path | None:
    if tmdb_root is False:
        return None
    if tmdb_root is None:
        default = data_root() / "ml-100k-tmdb"
        return default if default.exists() else None
    folder = Path(tmdb_root).expanduser()
    if not folder.exists():
        raise DataError(f"TMDB folder not found: {folder} (pass tmdb_root=False to load MovieLens alone)")
    return folder


def _posters(folder: Path, movie_ids: np.ndarray) -> list[str | None]:
    """``posters/<movie_id>.jpg`` paths, ``None`` where a movie has no poster."""
    posters = folder / "posters"
    present = set(os.listdir(posters)) if posters.is_dir() else set()
    return [str(posters / f"{m}.jpg") if f"{m}.jpg" in present else None for m in movie_ids.tolist()]


def _join_tmdb(folder: Path, movie_ids: np.ndarray, item_text: dict, item_meta: pd.DataFrame,
               posters: bool, verify: bool | None) -> tuple[dict, pd.DataFrame, list | None]:
    """Add TMDB text, ``tmdb_*`` metadata columns and poster paths to the MovieLens items."""
    metadata_file = next((f for f in _METADATA_FILES if (folder / f).exists()), None)
    if metadata_file is None:
        raise DataError(f"{folder}: no TMDB metadata file (expected one of {list(_METADATA_FILES)})")
    for name in (metadata_file, "links.csv"):
        verify_official(folder / name, "ml-100k-tmdb", verify)
    tmdb_ids = read_links(folder / "links.csv", "movie_id", "tmdb_id").reindex(movie_ids)
    side = tmdb_side_information(folder, metadata_file, tmdb_ids)
    item_text = {**item_text, **{k: v for k, v in side.text.items() if k != "title"}}
    item_meta = pd.concat([item_meta, pd.DataFrame({"tmdb_id": tmdb_ids.array}), side.meta.add_prefix("tmdb_")],
                          axis=1)
    item_meta["tmdb_title_agreement"] = title_agreement(item_text["title"], side.text["title"],
                                                        item_meta["tmdb_original_title"].tolist())
    suspicious = int((item_meta["tmdb_title_agreement"] < TITLE_AGREEMENT_THRESHOLD).sum())
    if suspicious:
        warnings.warn(f"{folder / 'links.csv'}: {suspicious} movies link to a TMDB entry whose title differs "
                      "from the MovieLens title (see item_meta['tmdb_title_agreement'] < "
                      f"{TITLE_AGREEMENT_THRESHOLD}); their TMDB text and poster may describe another film",
                      stacklevel=3)
    item_meta.attrs.update(skipped_rows=side.skipped_rows, malformed=side.malformed,
                           suspicious_links=suspicious)
    return item_text, item_meta, _posters(folder, movie_ids) if posters else None


def load_movielens_100k(root: str | Path | None = None, tmdb_root: str | Path | bool | None = None,
                        posters: bool = True, duplicates: str = "raise", verify: bool | None = None) -> RecData:
    """MovieLens-100K as an unsplit :class:`RecData` (explicit ratings 1..5, timestamps).

    ``root`` defaults to ``profiles.data_root()/"ml-100k"`` (fetch it with
    :func:`~mmrec_lite.data.ensure_movielens_100k`). Items are the rows of ``u.item`` (sorted by
    id), users those of ``u.user`` (or of ``u.data`` when ``u.user`` is absent). Side information:
    ``item_text["title"]``, ``item_categories`` (genres), ``item_meta`` (release date, year, IMDb
    URL) and ``user_meta`` (age, gender, occupation, zip).

    ``tmdb_root`` (default ``data_root()/"ml-100k-tmdb"`` when present; ``False`` disables) adds
    TMDB ``overview`` / ``tagline`` (+ ``keywords``, ``cast``, ``director`` when those files exist)
    to ``item_text``, TMDB columns prefixed ``tmdb_`` to ``item_meta``, and, with ``posters``,
    ``item_images`` as poster paths (``None`` where missing).

    Files with an official name are checked against the release's sha256 (and ``u.data`` against
    its 100,000 lines) wherever they are found; ``verify=False`` (or ``MMREC_VERIFY=0``) loads a
    deliberately modified copy.
    """
    root = Path(root).expanduser() if root is not None else data_root() / "ml-100k"
    if not (root / "u.data").exists():
        raise DataError(f"MovieLens-100K not found: {root / 'u.data'} is missing. Download it with "
                        "mmrec_lite.data.ensure_movielens_100k() or unzip ml-100k.zip from "
                        "https://files.grouplens.org/datasets/movielens/ there.")
    verify_official(root / "u.data", "ml-100k", verify)
    items, genres = _read_items(root, verify)
    users = _read_users(root, verify)
    movie_ids = items["movie_id"].to_numpy()
    source = TableSource(root / "u.data", sep="\t", header=False, quoting=csv.QUOTE_NONE)
    ratings = source.read({"user": "int64", "item": "int64", "rating": "float64", "timestamp": "int64"})
    dense = dense_interactions(ratings, where=source.where, rating="rating", timestamp="timestamp",
                               user_ids=None if users is None else users["user_id"].to_numpy(),
                               item_ids=movie_ids, rating_range=(1.0, 5.0), duplicates=duplicates)
    dates = items["release_date"]
    item_meta = pd.DataFrame({"movie_id": movie_ids, "release_date": dates.to_numpy(),
                              "year": dates.dt.year.astype("Int64").array, "imdb_url": items["imdb_url"].to_numpy()})
    item_text = {"title": items["title"].str.strip().tolist()}
    item_images = None
    tmdb_folder = _resolve_tmdb_root(tmdb_root)
    if tmdb_folder is not None:
        item_text, item_meta, item_images = _join_tmdb(tmdb_folder, movie_ids, item_text, item_meta, posters, verify)
    flags = items[[f"genre:{g}" for g in genres]].to_numpy().astype(bool)
    genre_names = np.asarray(genres, dtype=object)
    return RecData(name="ml-100k", user_ids=dense.user_ids, item_ids=dense.item_ids,
                   interactions=dense.interactions, item_text=item_text, item_images=item_images,
                   item_categories=[genre_names[row].tolist() for row in flags], item_meta=item_meta,
                   user_meta=users)
