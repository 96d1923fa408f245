"""Steam (Kang & McAuley, ICDM 2018): Australian users' game libraries with game metadata.

Official files (McAuley lab, "Steam Video Game and Bundle Data"), gzip, one **Python literal**
dict per line (single quotes, ``u''`` strings, ``True``/``False`` — not JSON):

- ``australian_users_items.json.gz``: ``{'user_id', 'items_count', 'steam_id', 'user_url',
  'items': [{'item_id', 'item_name', 'playtime_forever', 'playtime_2weeks'}, ...]}``;
- ``steam_games.json.gz``: ``{'id', 'app_name', 'title', 'genres', 'tags', 'specs',
  'developer', 'publisher', 'release_date', 'price', ...}`` (some lines lack ``id``).

Every owned game is one implicit interaction (GNNMR's "purchases"). Item side information:
``item_text`` ``title`` and ``description`` — the official files have no store description, so
the description is composed from the genres, tags, specs, developer and publisher (what
GNNMR's text modality can read here); ``item_categories`` the genres; ``item_meta`` the raw
columns. The game files carry no poster, so ``item_images`` stays ``None``. ``sentiment`` and
``metascore`` (review aggregates, proxies of popularity) are not loaded.
"""
from __future__ import annotations

import ast
import gzip
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pandas as pd

from ..profiles import data_root
from .downloads import download
from .frame import dense_interactions
from .recdata import DataError, RecData
from .safe_io import undecodable

__all__ = ["load_steam", "ensure_steam", "STEAM_FILES", "STEAM_URL"]

STEAM_URL = "https://mcauleylab.ucsd.edu/public_datasets/data/steam/"
STEAM_FILES = ("australian_users_items.json.gz", "steam_games.json.gz")
_LIST_FIELDS = ("genres", "tags", "specs")
_TEXT_FIELDS = ("developer", "publisher", "release_date")


def ensure_steam(root: str | Path | None = None) -> Path:
    """The folder holding both official files, downloaded into ``data_root()/"steam"`` if missing.

    Offline or unreachable: a :class:`DataError` that names each URL and the folder to fill by hand.
    """
    folder = Path(root).expanduser() if root is not None else data_root() / "steam"
    for name in STEAM_FILES:
        if not (folder / name).exists():
            download(STEAM_URL + name, folder / name)
    return folder


def _records(path: Path, required: tuple[str, ...]) -> Iterator[tuple[int, dict]]:
    """``(line number, dict)`` per non-blank line; a bad line raises naming the file and line."""
    try:
        with gzip.open(path, "rt", encoding="utf-8-sig") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    record = ast.literal_eval(line.strip())
                except (ValueError, SyntaxError, MemoryError, RecursionError) as err:
                    raise DataError(f"{path}: line {number}: not a Python literal ({type(err).__name__})") from None
                if not isinstance(record, dict):
                    raise DataError(f"{path}: line {number}: expected a dict, got {type(record).__name__}")
                missing = [field for field in required if field not in record]
                if missing:
                    raise DataError(f"{path}: line {number}: missing field {missing[0]!r}")
                yield number, record
    except UnicodeDecodeError:
        raise undecodable(path, "utf-8") from None
    except (OSError, EOFError) as err:
        raise DataError(f"{path}: cannot read the gzip file ({err}); it is damaged or truncated: delete {path} "
                        "and download it again") from None


def _interactions(path: Path) -> pd.DataFrame:
    users, items, where = [], [], []
    for number, record in _records(path, ("user_id", "items")):
        owned = record["items"]
        if not isinstance(owned, list):
            raise DataError(f"{path}: line {number}: field 'items' must be a list")
        for entry in owned:
            if not isinstance(entry, dict) or "item_id" not in entry:
                raise DataError(f"{path}: line {number}: an entry of 'items' lacks field 'item_id'")
            users.append(str(record["user_id"]))
            items.append(str(entry["item_id"]))
            where.append(number)
    if not users:
        raise DataError(f"{path}: no interactions")
    return pd.DataFrame({"user": users, "item": items, "line": where})


def _names(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, (list, tuple)) else []


def _games(path: Path) -> pd.DataFrame:
    rows = {}
    for number, record in _records(path, ()):
        if "id" not in record:          # a few official lines describe no app; they cannot be joined
            continue
        rows[str(record["id"])] = {"title": str(record.get("title") or record.get("app_name") or ""),
                                   **{f: _names(record.get(f)) for f in _LIST_FIELDS},
                                   **{f: record.get(f) for f in _TEXT_FIELDS}}
    return pd.DataFrame.from_dict(rows, orient="index")


def _description(row: pd.Series) -> str:
    parts = [f"{field.capitalize()}: {', '.join(row[field])}." for field in _LIST_FIELDS if row[field]]
    parts += [f"{field.capitalize()}: {row[field]}." for field in ("developer", "publisher")
              if isinstance(row[field], str) and row[field]]
    return " ".join(parts)


def load_steam(root: str | Path | None = None, duplicates: str = "keep-last") -> RecData:
    """Load the two official Steam files from ``root`` (default: :func:`ensure_steam`).

    A game owned twice by one user (it happens in the official file) counts once
    (``duplicates="keep-last"``; ``"raise"`` reports the line instead). Games without a
    metadata line get an empty title and description and no genres.
    """
    folder = ensure_steam(root)
    users_path, games_path = folder / STEAM_FILES[0], folder / STEAM_FILES[1]
    frame = _interactions(users_path)
    lines = frame["line"].to_numpy()
    dense = dense_interactions(frame, where=lambda row: f"{users_path}: line {lines[min(row, len(lines) - 1)]}",
                               duplicates=duplicates)
    games = _games(games_path).reindex([str(i) for i in dense.item_ids])
    for field in _LIST_FIELDS:
        games[field] = [v if isinstance(v, list) else [] for v in games[field]]
    games["title"] = games["title"].fillna("")
    item_meta = games.reset_index(names="item_id").reset_index(drop=True)
    return RecData(name="steam", user_ids=np.asarray(dense.user_ids), item_ids=np.asarray(dense.item_ids),
                   interactions=dense.interactions,
                   item_text={"title": item_meta["title"].tolist(),
                              "description": [_description(row) for _, row in item_meta.iterrows()]},
                   item_categories=[list(v) for v in item_meta["genres"]], item_meta=item_meta, implicit=True)
