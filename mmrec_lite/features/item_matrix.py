"""GLEM-Rec's heterogeneous data processor, feature-matrix sub-module (paper Sec. 2.2 and 2.3.1).

Three jobs:

- **text for the semantic extractor** (Sec. 2.2): :func:`item_documents` aggregates every text
  field an item has (title, tagline, overview, genres, keywords, cast, crew, companies ...) into
  one cleaned document per item, ready for :class:`~mmrec_lite.features.TextEncoder`;
- **the item feature matrix**: :func:`item_feature_matrix` converts the release date to an age in
  years, fills missing values (median plus a ``:missing`` indicator column), encodes categories
  (genres, language, companies) multi-hot over a top-N vocabulary plus ``=other``, standardises
  the numbers and appends the text features;
- **the user feature matrix from items only** (the privacy setting): :func:`user_feature_matrix`
  is Eq. (1), a rating × time-decay weighted average of the rated items' features, plus each
  user's rating mean, standard deviation and count.

Column names match with or without the ``tmdb_`` prefix that the MovieLens-100K + TMDB loader
adds (``tmdb_budget`` is treated as ``budget``). Metadata cells may be lists, TMDB's JSON or Python-literal strings
(``"[{'id': 16, 'name': 'Animation'}]"``), plain strings or missing (NaN, ``None``, ``""``,
``[]``). A malformed cell is treated as missing with a warning that names the column and rows
(``strict=True`` raises :class:`~mmrec_lite.data.DataError` instead); rows are never dropped or
reordered, so row ``i`` is always item ``i``.
"""
from __future__ import annotations

import ast
import html
import json
import math
import re
import unicodedata
import warnings
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import pandas as pd
import torch

from ..data.recdata import DataError, Interactions, MissingFieldError, RecData
from ..profiles import resolve_device

__all__ = ["FeatureMatrix", "clean_text", "parse_names", "item_documents", "item_feature_matrix",
           "user_feature_matrix", "rating_statistics", "numeric_columns", "DOCUMENT_FIELDS", "CATEGORICAL_COLUMNS",
           "LABEL_PROXY_COLUMNS", "DIAGNOSTIC_COLUMNS"]

DOCUMENT_FIELDS = ("title", "tagline", "overview", "description", "genres", "keywords", "cast", "crew",
                   "production_companies")
CATEGORICAL_COLUMNS = ("genres", "original_language", "production_companies")
DATE_COLUMNS = ("release_date", "tmdb_release_date", "year", "tmdb_year")
SOURCE_PREFIX = "tmdb_"
LOG_SCALED = ("budget", "revenue", "popularity", "vote_count")
ZERO_IS_MISSING = ("budget", "revenue", "runtime")        # TMDB stores "unknown" as 0
ID_COLUMNS = ("id", "movie_id", "tmdb_id", "imdb_id", "item", "item_id")
LABEL_PROXY_COLUMNS = ("vote_average", "vote_count", "popularity")   # TMDB's crowd ratings and traffic
DIAGNOSTIC_COLUMNS = ("title_agreement",)            # the loader's own data-cleaning score
SECONDS_PER_DAY = 86400.0

