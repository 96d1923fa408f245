"""Kaggle's *The Movies Dataset* (rounakbanik): ``ratings_small.csv`` joined to TMDB metadata.

Files, all in one folder (only ``ratings_small.csv`` is required):

- ``ratings_small.csv``: ``userId,movieId,rating,timestamp`` (half stars 0.5..5);
- ``links_small.csv``: ``movieId,imdbId,tmdbId``, the join from MovieLens ``movieId`` to TMDB;
- ``movies_metadata.csv``: one TMDB movie per row (``id`` = TMDB id, ``title``, ``overview``,
  ``tagline``, ``genres``, ...). The real file has malformed rows (dates in the ``id`` column,
  shifted fields, repeated ids): they are skipped, counted and reported, never misaligned;
- ``keywords.csv`` (``id,keywords``) and ``credits.csv`` (``cast,crew,id``).

The list columns (``genres``, ``production_companies``, ``keywords``, ``cast``, ...) hold Python
literals such as ``[{'id': 16, 'name': 'Animation'}]``; they are read with ``ast.literal_eval``
(literals only, never code) and a malformed value becomes an empty list, counted in
``item_meta.attrs["malformed"]``. The TMDB helpers here also serve MovieLens-100K + TMDB.
"""
from __future__ import annotations

import ast
import re
import warnings
from pathlib import Path
from typing import Callable, NamedTuple

import numpy as np
import pandas as pd

from ..profiles import data_root
from .checksums import verify_official
from .downloads import movies_dataset_instructions
from .frame import TableSource, dense_interactions
from .recdata import DataError, RecData, resolve_path
from .safe_io import int64_values, undecodable

__all__ = ["load_movies_dataset", "read_tmdb_table", "read_links", "tmdb_side_information", "TmdbSide"]

_MAX_LITERAL_CHARS = 2_000_000
_NUMERIC = ("budget", "revenue", "runtime", "popularity", "vote_average", "vote_count")
_PLAIN = ("imdb_id", "original_title", "original_language", "status", "poster_path")
_NAME_LISTS = ("genres", "production_companies", "production_countries", "spoken_languages")


def read_tmdb_table(path: str | Path) -> pd.DataFrame:
    """A TMDB CSV (``movies_metadata``, ``keywords``, ``credits``) indexed by its integer ``id``.

    Rows with a wrong field count or a non-integer ``id`` are skipped; repeated ids keep their
    first row. An empty, non-UTF-8 or truncated file (e.g. cut inside a quoted field) raises a
    :class:`DataError` naming the file and, where known, the line. Both counts are warned about and stored in ``attrs["skipped_rows"]`` and
    ``attrs["duplicate_ids"]``.
    """
    path = resolve_path(path, "TMDB table")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", pd.errors.ParserWarning)
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, on_bad_lines="warn", encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise undecodable(path, "utf-8") from None
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: empty file (expected a header line with an 'id' column)") from None
    except pd.errors.ParserError as exc:
        row = re.search(r"row (\d+)", str(exc))
        where = f"{path}, line {int(row.group(1)) + 1}" if row else str(path)
        raise DataError(f"{where}: cannot be parsed as CSV, the file is probably truncated or damaged "
                        f"({str(exc).strip()})") from None
    bad_lines = [w for w in caught if issubclass(w.category, pd.errors.ParserWarning)]
    if "id" not in frame.columns:
        raise DataError(f"{path}: missing column 'id'; the header has {list(frame.columns)}")
    ids = frame["id"].fillna("").str.strip()
    valid = ids.str.fullmatch(r"\d+").to_numpy(dtype=bool)
    frame = frame[valid].set_axis(pd.Index(ids[valid].astype("int64"), name="id"))
    repeated = frame.index.duplicated(keep="first")
    frame = frame[~repeated].drop(columns="id")
    skipped = len(bad_lines) + int((~valid).sum())
    if skipped:
        warnings.warn(f"{path}: skipped {skipped} malformed row(s) (wrong field count or non-integer id)",
                      stacklevel=2)
    frame.attrs.update(skipped_rows=skipped, duplicate_ids=int(repeated.sum()))
    return frame


