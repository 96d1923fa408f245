"""GNNMR's "Fund" setting: every categorical attribute domain of the items is its own modality.

The paper's Fund data has 19 item attribute domains, each one-hot encoded and treated as a
separate modality. :func:`attribute_modalities` builds the same from an item table: for each
domain a multi-hot ``[n_items, k]`` matrix over its ``top_n`` most frequent values (ties by
name) plus an ``other`` column (rarer values) and a ``missing`` column (no value). A one-valued
domain (decade, language, collection) is one-hot. Defaults for MovieLens + TMDB (columns with or
without the ``tmdb_`` prefix; genres fall back to ``item_categories``):

=============  ===========================================
``genres``     TMDB genres (multi-valued)
``decade``     release decade, from the year or release date
``language``   original language
``countries``  production countries (multi-valued)
``companies``  production companies (multi-valued)
``collection`` the franchise the film belongs to (``belongs_to_collection``)
=============  ===========================================
"""
from __future__ import annotations

from collections import Counter
from typing import Sequence

import pandas as pd
import torch

from ..data.recdata import DataError, MissingFieldError, RecData
from .item_matrix import parse_names

__all__ = ["attribute_modalities", "multi_hot", "ATTRIBUTE_DOMAINS"]

ATTRIBUTE_DOMAINS = {"genres": ("tmdb_genres", "genres"), "decade": ("tmdb_year", "year", "tmdb_release_date",
                                                                     "release_date"),
                     "language": ("tmdb_original_language", "original_language"),
                     "countries": ("tmdb_production_countries", "production_countries"),
                     "companies": ("tmdb_production_companies", "production_companies"),
                     "collection": ("tmdb_collection", "belongs_to_collection", "collection")}


def multi_hot(values: Sequence[Sequence[str]], top_n: int) -> tuple[torch.Tensor, list[str]]:
    """``[n, k]`` float32 multi-hot over the ``top_n`` most frequent names, ``other`` and ``missing``
    (each kept only when some row needs it), and the column names."""
    counts = Counter(name for names in values for name in set(names))
    vocabulary = [name for name, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:top_n]]
    column = {name: j for j, name in enumerate(vocabulary)}
    other, missing = len(vocabulary), len(vocabulary) + 1
    rows = [(r, column.get(name, other)) for r, names in enumerate(values) for name in names]
    rows += [(r, missing) for r, names in enumerate(values) if not names]
    matrix = torch.zeros(len(values), len(vocabulary) + 2)
    if rows:
        index = torch.tensor(rows)
        matrix[index[:, 0], index[:, 1]] = 1.0
    keep = torch.cat([torch.ones(len(vocabulary), dtype=torch.bool), matrix[:, other:].any(0)])
    names = vocabulary + ["other", "missing"]
    return matrix[:, keep], [n for n, k in zip(names, keep.tolist()) if k]


def _decades(values: pd.Series, column: str) -> list[list[str]]:
    if pd.api.types.is_datetime64_any_dtype(values):
        years = values.dt.year
    else:
        years = pd.to_numeric(values, errors="coerce")
        if years.isna().all() and values.notna().any():
            years = pd.to_datetime(values, errors="coerce").dt.year
    if values.notna().any() and years.isna().all():
        raise DataError(f"item_meta[{column!r}]: no value can be read as a year")
    return [[] if pd.isna(y) else [f"{int(y) // 10 * 10}s"] for y in years]


def _domain_values(data: RecData, domain: str, columns: Sequence[str]) -> list[list[str]]:
    meta = data.item_meta if data.item_meta is not None else pd.DataFrame(index=range(data.n_items))
    column = next((c for c in columns if c in meta.columns), None)
    if column is None:
        if domain == "genres" and data.item_categories is not None:
            return [list(names) for names in data.item_categories]
        raise MissingFieldError(f"dataset {data.name!r} has no column for attribute domain {domain!r} "
                                f"(looked for {list(columns)} in item_meta)")
    if domain == "decade":
        return _decades(meta[column], column)
    out = []
    for row, value in enumerate(meta[column].tolist()):
        names = parse_names(value)
        if names is None:
            raise DataError(f"item_meta[{column!r}] row {row}: cannot read {str(value)[:80]!r} as a list of names")
        out.append(names)
    return out


def attribute_modalities(data: RecData, domains: Sequence[str] | dict[str, Sequence[str]] | None = None,
                         top_n: int = 30) -> dict[str, torch.Tensor]:
    """One multi-hot feature matrix ``[n_items, k]`` per attribute domain, keyed by domain name.

    ``domains``: names from :data:`ATTRIBUTE_DOMAINS` (default: all six), or a mapping from a
    domain name to the candidate columns to read (the first one present is used; ``"decade"``
    parses years). A domain that the data lacks raises :class:`~mmrec_lite.data.MissingFieldError`.
    """
    if domains is None:
        domains = dict(ATTRIBUTE_DOMAINS)
    elif not isinstance(domains, dict):
        unknown = [d for d in domains if d not in ATTRIBUTE_DOMAINS]
        if unknown:
            raise ValueError(f"unknown attribute domains {unknown}; known: {list(ATTRIBUTE_DOMAINS)}")
        domains = {d: ATTRIBUTE_DOMAINS[d] for d in domains}
    out = {}
    for domain, columns in domains.items():
        matrix, _ = multi_hot(_domain_values(data, domain, columns), top_n)
        out[domain] = matrix
    return out