_TAG = re.compile(r"<[^>]+>")
_URL = re.compile(r"https?://\S+|www\.\S+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class FeatureMatrix:
    """A float32 matrix ``[N, d]`` with a name per column; ``blocks`` maps a block to its columns."""

    values: torch.Tensor
    columns: list[str]
    blocks: dict[str, slice]

    def block(self, name: str) -> torch.Tensor:
        """The columns of one block (e.g. ``"genres"``, ``"numeric"``, ``"text"``)."""
        if name not in self.blocks:
            raise KeyError(f"no block {name!r}; blocks: {list(self.blocks)}")
        return self.values[:, self.blocks[name]]

    def frame(self) -> pd.DataFrame:
        """The matrix as a DataFrame with named columns (for display)."""
        return pd.DataFrame(self.values.cpu().numpy(), columns=self.columns)


# ---- parsing and cleaning --------------------------------------------------------------------
def _base(column: str) -> str:
    """A column name without the loader's ``tmdb_`` prefix."""
    return column.removeprefix(SOURCE_PREFIX)


def _meta_column(meta: pd.DataFrame, field: str) -> str | None:
    """``field`` or ``tmdb_<field>``, whichever the table has (``None`` if neither)."""
    return next((c for c in (field, SOURCE_PREFIX + field) if c in meta.columns), None)


def _is_missing(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float) and math.isnan(value)


def clean_text(value: Any) -> str:
    """HTML entities decoded, tags, URLs and control characters removed, Unicode NFKC, one space."""
    if _is_missing(value):
        return ""
    text = unicodedata.normalize("NFKC", html.unescape(str(value)))
    text = _CONTROL.sub(" ", _URL.sub(" ", _TAG.sub(" ", text)))
    return _SPACE.sub(" ", text).strip()


def _names_of(items: Sequence[Any]) -> list[str] | None:
    names = []
    for element in items:
        if isinstance(element, dict):
            element = element.get("name")
        if not isinstance(element, str):
            return None
        if element.strip():
            names.append(element.strip())
    return names


def parse_names(value: Any) -> list[str] | None:
    """The names in one metadata cell: ``[]`` when missing, ``None`` when malformed.

    Lists hold strings or ``{"name": ...}`` dicts; strings starting with ``[`` or ``{`` are read
    as JSON, then as a Python literal (TMDB's CSVs use single quotes); a single dict
    (``belongs_to_collection``) gives its name; any other string is one name (``"en"``).
    """
    if _is_missing(value):
        return []
    if isinstance(value, (list, tuple, np.ndarray)):
        return _names_of(list(value))
    if isinstance(value, dict):
        return _names_of([value])
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not text:
        return []
    if text[0] not in "[{":
        return [text]
    try:
        parsed = json.loads(text)
    except ValueError:
        try:
            parsed = ast.literal_eval(text)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            return None
    if isinstance(parsed, dict):
        parsed = [parsed]
    return _names_of(parsed) if isinstance(parsed, (list, tuple)) else None


def _report_malformed(column: str, rows: list[int], values: list[Any], strict: bool) -> None:
    if not rows:
        return
    if strict:
        raise DataError(f"item_meta[{column!r}] row {rows[0]}: cannot parse {str(values[0])[:80]!r}")
    warnings.warn(f"item_meta[{column!r}]: {len(rows)} malformed value(s) treated as missing "
                  f"(rows {rows[:5]}{' ...' if len(rows) > 5 else ''})", stacklevel=3)


def _name_lists(values: Sequence[Any], column: str, strict: bool) -> list[list[str]]:
    """Parsed name lists, one per row; malformed cells become ``[]`` and are reported."""
    parsed = [parse_names(v) for v in values]
    bad = [row for row, names in enumerate(parsed) if names is None]
    _report_malformed(column, bad, [values[r] for r in bad], strict)
    return [names or [] for names in parsed]


# ---- text for the semantic extractor (Sec. 2.2) ------------------------------------------------
def _field_values(data: RecData, field: str, max_names: int, strict: bool) -> list[str] | None:
    """One cleaned string per item for a field: item_text, else item_meta, else item_categories."""
    if data.item_text is not None and field in data.item_text:
        return [clean_text(v) for v in data.item_text[field]]
    column = None if data.item_meta is None else _meta_column(data.item_meta, field)
    if column is not None:
        raw = data.item_meta[column].tolist()
        looks_listed = any(isinstance(v, (list, tuple, np.ndarray, dict))
                           or (isinstance(v, str) and v.strip()[:1] in ("[", "{")) for v in raw)
        if not looks_listed:
            return [clean_text(v) for v in raw]
        return [", ".join(clean_text(n) for n in names[:max_names]) for names in _name_lists(raw, column, strict)]
    if field == "genres" and data.item_categories is not None:
        return [", ".join(clean_text(n) for n in names[:max_names]) for names in data.item_categories]
    return None


def item_documents(data: RecData, fields: Sequence[str] | None = None, max_names: int = 10,
                   strict: bool = False) -> list[str]:
    """One cleaned document per item joining every available text field (GLEM-Rec Sec. 2.2).

    Each present, non-empty field becomes ``"<Field>: <value>."``, in the order of ``fields``
    (default: the ``item_text`` fields, then the :data:`DOCUMENT_FIELDS` found in ``item_meta``
    or, for genres, ``item_categories``). Name lists (genres, keywords, cast, crew, companies)
    keep their first ``max_names`` names. A field asked for by name that the dataset lacks
    raises :class:`~mmrec_lite.data.MissingFieldError`.
    """
    if fields is None:
        names = list(data.item_text or {}) + [f for f in DOCUMENT_FIELDS if f not in (data.item_text or {})]
        explicit = False
    else:
        names, explicit = list(fields), True
    columns = []
    for field in names:
        values = _field_values(data, field, max_names, strict)
        if values is None:
            if explicit:
                raise MissingFieldError(f"dataset {data.name!r} has no text field {field!r} in item_text, "
                                        "item_meta or item_categories")
            continue
        label = field.replace("_", " ").capitalize()
        columns.append([f"{label}: {v}" + ("" if v[-1] in ".!?" else ".") if v else "" for v in values])
    return [" ".join(part for part in parts if part) for parts in zip(*columns)] if columns else [""] * data.n_items


# ---- item feature matrix (Sec. 2.3.1) ------------------------------------------------------------
def _standardize(x: np.ndarray) -> np.ndarray:
    """Column-wise z-scores; constant columns become 0."""
    std = x.std(0)
    return (x - x.mean(0)) / np.where(std > 0, std, 1.0)


def _release_years(values: pd.Series, column: str, strict: bool) -> np.ndarray:
    """Fractional release year per item (NaN when missing); numbers are read as years."""
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        years = values.astype("Float64").to_numpy(dtype=float, na_value=np.nan)
        return np.where((years >= 1800) & (years <= 2200), years, np.nan)
    if pd.api.types.is_datetime64_any_dtype(values):
        dates = values
    else:
        text = values.map(lambda v: "" if _is_missing(v) else str(v).strip())
        dates = pd.to_datetime(text.where(text != ""), errors="coerce", format="mixed")
        bad = np.flatnonzero(dates.isna().to_numpy() & (text != "").to_numpy()).tolist()
        _report_malformed(column, bad, text.iloc[bad].tolist(), strict)
    return (dates.dt.year + (dates.dt.day_of_year - 1) / 365.25).to_numpy(dtype=float, copy=True)


def _date_block(meta: pd.DataFrame, column: str, reference_year: float | None, strict: bool):
    """Release age in years (Sec. 2.3.1 "date conversion"), median-filled, plus a missing flag."""
    years = _release_years(meta[column], column, strict)
    missing = np.isnan(years)
    if missing.all():
        raise DataError(f"item_meta[{column!r}]: no item has a usable release date")
    reference = np.nanmax(years) if reference_year is None else float(reference_year)
    age = reference - years
    age[missing] = np.nanmedian(age)
    parts, names = [_standardize(age[:, None])], ["release_age"]
    if missing.any():
        parts.append(missing[:, None].astype(float))
        names.append(f"{column}:missing")
    return np.hstack(parts), names


def _category_block(lists: list[list[str]], column: str, top_n: int):
    """Multi-hot over the ``top_n`` most frequent names (ties by name), ``=other``, ``:missing``."""
    counts = pd.Series([n for names in lists for n in set(names)], dtype=object).value_counts()
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    vocab = {name: j for j, (name, _) in enumerate(ranked[:top_n])}
    rows = np.repeat(np.arange(len(lists)), [len(names) for names in lists])
    flat = [n for names in lists for n in names]
    index = np.array([vocab.get(n, -1) for n in flat], dtype=np.int64)
    block = np.zeros((len(lists), len(vocab) + 2))
    block[rows[index >= 0], index[index >= 0]] = 1.0
    block[rows[index < 0], len(vocab)] = 1.0
    block[:, len(vocab) + 1] = [not names for names in lists]
    names = [f"{column}={name}" for name in vocab] + [f"{column}=other", f"{column}:missing"]
    keep = block.any(0)                                  # drop an empty "other" / "missing" column
    keep[:len(vocab)] = True
    return block[:, keep], [n for n, k in zip(names, keep) if k]


def _numeric_block(meta: pd.DataFrame, columns: Sequence[str], log_scaled: Sequence[str],
                   zero_is_missing: Sequence[str]):
    """Median-filled, log-scaled where heavy-tailed, standardised numbers plus missing flags."""
    parts, names = [], []
    for column in columns:
        x = pd.to_numeric(meta[column], errors="coerce").astype("Float64").to_numpy(dtype=float, na_value=np.nan)
        missing = ~np.isfinite(x) | ((x == 0) if _base(column) in zero_is_missing else False)
        if missing.all():
            raise DataError(f"item_meta[{column!r}]: no item has a usable number")
        if _base(column) in log_scaled:
            x = np.log1p(np.clip(x, 0, None))
        x[missing] = np.median(x[~missing])
        parts.append(_standardize(x[:, None]))
        names.append(column)
        if missing.any():
            parts.append(missing[:, None].astype(float))
            names.append(f"{column}:missing")
    return np.hstack(parts), names


def numeric_columns(meta: pd.DataFrame, label_proxies: bool = False) -> list[str]:
    """The numeric columns :func:`item_feature_matrix` uses by default, as an explicit list.

    Non-boolean numeric columns that are neither ids, dates, loader diagnostics
    (:data:`DIAGNOSTIC_COLUMNS`) nor, unless ``label_proxies``, rating-derived columns
    (:data:`LABEL_PROXY_COLUMNS`: another site's ratings of the same item are a proxy of the
    label a rating model predicts; include them only as a labelled ablation).
    """
    excluded = set(ID_COLUMNS) | set(DIAGNOSTIC_COLUMNS) | (set() if label_proxies else set(LABEL_PROXY_COLUMNS))
    return [c for c in meta.columns
            if pd.api.types.is_numeric_dtype(meta[c]) and not pd.api.types.is_bool_dtype(meta[c])
            and _base(c) not in excluded and c not in DATE_COLUMNS]


def _require_columns(meta: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in meta.columns]
    if missing:
        raise MissingFieldError(f"item_meta has no {what} column(s) {missing}; it has {list(meta.columns)}")


def item_feature_matrix(meta: pd.DataFrame, text: torch.Tensor | None = None,
                        categories: list[list[str]] | None = None, *, date: str | None = None,
                        categorical: Sequence[str] | None = None, numeric: Sequence[str] | None = None,
                        top_n: int | dict[str, int] = 20, reference_year: float | None = None,
                        log_scaled: Sequence[str] = LOG_SCALED, zero_is_missing: Sequence[str] = ZERO_IS_MISSING,
                        strict: bool = False) -> FeatureMatrix:
    """GLEM-Rec item feature matrix (Sec. 2.3.1): ``[date ‖ categories ‖ numbers ‖ text]``.

    - ``date``: a date or year column (default: the first of :data:`DATE_COLUMNS` present) →
      ``release_age`` = ``reference_year`` (default: the latest release) minus the fractional
      release year, median-filled, standardised, with a ``:missing`` flag;
    - ``categorical`` (default: the columns of :data:`CATEGORICAL_COLUMNS` present): multi-hot
      over the ``top_n`` most frequent names plus ``=other`` and ``:missing``; ``categories``
      (e.g. ``data.item_categories``) is the ``genres`` block when the table has no ``genres``;
    - ``numeric`` (default: :func:`numeric_columns`, every non-boolean numeric column except ids,
      dates, loader diagnostics and rating-derived label proxies): ``log1p``
      for ``log_scaled`` columns, 0 read as missing for ``zero_is_missing`` columns (TMDB's
      unknown budget / revenue / runtime), median fill with a ``:missing`` flag, standardised;
    - ``text`` ``[N, d]`` from the semantic extractor is appended unchanged.

    Returns a :class:`FeatureMatrix` whose ``blocks`` name each part; row ``i`` is item ``i``.
    """
    n = len(meta)
    if categories is not None and len(categories) != n:
        raise DataError(f"categories has {len(categories)} rows for {n} items in item_meta")
    if text is not None and (text.ndim != 2 or text.shape[0] != n):
        raise DataError(f"text features have shape {tuple(text.shape)}; expected [{n}, d]")
    date_column = date if date is not None else next((c for c in DATE_COLUMNS if c in meta.columns), None)
    if date is not None:
        _require_columns(meta, [date], "date")
    if categorical is None:
        categorical = [c for c in meta.columns if _base(c) in CATEGORICAL_COLUMNS]
        if categories is not None and "genres" not in categorical:
            categorical.append("genres")
    else:
        _require_columns(meta, [c for c in categorical if not (c == "genres" and categories is not None)],
                         "categorical")
    numeric = numeric_columns(meta) if numeric is None else list(numeric)
    _require_columns(meta, numeric, "numeric")

    parts: list[tuple[str, np.ndarray, list[str]]] = []
    if date_column is not None:
        parts.append(("date", *_date_block(meta, date_column, reference_year, strict)))
    for column in categorical:
        lists = (_name_lists(meta[column].tolist(), column, strict) if column in meta.columns
                 else [list(c) for c in categories])
        n_top = top_n.get(column, 20) if isinstance(top_n, dict) else top_n
        parts.append((column, *_category_block(lists, column, n_top)))
    if numeric:
        parts.append(("numeric", *_numeric_block(meta, numeric, log_scaled, zero_is_missing)))
    blocks, columns, arrays, start = {}, [], [], 0
    for name, array, names in parts:
        blocks[name] = slice(start, start + array.shape[1])
        start += array.shape[1]
        columns += names
        arrays.append(torch.as_tensor(array, dtype=torch.float32))
    if text is not None:
        blocks["text"] = slice(start, start + text.shape[1])
        columns += [f"text:{j}" for j in range(text.shape[1])]
        arrays.append(text.detach().float().cpu())
    values = torch.cat(arrays, dim=1) if arrays else torch.zeros(n, 0)
    return FeatureMatrix(values, columns, blocks)


# ---- user feature matrix, Eq. (1) ----------------------------------------------------------------
def rating_statistics(index: torch.Tensor, rating: torch.Tensor, n: int, standardize: bool = True) -> torch.Tensor:
    """``[n, 3]`` float64: rating mean (the global mean without ratings), population standard
    deviation and ``log1p`` count per id ``0 .. n-1`` of ``index``; z-scored per column if
    ``standardize`` (constant columns become 0)."""
    rating = rating.double()
    count = torch.bincount(index, minlength=n).to(rating.device).double()
    total = torch.zeros(n, dtype=torch.float64, device=rating.device).index_add_(0, index, rating)
    overall = rating.mean() if len(rating) else torch.zeros((), dtype=torch.float64, device=rating.device)
    mean = torch.where(count > 0, total / count.clamp_min(1), overall)
    squares = torch.zeros(n, dtype=torch.float64, device=rating.device).index_add_(0, index,
                                                                                  (rating - mean[index]) ** 2)
    table = torch.stack([mean, (squares / count.clamp_min(1)).sqrt(), torch.log1p(count)], dim=1)
    if standardize:
        std = table.std(0, correction=0)
        table = (table - table.mean(0)) / torch.where(std > 0, std, torch.ones_like(std))
    return table


def user_feature_matrix(interactions: Interactions, item_features: torch.Tensor | FeatureMatrix, n_users: int,
                        half_life_days: float | None = 180.0, stats: bool = True, standardize_stats: bool = True,
                        eps: float = 1e-8, device=None) -> FeatureMatrix:
    """User profiles from items only, GLEM-Rec Eq. (1), plus rating mean, std and count.

    ``x̃_u = Σ_j ω_uj X_j / (Σ_j ω_uj + ε)`` over the items ``j`` user ``u`` rated, with
    ``ω_uj = r_uj · 2^(−(t_u − t_uj) / h)``: the rating times an exponential time decay of
    half-life ``h = half_life_days`` (``None``: no decay), so recent high ratings count most.
    ``t_u`` is the user's latest rating; any common reference gives the same profile because
    Eq. (1) divides by ``Σ ω``, and the per-user one keeps old histories from underflowing.
    One sparse ``[U, I] @ [I, d]`` product, no loop over users. Users without ratings get a
    zero profile. ``stats`` appends ``rating_mean`` (global mean when unrated), ``rating_std``
    (population) and ``rating_count`` (``log1p``), z-scored over users if ``standardize_stats``.
    """
    device = resolve_device(device)
    names = (item_features.columns if isinstance(item_features, FeatureMatrix)
             else [str(j) for j in range(item_features.shape[1])])
    x = (item_features.values if isinstance(item_features, FeatureMatrix) else item_features).float().to(device)
    if len(interactions) and int(interactions.item.max()) >= x.shape[0]:
        raise DataError(f"interactions refer to item {int(interactions.item.max())} but item_features has "
                        f"{x.shape[0]} rows")
    if len(interactions) and int(interactions.user.max()) >= n_users:
        raise DataError(f"interactions refer to user {int(interactions.user.max())} but n_users={n_users}")
    user, item = interactions.user.to(device), interactions.item.to(device)
    rating = interactions.rating.to(device, torch.float64)
    stamp = interactions.timestamp.to(device)
    weight = rating
    if half_life_days is not None and len(interactions):
        latest = torch.zeros(n_users, dtype=stamp.dtype, device=device).scatter_reduce(
            0, user, stamp, reduce="amax", include_self=False)
        age_days = (latest[user] - stamp).double() / SECONDS_PER_DAY
        weight = rating * torch.pow(0.5, age_days / half_life_days)
    w = torch.sparse_coo_tensor(torch.stack([user, item]), weight, (n_users, x.shape[0]),
                                check_invariants=False).coalesce()
    total = torch.zeros(n_users, dtype=torch.float64, device=device).index_add_(0, user, weight)
    profile = (torch.sparse.mm(w, x.double()) / (total + eps).unsqueeze(1)).float()
    parts, columns = [profile], [f"profile:{name}" for name in names]
    blocks = {"profile": slice(0, x.shape[1])}
    if stats:
        table = rating_statistics(user, rating, n_users, standardize_stats)
        parts.append(table.float())
        columns += ["rating_mean", "rating_std", "rating_count"]
        blocks["stats"] = slice(x.shape[1], x.shape[1] + 3)
    return FeatureMatrix(torch.cat(parts, dim=1), columns, blocks)