def read_links(path: str | Path, movie: str, tmdb: str) -> pd.Series:
    """TMDB id (nullable ``Int64``) per raw movie id, from a links file such as ``links_small.csv``."""
    source = TableSource(path)
    frame = source.read({movie: "int64", tmdb: "str"})
    raw = frame[tmdb].str.strip()
    tmdb_ids = pd.to_numeric(raw, errors="coerce")
    unparsed = tmdb_ids.isna().to_numpy() & (raw != "").to_numpy()
    fractional = (tmdb_ids.fillna(0) % 1 != 0).to_numpy()
    bad = np.flatnonzero(unparsed | fractional)
    if len(bad):
        raise DataError(f"{source.where(int(bad[0]))}: field {tmdb!r} is not an integer id: "
                        f"{frame[tmdb].iloc[bad[0]]!r}")
    present = np.flatnonzero(tmdb_ids.notna().to_numpy())
    exact = np.zeros(len(frame), np.int64)
    exact[present] = int64_values(raw.iloc[present].map(_whole).to_numpy(object), tmdb,
                                  lambda row: source.where(int(present[row])), what="an integer id")
    repeated = np.flatnonzero(frame[movie].duplicated().to_numpy())
    if len(repeated):
        raise DataError(f"{source.where(int(repeated[0]))}: movie id {frame[movie].iloc[repeated[0]]} "
                        "appears twice in the links file")
    values = pd.array(exact, dtype="Int64")
    values[~tmdb_ids.notna().to_numpy()] = pd.NA
    return pd.Series(values, index=frame[movie].to_numpy(), name="tmdb_id")


def _whole(text: str) -> int | float:
    """``"862"`` -> 862 exactly (any size, refused later if beyond int64); ``"862.0"`` -> 862.0."""
    text = text.strip()
    return int(text) if text.lstrip("+-").isdigit() else float(text)


def _literal(text: str):
    """The Python literal in ``text`` (never evaluates code); None when malformed."""
    if len(text) > _MAX_LITERAL_CHARS:
        return None
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None


def _named(value) -> list[dict] | None:
    """The entries of a list of ``{'name': ...}`` dicts (a single dict counts as one entry)."""
    entries = [value] if isinstance(value, dict) else value
    if isinstance(entries, list) and all(isinstance(d, dict) and isinstance(d.get("name"), str) for d in entries):
        return entries
    return None


def _names(value) -> list[str] | None:
    entries = _named(value)
    return None if entries is None else [d["name"] for d in entries]


def _top_cast(k: int) -> Callable:
    def extract(value) -> list[str] | None:
        entries = _named(value)
        if entries is None:
            return None
        return [d["name"] for d in sorted(entries, key=lambda d: d.get("order", 0))[:k]]
    return extract


def _directors(value) -> list[str] | None:
    entries = _named(value)
    return None if entries is None else [d["name"] for d in entries if d.get("job") == "Director"]


def _extract(text: str, extract: Callable) -> list[str] | None:
    if not text.strip():
        return []
    value = _literal(text)
    return None if value is None else extract(value)


def _parse_column(values: pd.Series, extract: Callable) -> tuple[list[list[str]], int]:
    """Names per row of a literal column (each distinct string parsed once); ``''`` -> ``[]``.

    Returns the lists and the number of rows whose value was malformed (those get ``[]``).
    """
    parsed, malformed = {}, 0
    for text, count in values.value_counts().items():
        names = _extract(text, extract)
        if names is None:
            malformed += int(count)
        parsed[text] = names or []
    return [parsed[text] for text in values], malformed


def _column(table: pd.DataFrame, name: str) -> pd.Series:
    """A text column, or empty strings when the table lacks it."""
    return table[name] if name in table else pd.Series("", index=table.index)


class TmdbSide(NamedTuple):
    """Side information of a list of movies from TMDB tables (empty where a movie has none)."""

    text: dict[str, list[str]]
    genres: list[list[str]]
    meta: pd.DataFrame
    malformed: dict[str, int]
    skipped_rows: dict[str, int]


def _metadata_columns(rows: pd.DataFrame) -> tuple[dict[str, list[str]], pd.DataFrame, dict[str, int]]:
    """Text fields, the metadata table and malformed-value counts of ``movies_metadata`` rows."""
    text = {f: _column(rows, f).str.strip().tolist() for f in ("title", "overview", "tagline")}
    meta, malformed = pd.DataFrame({f: _column(rows, f).to_numpy() for f in _PLAIN}), {}
    for f in _NUMERIC:
        raw = _column(rows, f).str.strip()
        meta[f] = pd.to_numeric(raw, errors="coerce").to_numpy()
        malformed[f] = int((meta[f].isna().to_numpy() & (raw != "").to_numpy()).sum())
    dates = _column(rows, "release_date").str.strip()
    meta["release_date"] = pd.to_datetime(dates, format="%Y-%m-%d", errors="coerce").to_numpy()
    malformed["release_date"] = int((meta["release_date"].isna().to_numpy() & (dates != "").to_numpy()).sum())
    meta["year"] = meta["release_date"].dt.year.astype("Int64")
    for f in _NAME_LISTS:
        meta[f], malformed[f] = _parse_column(_column(rows, f), _names)
    collection, malformed["belongs_to_collection"] = _parse_column(_column(rows, "belongs_to_collection"), _names)
    meta["collection"] = [c[0] if c else "" for c in collection]
    return text, meta, malformed


