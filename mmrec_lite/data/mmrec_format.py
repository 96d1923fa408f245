"""Datasets in the MMRec folder layout (Zhou et al., the MMRec toolbox).

``<root>/<name>/<name>.inter`` is tab-separated with a header naming ``userID``, ``itemID``,
``x_label`` (0 = train, 1 = valid, 2 = test) and optionally ``rating`` and ``timestamp``; ids are
already dense and 0-based. ``text_feat.npy`` / ``image_feat.npy`` beside it are
``[n_items, d]`` float matrices (row = item id). The loaded data keeps MMRec's split.

Ids must be dense: an id far beyond the others (``itemID`` 10**6 among 700 items) would create
hundreds of thousands of phantom entities, so more than 1% unused ids (and more than 10) raise,
naming the line of the largest id, unless a feature file confirms that many items. Timestamps
must be whole numbers inside int64. A rating column that holds one value everywhere carries no
preference: such a folder is implicit feedback, like one without ratings.
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from ..profiles import data_root
from .frame import TableSource, dense_id_range, dense_interactions
from .recdata import DataError, RecData
from .safe_io import int64_values

__all__ = ["load_mmrec"]

_FEATURE_FILES = {"text": "text_feat.npy", "image": "image_feat.npy"}
_SPLIT_LABELS = ("train", "valid", "test")


def _feature_rows(folder: Path) -> set[int]:
    """Row counts of the feature files beside the ``.inter`` file (read from their headers only)."""
    rows = set()
    for file in _FEATURE_FILES.values():
        if (folder / file).exists():
            try:
                rows.add(int(np.load(folder / file, mmap_mode="r", allow_pickle=False).shape[0]))
            except (ValueError, OSError, IndexError) as exc:
                raise DataError(f"{folder / file}: {exc}") from None
    return rows


def _dense_range(values: np.ndarray, column: str, source: TableSource, confirmed: set[int] = frozenset()) -> np.ndarray:
    return dense_id_range(values, column, source.where, "MMRec ids must be dense 0..n-1 (re-index the file)",
                          confirmed)


def load_mmrec(name: str, root: str | Path | None = None, duplicates: str = "raise") -> RecData:
    """An MMRec dataset folder as a split :class:`RecData` with features ``"text"`` / ``"image"``.

    ``root`` defaults to ``profiles.data_root()/"mmrec"``. ``n_users`` / ``n_items`` are the
    largest id + 1 (MMRec's convention); every feature file must have exactly ``n_items`` finite
    rows. Without a ``rating`` column, or with a constant one, the data is implicit.
    """
    folder = (Path(root).expanduser() if root is not None else data_root() / "mmrec") / name
    path = folder / f"{name}.inter"
    if not path.exists():
        raise DataError(f"MMRec dataset not found: {path} (expected the MMRec layout <root>/{name}/{name}.inter)")
    source = TableSource(path, sep="\t", quoting=csv.QUOTE_NONE)
    frame = source.read({"userID": "int64", "itemID": "int64", "x_label": "int64"},
                        optional={"rating": "float64", "timestamp": "float64"})
    labels = frame["x_label"].to_numpy()
    bad = np.flatnonzero((labels < 0) | (labels > 2))
    if len(bad):
        raise DataError(f"{source.where(int(bad[0]))}: x_label must be 0, 1 or 2, got {labels[bad[0]]}")
    has_rating = "rating" in frame and frame["rating"].nunique() > 1
    if "timestamp" in frame:
        frame["timestamp"] = int64_values(frame["timestamp"].round().to_numpy(), "timestamp", source.where,
                                          what="a timestamp")
    dense = dense_interactions(frame, where=source.where, user="userID", item="itemID",
                               rating="rating" if has_rating else None,
                               timestamp="timestamp" if "timestamp" in frame else None,
                               user_ids=_dense_range(frame["userID"].to_numpy(), "userID", source),
                               item_ids=_dense_range(frame["itemID"].to_numpy(), "itemID", source,
                                                     _feature_rows(folder)),
                               duplicates=duplicates)
    kept_labels = labels[dense.rows]
    splits = {key: dense.interactions.select(np.flatnonzero(kept_labels == code))
              for code, key in enumerate(_SPLIT_LABELS)}
    data = RecData(name=name, user_ids=dense.user_ids, item_ids=dense.item_ids, interactions=dense.interactions,
                   splits=splits, implicit=not has_rating)
    data.warn_cold_start()
    for feature, file in _FEATURE_FILES.items():
        if (folder / file).exists():
            try:
                data.add_features(feature, np.load(folder / file, allow_pickle=False))
            except (DataError, ValueError, OSError) as exc:
                raise DataError(f"{folder / file}: {exc}") from None
    return data
