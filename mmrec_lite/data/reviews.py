"""Review datasets: Amazon 5-core by category name (2014 and 2018 layouts), Yelp and Google Local.

Every loader returns ``(RecData, ReviewReport)``: an unsplit dataset whose ``reviews`` table has
one row per interaction (``user, item, text, rating, timestamp``) and a report of what was read.

**Duplicate policy.** The 2018 Amazon files repeat reviews (in ``All_Beauty_5.json.gz`` 1,177 of
5,269 lines share their (reviewer, product) pair with another line, mostly verbatim copies listed
under different product variants). An interaction is one (user, item) pair, so the loaders keep
one review per pair: ``duplicates="earliest"`` (default) keeps the earliest review (ties: the
first line), ``"latest"`` the latest, ``"raise"`` refuses the file with the first repeated line.
The report counts the dropped lines and how many of the repeated pairs disagree in text or rating.

**k-core re-check.** De-duplication can push users or items of a "5-core" file below 5 reviews.
``min_count`` (default 5) re-applies the k-core (:func:`~mmrec_lite.data.filters.k_core`,
iterated until stable) and the report says how many users, items and reviews that removed;
``min_count=0`` keeps everything.

Layouts (one JSON object per line, ``.gz`` or plain):

- Amazon 2014 ``reviews_<Category>_5.json.gz``: ``reviewerID, asin, overall, reviewText, summary,
  unixReviewTime``; Amazon 2018 ``<Category>_5.json.gz`` adds ``verified, style, vote, image``.
- Yelp Open Dataset ``yelp_academic_dataset_review.json``: ``review_id, user_id, business_id,
  stars, text, date`` (``"2018-07-07 22:09:11"``).
- Google Local 2021 (UCSD) ``review-<State>.json.gz``: ``user_id, gmap_id, rating, text, time``
  (milliseconds since 1970; ``text`` may be null).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..profiles import data_root
from .amazon import read_json_lines
from .checksums import verify_official
from .downloads import AMAZON_2014_SHA256, AMAZON_2014_URL, download
from .filters import k_core
from .frame import dense_interactions
from .recdata import DataError, RecData
from .safe_io import int64_values

__all__ = ["ReviewReport", "load_amazon_reviews", "load_yelp_reviews", "load_google_local_reviews",
           "amazon_review_path", "ensure_amazon_reviews", "AMAZON_2018_URL", "AMAZON_2018_SHA256",
           "DUPLICATE_POLICIES"]

AMAZON_2018_URL = "https://datarepo.eng.ucsd.edu/mcauley_group/data/amazon_v2/categoryFilesSmall/{file}"
AMAZON_2018_SHA256 = {
    "All_Beauty_5.json.gz": "8e49737fefaec9290187c69bf92889452df8be0ab5e36c9476520d6639683279",
}
YELP_URL = "https://www.yelp.com/dataset"
GOOGLE_LOCAL_URL = "https://mcauleylab.ucsd.edu/public_datasets/gdrive/googlelocal/"
DUPLICATE_POLICIES = ("earliest", "latest", "raise")


@dataclass(frozen=True)
class ReviewReport:
    """What a review loader read, dropped as duplicates and removed by the k-core re-check."""

    path: str
    lines: int
    duplicate_lines: int          # lines dropped by the duplicate policy
    conflicting_pairs: int        # repeated (user, item) pairs whose text or rating differ
    k_core_removed_reviews: int
    k_core_removed_users: int
    k_core_removed_items: int
    users: int
    items: int
    reviews: int

    def __str__(self) -> str:
        return (f"{self.path}: {self.lines:,} lines; {self.duplicate_lines:,} duplicate lines dropped "
                f"({self.conflicting_pairs:,} repeated pairs differ in text or rating); k-core re-check removed "
                f"{self.k_core_removed_reviews:,} reviews, {self.k_core_removed_users:,} users, "
                f"{self.k_core_removed_items:,} items; kept {self.reviews:,} reviews, {self.users:,} users, "
                f"{self.items:,} items")


def amazon_review_path(category: str, root: str | Path | None = None) -> Path:
    """The 5-core review file of ``category`` under ``root`` (default ``profiles.data_root()``):
    ``amazon-2014-5core/reviews_<category>_5.json.gz`` or ``amazon-2018-5core/<category>_5.json.gz``
    (2014 first when both exist). Raises with both candidate paths when neither exists."""
    base = Path(root).expanduser() if root is not None else data_root()
    candidates = [base / "amazon-2014-5core" / f"reviews_{category}_5.json.gz",
                  base / "amazon-2018-5core" / f"{category}_5.json.gz"]
    for path in candidates:
        if path.exists():
            return path
    raise DataError(f"no Amazon 5-core reviews for {category!r}: looked for {candidates[0]} and {candidates[1]}; "
                    f"fetch them with mmrec_lite.data.ensure_amazon_reviews({category!r}, release=2014 or 2018)")


def ensure_amazon_reviews(category: str, release: int = 2014, root: str | Path | None = None) -> Path:
    """Download the 5-core review file of ``category`` (release 2014 or 2018) into the data cache
    unless present, and return its path. The sha256 is pinned for the files in
    :data:`~mmrec_lite.data.downloads.AMAZON_2014_SHA256` and :data:`AMAZON_2018_SHA256`; offline,
    the error names the URL and the path to fill by hand."""
    base = Path(root).expanduser() if root is not None else data_root()
    if release == 2014:
        name, url, pinned, folder = (f"reviews_{category}_5.json.gz", AMAZON_2014_URL, AMAZON_2014_SHA256,
                                     "amazon-2014-5core")
    elif release == 2018:
        name, url, pinned, folder = f"{category}_5.json.gz", AMAZON_2018_URL, AMAZON_2018_SHA256, "amazon-2018-5core"
    else:
        raise ValueError(f"release must be 2014 or 2018, got {release!r}")
    path = base / folder / name
    if not path.exists():
        download(url.format(file=name), path, sha256=pinned.get(name))
    return path


def _column(frame: pd.DataFrame, name: str, path: Path, numbers: list[int]) -> pd.Series:
    if name not in frame:
        raise DataError(f"{path}: no record has the field {name!r}")
    missing = np.flatnonzero(frame[name].isna().to_numpy())
    if len(missing):
        raise DataError(f"{path}, line {numbers[missing[0]]}: missing field {name!r}")
    return frame[name]


def _texts(values: pd.Series) -> list[str]:
    return [v.strip() if isinstance(v, str) else "" for v in values]


def _build(name: str, path: Path, numbers: list[int], table: pd.DataFrame, duplicates: str,
           min_count: int, rating_range: tuple[float, float]) -> tuple[RecData, ReviewReport]:
    """Apply the duplicate policy and the k-core re-check to ``table`` (user, item, rating,
    timestamp, text; one row per line) and build the dataset and its report."""
    if duplicates not in DUPLICATE_POLICIES:
        raise ValueError(f"duplicates must be one of {DUPLICATE_POLICIES}, got {duplicates!r}")
    repeated = table.duplicated(["user", "item"], keep=False)
    conflicting = int(table[repeated].groupby(["user", "item"])[["text", "rating"]].nunique().max(axis=1).gt(1).sum())
    rows = np.arange(len(table))
    if duplicates != "raise":  # a stable sort by time: among equal times the file order decides
        order = np.argsort(table["timestamp"].to_numpy(), kind="stable")
        keep = "first" if duplicates == "earliest" else "last"
        rows = np.sort(order[~table.iloc[order].duplicated(["user", "item"], keep=keep).to_numpy()])
        table = table.iloc[rows]

    def where(row: int) -> str:
        return f"{path}, line {numbers[rows[row]]}"

    dense = dense_interactions(table.reset_index(drop=True), where=where, rating="rating", timestamp="timestamp",
                               rating_range=rating_range, duplicates="raise")
    kept_table = table.iloc[dense.rows]
    reviews = pd.DataFrame({"user": dense.interactions.user.numpy(), "item": dense.interactions.item.numpy(),
                            "text": kept_table["text"].to_numpy(dtype=object),
                            "rating": dense.interactions.rating.numpy(),
                            "timestamp": dense.interactions.timestamp.numpy()})
    data = RecData(name=name, user_ids=dense.user_ids, item_ids=dense.item_ids, interactions=dense.interactions,
                   reviews=reviews)
    before = (len(data.interactions), data.n_users, data.n_items)
    if min_count > 0:
        data = k_core(data, min_count, min_count)
    report = ReviewReport(path=str(path), lines=len(numbers), duplicate_lines=len(numbers) - len(rows),
                          conflicting_pairs=conflicting, k_core_removed_reviews=before[0] - len(data.interactions),
                          k_core_removed_users=before[1] - data.n_users, k_core_removed_items=before[2] - data.n_items,
                          users=data.n_users, items=data.n_items, reviews=len(data.interactions))
    return data, report


def load_amazon_reviews(category: str, root: str | Path | None = None, path: str | Path | None = None,
                        duplicates: str = "earliest", min_count: int = 5,
                        verify: bool | None = None) -> tuple[RecData, ReviewReport]:
    """An Amazon 5-core category by name, 2014 or 2018 layout (see :func:`amazon_review_path`).

    ``path`` reads a given file instead. ``text`` is ``summary. reviewText`` (the summary is
    the reviewer's own title). Duplicate policy and k-core re-check: see the module docstring.
    A file with a pinned official sha256 is checked first, whatever folder it is in
    (``verify=False`` or ``MMREC_VERIFY=0`` for a modified copy).
    """
    path = Path(path).expanduser() if path is not None else amazon_review_path(category, root)
    for folder in ("amazon-2014-5core", "amazon-2018-5core"):
        verify_official(path, folder, verify)
    records, numbers = read_json_lines(path)
    frame = pd.DataFrame.from_records(records)
    summary = _texts(frame["summary"]) if "summary" in frame else [""] * len(frame)
    body = _texts(frame["reviewText"]) if "reviewText" in frame else [""] * len(frame)
    times = (pd.to_numeric(_column(frame, "unixReviewTime", path, numbers), errors="coerce")
             if "unixReviewTime" in frame else pd.Series(np.zeros(len(frame))))
    seconds = int64_values(times.to_numpy(dtype=np.float64), "unixReviewTime",
                           lambda row: f"{path}, line {numbers[row]}", what="a whole-number timestamp")
    table = pd.DataFrame({"user": _column(frame, "reviewerID", path, numbers).astype(str),
                          "item": _column(frame, "asin", path, numbers).astype(str),
                          "rating": _column(frame, "overall", path, numbers),
                          "timestamp": seconds,
                          "text": [f"{s}. {b}" if s and b else s or b for s, b in zip(summary, body)]})
    return _build(f"amazon-{category}", path, numbers, table, duplicates, min_count, (1.0, 5.0))


def load_yelp_reviews(path: str | Path, duplicates: str = "earliest",
                      min_count: int = 5) -> tuple[RecData, ReviewReport]:
    """Yelp Open Dataset reviews (``yelp_academic_dataset_review.json``, from https://www.yelp.com/dataset after
    accepting its terms; it cannot be downloaded here): ``user_id`` × ``business_id``, ``stars``
    1..5, ``text``, ``date`` parsed as UTC."""
    path = Path(path).expanduser()
    if not path.exists():
        raise DataError(f"Yelp reviews not found: {path}. Download the Yelp Open Dataset from {YELP_URL} "
                        f"(its licence must be accepted by hand) and put yelp_academic_dataset_review.json there")
    records, numbers = read_json_lines(path)
    frame = pd.DataFrame.from_records(records)
    dates = pd.to_datetime(_column(frame, "date", path, numbers), errors="coerce", format="%Y-%m-%d %H:%M:%S")
    bad = np.flatnonzero(dates.isna().to_numpy())
    if len(bad):
        raise DataError(f"{path}, line {numbers[bad[0]]}: field 'date' is not 'YYYY-MM-DD HH:MM:SS': "
                        f"{frame['date'].iloc[bad[0]]!r}")
    table = pd.DataFrame({"user": _column(frame, "user_id", path, numbers).astype(str),
                          "item": _column(frame, "business_id", path, numbers).astype(str),
                          "rating": _column(frame, "stars", path, numbers),
                          "timestamp": ((dates - pd.Timestamp(0)) // pd.Timedelta(seconds=1)).to_numpy(np.int64),
                          "text": _texts(frame["text"]) if "text" in frame else [""] * len(frame)})
    return _build("yelp", path, numbers, table, duplicates, min_count, (1.0, 5.0))


def load_google_local_reviews(path: str | Path, duplicates: str = "earliest",
                              min_count: int = 5) -> tuple[RecData, ReviewReport]:
    """Google Local 2021 reviews (UCSD, ``review-<State>.json.gz`` from the UCSD Google Local page, placed
    by hand): ``user_id`` × ``gmap_id``, ``rating`` 1..5, ``text`` (null = ""), ``time`` in ms."""
    path = Path(path).expanduser()
    if not path.exists():
        raise DataError(f"Google Local reviews not found: {path}. Download a review-<State>.json.gz file from "
                        f"{GOOGLE_LOCAL_URL} and put it there")
    records, numbers = read_json_lines(path)
    frame = pd.DataFrame.from_records(records)
    times = pd.to_numeric(_column(frame, "time", path, numbers), errors="coerce").to_numpy(dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(times))
    if len(bad):
        raise DataError(f"{path}, line {numbers[bad[0]]}: field 'time' is not a number: {frame['time'].iloc[bad[0]]!r}")
    times = int64_values(times, "time", lambda row: f"{path}, line {numbers[row]}", what="whole milliseconds")
    table = pd.DataFrame({"user": _column(frame, "user_id", path, numbers).astype(str),
                          "item": _column(frame, "gmap_id", path, numbers).astype(str),
                          "rating": _column(frame, "rating", path, numbers),
                          "timestamp": times // 1000,
                          "text": _texts(frame["text"]) if "text" in frame else [""] * len(frame)})
    return _build("google-local", path, numbers, table, duplicates, min_count, (1.0, 5.0))