def tmdb_side_information(folder: Path, metadata_file: str, tmdb_ids: pd.Series, cast_top: int = 5) -> TmdbSide:
    """Text, genres and metadata of movies given their TMDB ids (``<NA>`` where unlinked).

    Reads ``folder/metadata_file`` and, when present, ``keywords.csv`` and ``credits.csv``.
    ``text`` has ``title``, ``overview``, ``tagline`` (+ ``keywords``, ``cast`` = first
    ``cast_top`` billed names, ``director``); ``meta`` has the numeric and descriptive TMDB
    columns, list columns as name lists, ``release_date`` (datetime) and ``year``.
    """
    keys = pd.Index(tmdb_ids.fillna(-1).astype("int64").to_numpy())
    tables = {name: read_tmdb_table(folder / name) for name in (metadata_file, "keywords.csv", "credits.csv")
              if name == metadata_file or (folder / name).exists()}
    rows = {name: table.reindex(keys).fillna("") for name, table in tables.items()}
    text, meta, malformed = _metadata_columns(rows[metadata_file])
    if "keywords.csv" in rows:
        keywords, malformed["keywords"] = _parse_column(_column(rows["keywords.csv"], "keywords"), _names)
        text["keywords"] = [", ".join(k) for k in keywords]
    if "credits.csv" in rows:
        cast, malformed["cast"] = _parse_column(_column(rows["credits.csv"], "cast"), _top_cast(cast_top))
        directors, malformed["crew"] = _parse_column(_column(rows["credits.csv"], "crew"), _directors)
        text["cast"] = [", ".join(c) for c in cast]
        text["director"] = [", ".join(d) for d in directors]
    malformed = {f: n for f, n in malformed.items() if n}
    if malformed:
        warnings.warn(f"{folder}: malformed TMDB values treated as empty: {malformed}", stacklevel=2)
    skipped = {name: table.attrs["skipped_rows"] for name, table in tables.items()}
    return TmdbSide(text, meta["genres"].tolist(), meta, malformed, skipped)


def load_movies_dataset(root: str | Path | None = None, cast_top: int = 5, duplicates: str = "raise",
                        verify: bool | None = None) -> RecData:
    """The Movies Dataset: ``ratings_small.csv`` (+ TMDB text, genres and metadata when present).

    ``root`` defaults to ``profiles.data_root()/"the-movies-dataset"``. Items are the rated
    ``movieId``s (sorted); items without metadata keep empty text. Without
    ``movies_metadata.csv`` the dataset carries no item text. Skipped rows and malformed values
    are in ``item_meta.attrs["skipped_rows"]`` / ``["malformed"]``. ``ratings_small.csv`` is checked
    against the release's sha256 (``verify=False`` or ``MMREC_VERIFY=0`` for a modified copy).
    """
    folder = Path(root).expanduser() if root is not None else data_root() / "the-movies-dataset"
    if not (folder / "ratings_small.csv").exists():
        raise DataError(movies_dataset_instructions(folder))
    verify_official(folder / "ratings_small.csv", "the-movies-dataset", verify)
    source = TableSource(folder / "ratings_small.csv")
    frame = source.read({"userId": "int64", "movieId": "int64", "rating": "float64", "timestamp": "int64"})
    dense = dense_interactions(frame, where=source.where, user="userId", item="movieId", rating="rating",
                               timestamp="timestamp", rating_range=(0.5, 5.0), duplicates=duplicates)
    meta = pd.DataFrame({"movie_id": dense.item_ids})
    text = genres = None
    if (folder / "movies_metadata.csv").exists():
        if not (folder / "links_small.csv").exists():
            raise DataError(f"{folder}: movies_metadata.csv is present but links_small.csv is missing; it is "
                            "needed to join ratings (movieId) to TMDB ids")
        tmdb_ids = read_links(folder / "links_small.csv", "movieId", "tmdbId").reindex(dense.item_ids)
        side = tmdb_side_information(folder, "movies_metadata.csv", tmdb_ids, cast_top)
        text, genres = side.text, side.genres
        meta = pd.concat([meta, pd.DataFrame({"tmdb_id": tmdb_ids.array}), side.meta], axis=1)
        meta.attrs.update(skipped_rows=side.skipped_rows, malformed=side.malformed)
    return RecData(name="movies", user_ids=dense.user_ids, item_ids=dense.item_ids,
                   interactions=dense.interactions, item_text=text, item_categories=genres, item_meta=meta)
