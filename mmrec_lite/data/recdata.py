"""RecData: the one dataset object that carries a dataset through every chapter.

Ids are dense and 0-based (``0 .. n_users-1``, ``0 .. n_items-1``); ``user_ids[u]`` and
``item_ids[i]`` map them back to the raw ids of the source files. Interactions are held as
:class:`Interactions` (parallel torch tensors). Side information is optional: a loader fills
what its source has, and a chapter asks for what it needs with :meth:`RecData.require`, which
raises a :class:`MissingFieldError` naming the missing field.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd
import torch

__all__ = ["Interactions", "KnowledgeGraph", "RecData", "MissingFieldError", "DataError", "ColdStartWarning"]


class DataError(ValueError):
    """Bad input data: the message names the file, line or field at fault."""


class MissingFieldError(DataError):
    """A chapter asked for side information that this dataset does not carry."""


class ColdStartWarning(UserWarning):
    """A valid/test split holds users or items that have no training interaction."""


@dataclass(frozen=True)
class Interactions:
    """Parallel 1-D tensors: ``user`` and ``item`` (int64 dense ids), ``rating`` (float32;
    1.0 for implicit feedback) and ``timestamp`` (int64 seconds; 0 when unknown)."""

    user: torch.Tensor
    item: torch.Tensor
    rating: torch.Tensor
    timestamp: torch.Tensor

    def __post_init__(self):
        n = len(self.user)
        for name in ("item", "rating", "timestamp"):
            if len(getattr(self, name)) != n:
                raise DataError(f"Interactions.{name} has {len(getattr(self, name))} rows, user has {n}")

    @classmethod
    def from_arrays(cls, user, item, rating=None, timestamp=None) -> "Interactions":
        user = torch.as_tensor(np.asarray(user), dtype=torch.long)
        item = torch.as_tensor(np.asarray(item), dtype=torch.long)
        n = len(user)
        rating = torch.ones(n) if rating is None else torch.as_tensor(np.asarray(rating), dtype=torch.float32)
        timestamp = (torch.zeros(n, dtype=torch.long) if timestamp is None
                     else torch.as_tensor(np.asarray(timestamp), dtype=torch.long))
        return cls(user, item, rating, timestamp)

    @classmethod
    def empty(cls) -> "Interactions":
        return cls.from_arrays(np.zeros(0, np.int64), np.zeros(0, np.int64))

    def __len__(self) -> int:
        return len(self.user)

    def select(self, index) -> "Interactions":
        """Rows picked by a boolean mask or an index tensor."""
        index = torch.as_tensor(index)
        return Interactions(self.user[index], self.item[index], self.rating[index], self.timestamp[index])

    @staticmethod
    def concat(parts: Sequence["Interactions"]) -> "Interactions":
        return Interactions(*(torch.cat([getattr(p, f) for p in parts])
                              for f in ("user", "item", "rating", "timestamp")))

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame({"user": self.user.numpy(), "item": self.item.numpy(),
                             "rating": self.rating.numpy(), "timestamp": self.timestamp.numpy()})

    def matrix(self, n_users: int, n_items: int, values: str | None = None) -> torch.Tensor:
        """Sparse COO ``[n_users, n_items]`` matrix; ones, or the ``rating`` values."""
        vals = self.rating if values == "rating" else torch.ones(len(self))
        return torch.sparse_coo_tensor(torch.stack([self.user, self.item]), vals, (n_users, n_items),
                                       check_invariants=True).coalesce()

    def dense_mask(self, n_users: int, n_items: int) -> torch.Tensor:
        """Boolean dense ``[n_users, n_items]`` mask of the observed pairs (small data only)."""
        mask = torch.zeros(n_users, n_items, dtype=torch.bool)
        mask[self.user, self.item] = True
        return mask


@dataclass(frozen=True)
class KnowledgeGraph:
    """Triples ``[T, 3]`` of (head, relation, tail) entity/relation ids.

    Entities ``0 .. n_items-1`` are the items themselves (same dense ids as the interactions);
    further entities (genres, creators, eras, ...) follow. ``entity_names[e]`` and
    ``relation_names[r]`` give readable labels.
    """

    triples: torch.Tensor
    entity_names: list[str]
    relation_names: list[str]

    def __post_init__(self):
        t = self.triples
        if t.ndim != 2 or t.shape[1] != 3:
            raise DataError(f"KnowledgeGraph.triples must be [T, 3], got {tuple(t.shape)}")
        if len(t) and (int(t[:, [0, 2]].max()) >= len(self.entity_names) or int(t[:, 1].max()) >= len(self.relation_names)):
            raise DataError("KnowledgeGraph.triples refer to entities or relations beyond the name lists")

    @property
    def n_entities(self) -> int:
        return len(self.entity_names)

    @property
    def n_relations(self) -> int:
        return len(self.relation_names)

    def to_frame(self) -> pd.DataFrame:
        h, r, t = self.triples.T.numpy()
        ents, rels = np.asarray(self.entity_names, dtype=object), np.asarray(self.relation_names, dtype=object)
        return pd.DataFrame({"head": ents[h], "relation": rels[r], "tail": ents[t]})


_SPLITS = ("train", "valid", "test")


@dataclass
class RecData:
    """A recommendation dataset with dense ids, optional splits and optional side information.

    Required: ``name``, ``user_ids``, ``item_ids`` (raw ids, index = dense id) and
    ``interactions`` (all of them). ``splits`` maps ``"train"/"valid"/"test"`` to
    :class:`Interactions` once a splitter (``mmrec_lite.data.splits``) has run.

    Optional side information (``None`` when the source lacks it):

    - ``item_text``: ``{field: [str per item]}``, e.g. ``{"title": [...], "overview": [...]}``
    - ``item_images``: list of image paths (``None`` where missing) or a uint8 array ``[I, H, W, 3]``
    - ``item_categories``: list (per item) of category-name lists (genres, product categories)
    - ``item_meta`` / ``user_meta``: DataFrames with one row per dense id (index ``0..n-1``)
    - ``reviews``: DataFrame with columns ``user, item, text, rating`` (dense ids)
    - ``kg``: :class:`KnowledgeGraph` whose first ``n_items`` entities are the items
    - ``features`` / ``user_features``: named float32 matrices ``[n_items, d]`` / ``[n_users, d]``
    - ``truth``: ground truth of synthetic data (``item_topic``, ``user_topics``, ...)
    """

    name: str
    user_ids: np.ndarray
    item_ids: np.ndarray
    interactions: Interactions
    splits: dict[str, Interactions] | None = None
    item_text: dict[str, list[str]] | None = None
    item_images: Any = None
    item_categories: list[list[str]] | None = None
    item_meta: pd.DataFrame | None = None
    user_meta: pd.DataFrame | None = None
    reviews: pd.DataFrame | None = None
    kg: KnowledgeGraph | None = None
    features: dict[str, torch.Tensor] = field(default_factory=dict)
    user_features: dict[str, torch.Tensor] = field(default_factory=dict)
    truth: dict[str, Any] = field(default_factory=dict)
    implicit: bool = False

    def __post_init__(self):
        self.user_ids = np.asarray(self.user_ids)
        self.item_ids = np.asarray(self.item_ids)
        self._check_ids(self.interactions, "interactions")
        if self.splits is not None:
            missing = set(_SPLITS) - set(self.splits)
            if missing:
                raise DataError(f"{self.name}: splits lacks {sorted(missing)}")
            for key, part in self.splits.items():
                self._check_ids(part, f"splits[{key!r}]")
        per_item = {"item_text": self.item_text, "item_categories": self.item_categories}
        for label, value in per_item.items():
            if value is None:
                continue
            lists = value.values() if isinstance(value, dict) else [value]
            for lst in lists:
                if len(lst) != self.n_items:
                    raise DataError(f"{self.name}: {label} has {len(lst)} rows for {self.n_items} items")
        if self.item_images is not None and len(self.item_images) != self.n_items:
            raise DataError(f"{self.name}: item_images has {len(self.item_images)} rows for {self.n_items} items")
        for label, table, n in (("item_meta", self.item_meta, self.n_items), ("user_meta", self.user_meta, self.n_users)):
            if table is not None and len(table) != n:
                raise DataError(f"{self.name}: {label} has {len(table)} rows for {n} ids")
        if self.kg is not None and self.kg.n_entities < self.n_items:
            raise DataError(f"{self.name}: kg has {self.kg.n_entities} entities, fewer than the {self.n_items} items")
        features, user_features = self.features, self.user_features
        self.features, self.user_features = {}, {}
        for key, value in features.items():
            self.add_features(key, value)
        for key, value in user_features.items():
            self.add_features(key, value, users=True)

    # ---- sizes and ids -------------------------------------------------------------------
    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    def _check_ids(self, part: Interactions, label: str) -> None:
        if len(part) == 0:
            return
        if int(part.user.min()) < 0 or int(part.user.max()) >= self.n_users:
            raise DataError(f"{self.name}: {label}.user holds ids outside 0..{self.n_users - 1}")
        if int(part.item.min()) < 0 or int(part.item.max()) >= self.n_items:
            raise DataError(f"{self.name}: {label}.item holds ids outside 0..{self.n_items - 1}")

    def user_index(self) -> dict:
        """Raw user id -> dense id."""
        return {raw: u for u, raw in enumerate(self.user_ids.tolist())}

    def item_index(self) -> dict:
        """Raw item id -> dense id."""
        return {raw: i for i, raw in enumerate(self.item_ids.tolist())}

    # ---- splits ----------------------------------------------------------------------------
    def _split(self, key: str) -> Interactions:
        if self.splits is None:
            raise MissingFieldError(
                f"{self.name}: no {key} split yet; call mmrec_lite.data.split_random / split_leave_one_out / "
                "split_temporal first")
        return self.splits[key]

    @property
    def train(self) -> Interactions:
        return self._split("train")

    @property
    def valid(self) -> Interactions:
        return self._split("valid")

    @property
    def test(self) -> Interactions:
        return self._split("test")

    def with_splits(self, train: Interactions, valid: Interactions, test: Interactions) -> "RecData":
        """A copy of this dataset carrying the given splits (side information is shared)."""
        return replace(self, splits={"train": train, "valid": valid, "test": test})

    def train_matrix(self, values: str | None = None) -> torch.Tensor:
        """Sparse ``[n_users, n_items]`` matrix of the training interactions."""
        return self.train.matrix(self.n_users, self.n_items, values)

    def item_popularity(self, split: str = "train") -> torch.Tensor:
        """Interaction count per item in a split (``"all"`` for every interaction)."""
        part = self.interactions if split == "all" else self._split(split)
        return torch.bincount(part.item, minlength=self.n_items)

    def user_degree(self, split: str = "train") -> torch.Tensor:
        part = self.interactions if split == "all" else self._split(split)
        return torch.bincount(part.user, minlength=self.n_users)

    def cold_start_users(self, split: str = "test") -> torch.Tensor:
        """Dense ids (sorted) of users with interactions in ``split`` but none in training.

        A model scores them with an embedding no gradient ever reached; the splitters and
        :func:`~mmrec_lite.data.load_mmrec` warn when there are any, and an evaluation can report
        or exclude them with this list.
        """
        return self._cold("user", split)

    def cold_start_items(self, split: str = "test") -> torch.Tensor:
        """Dense ids (sorted) of items with interactions in ``split`` but none in training."""
        return self._cold("item", split)

    def _cold(self, side: str, split: str) -> torch.Tensor:
        n = self.n_users if side == "user" else self.n_items
        seen = torch.bincount(getattr(self.train, side), minlength=n) > 0
        present = torch.bincount(getattr(self._split(split), side), minlength=n) > 0
        return torch.nonzero(present & ~seen).flatten()

    def warn_cold_start(self, stacklevel: int = 3) -> None:
        """Warn once per split when valid/test holds users absent from training (cold items, common
        after a random split, are listed by :meth:`cold_start_items` but not warned about)."""
        for split in ("valid", "test"):
            users = len(self.cold_start_users(split))
            if users:
                warnings.warn(f"{self.name}: the {split} split has {users} user(s) without training interactions; "
                              "models score them with untrained embeddings (list them with "
                              f"data.cold_start_users({split!r}))", ColdStartWarning, stacklevel=stacklevel)

    # ---- side information -----------------------------------------------------------------
    def require(self, *fields: str) -> None:
        """Raise :class:`MissingFieldError` naming every requested field this dataset lacks.

        Field names are attribute names (``"item_text"``, ``"kg"``, ``"reviews"``, ...) or
        ``"features:<name>"`` / ``"user_features:<name>"`` for a named matrix.
        """
        missing = []
        for f in fields:
            if f.startswith(("features:", "user_features:")):
                table, key = f.split(":", 1)
                if key not in getattr(self, table):
                    missing.append(f)
            elif f in _SPLITS:
                if self.splits is None:
                    missing.append(f)
            else:
                value = getattr(self, f, None)
                if value is None or (isinstance(value, dict) and not value):
                    missing.append(f)
        if missing:
            raise MissingFieldError(f"dataset {self.name!r} has no {', '.join(missing)}; "
                                    f"it carries: {', '.join(self.available()) or 'interactions only'}")

    def available(self) -> list[str]:
        """Names of the side information this dataset carries."""
        out = [f for f in ("item_text", "item_images", "item_categories", "item_meta", "user_meta",
                           "reviews", "kg") if getattr(self, f) is not None]
        out += [f"features:{k}" for k in self.features] + [f"user_features:{k}" for k in self.user_features]
        return out

    def add_features(self, name: str, matrix, users: bool = False) -> None:
        """Store a named feature matrix after checking its shape and that it is finite."""
        table, n, who = (self.user_features, self.n_users, "users") if users else (self.features, self.n_items, "items")
        m = torch.as_tensor(np.asarray(matrix) if not isinstance(matrix, torch.Tensor) else matrix).float()
        if m.ndim != 2 or m.shape[0] != n:
            raise DataError(f"{self.name}: feature {name!r} has shape {tuple(m.shape)}; expected [{n}, d] for {n} {who}")
        bad = ~torch.isfinite(m)
        if bad.any():
            rows = torch.nonzero(bad.any(1)).flatten()[:5].tolist()
            raise DataError(f"{self.name}: feature {name!r} has NaN/inf values (first rows: {rows})")
        table[name] = m

    def item_texts(self, fields: Iterable[str] | None = None, sep: str = ". ") -> list[str]:
        """One string per item joining the chosen text fields (all of them by default)."""
        self.require("item_text")
        fields = list(fields) if fields is not None else list(self.item_text)
        for f in fields:
            if f not in self.item_text:
                raise MissingFieldError(f"dataset {self.name!r} has no item text field {f!r}; "
                                        f"it has {sorted(self.item_text)}")
        return [sep.join(t for t in (self.item_text[f][i] for f in fields) if t) for i in range(self.n_items)]

    def primary_category(self) -> np.ndarray:
        """The first category of each item (``"unknown"`` where none): the colour of t-SNE plots."""
        self.require("item_categories")
        return np.array([c[0] if c else "unknown" for c in self.item_categories], dtype=object)

    # ---- display ---------------------------------------------------------------------------
    def summary(self) -> dict:
        n = len(self.interactions)
        out = {"name": self.name, "users": self.n_users, "items": self.n_items, "interactions": n,
               "density": n / max(1, self.n_users * self.n_items)}
        if self.splits is not None:
            out.update({k: len(v) for k, v in self.splits.items()})
        out["side information"] = ", ".join(self.available()) or "none"
        return out

    def __repr__(self) -> str:
        s = self.summary()
        parts = [f"{k}={v:.4%}" if k == "density" else f"{k}={v}" for k, v in s.items() if k != "name"]
        return f"RecData({s['name']!r}: " + ", ".join(parts) + ")"


def resolve_path(path, what: str) -> Path:
    """Return ``path`` as a Path, raising :class:`DataError` naming ``what`` if it does not exist."""
    p = Path(path).expanduser()
    if not p.exists():
        raise DataError(f"{what} not found: {p}")
    return p
