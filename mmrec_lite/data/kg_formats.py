"""Loaders for the two public knowledge-graph recommendation layouts.

**KB4Rec / MKR** (Zhao et al. 2019; Wang et al. 2019, the MKR and KGCN repositories): a folder with

- ``item_index2entity_id.txt``: ``item<TAB>entity`` per line, the raw item id (MovieLens movie id)
  and the KG entity it is linked to (a Satori or Freebase id); line ``i`` makes item ``i``;
- ``kg.txt``: ``head<TAB>relation<TAB>tail`` per line, raw entity ids and relation names
  (e.g. ``film.film.genre``);
- the ratings: MovieLens-1M ``ratings.dat`` (``user::movie::rating::timestamp``), kept as implicit
  positives when ``rating >= threshold`` (MKR keeps ``>= 4``); or, already preprocessed by MKR,
  ``ratings_final.txt`` (``user<TAB>item<TAB>label``, positives have label 1) with
  ``kg_final.txt`` (``head<TAB>relation<TAB>tail`` as integer indices, items first).

**KGAT** (Wang et al. 2019, the KGAT repository's ``Data/<name>/``): ``train.txt`` and ``test.txt``
hold one user per line followed by the user's items (space-separated remapped ids);
``kg_final.txt`` holds ``head relation tail`` integer triples whose entities ``0 .. n_items-1`` are
the items. Optional ``user_list.txt``, ``item_list.txt``, ``entity_list.txt`` and
``relation_list.txt`` (a header line, then ``org_id remap_id [freebase_id]``) give the raw names.

Both return :class:`~mmrec_lite.data.RecData` with ``kg`` filled, items first among the entities.
Malformed lines, non-integer ids and ids that refer to unknown items or entities raise
:class:`~mmrec_lite.data.DataError` naming the file and the line.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ..profiles import data_root
from .downloads import download, safe_extract
from .frame import dense_id_range, dense_interactions
from .recdata import DataError, KnowledgeGraph, RecData
from .safe_io import int64_values, undecodable
from .splits import split_random

__all__ = ["load_kb4rec", "load_kgat", "ensure_kb4rec_movielens_1m", "ensure_kgat_amazon_book",
           "MKR_MOVIE_URL", "ML1M_URL", "KGAT_DATA_URL"]

MKR_MOVIE_URL = "https://raw.githubusercontent.com/hwwang55/MKR/master/data/movie/{file}"
ML1M_URL = "https://files.grouplens.org/datasets/movielens/ml-1m.zip"
KGAT_DATA_URL = "https://raw.githubusercontent.com/xiangwang1223/knowledge_graph_attention_network/master/Data/{name}/{file}"
KB4REC_FILES = ("ratings.dat", "item_index2entity_id.txt", "kg.txt")
KGAT_FILES = ("train.txt", "test.txt", "kg_final.txt")
KGAT_NAME_FILES = ("user_list.txt", "item_list.txt", "entity_list.txt", "relation_list.txt")


def _lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8-sig").splitlines()
    except UnicodeDecodeError:
        raise undecodable(path, "utf-8") from None


def _read_table(path: Path, sep: str, columns: dict[str, str], skip: int = 0,
                text: str | None = None) -> tuple[pd.DataFrame, np.ndarray]:
    """Every non-blank line after ``skip`` header lines split on ``sep`` into typed ``columns``.

    ``text`` stands for the content of ``path`` when given (e.g. with ``::`` already replaced).
    Returns the table and the 1-based line number of each row. A line with the wrong number of
    fields or a value of the wrong type raises, naming the file and the line.
    """
    if text is None and not path.exists():
        raise DataError(f"data file not found: {path}")
    lines = (_lines(path) if text is None else text.splitlines())[skip:]
    numbers = np.array([n for n, line in enumerate(lines, start=skip + 1) if line.strip()], dtype=np.int64)
    if not len(numbers):
        raise DataError(f"{path}: no data lines")
    rows = [lines[n - skip - 1].strip().split(sep) for n in numbers]
    width = len(columns)
    for number, fields in zip(numbers, rows):
        if len(fields) != width:
            raise DataError(f"{path}, line {number}: expected {width} fields "
                            f"({' '.join(columns)}), found {len(fields)}: {sep.join(fields)[:200]!r}")
    frame = pd.DataFrame(rows, columns=list(columns))
    for column, kind in columns.items():
        frame[column] = frame[column].str.strip()
        if kind == "int64":
            text = frame[column]
            bad = np.flatnonzero(~text.str.fullmatch(r"[+-]?\d+").to_numpy(dtype=bool))
            if len(bad):
                raise DataError(f"{path}, line {numbers[bad[0]]}: field {column!r} is not an integer: "
                                f"{text.iloc[bad[0]]!r}")
            frame[column] = int64_values(pd.to_numeric(text).to_numpy(), column,
                                         lambda row: f"{path}, line {numbers[row]}")
    return frame, numbers


def _check_range(path: Path, numbers: np.ndarray, values: np.ndarray, limit: int, what: str) -> None:
    """Raise unless ``0 <= values < limit`` (the first offender's line is named)."""
    bad = np.flatnonzero((values < 0) | (values >= limit))
    if len(bad):
        raise DataError(f"{path}, line {numbers[bad[0]]}: unknown {what} id {values[bad[0]]} "
                        f"(known ids are 0..{limit - 1}; {len(bad)} such lines)")


def _unique(path: Path, numbers: np.ndarray, values: pd.Series, what: str) -> None:
    repeated = np.flatnonzero(values.duplicated().to_numpy())
    if len(repeated):
        row = int(repeated[0])
        raise DataError(f"{path}, line {numbers[row]}: {what} {values.iloc[row]!r} is listed twice")


# ---- KB4Rec / MKR ------------------------------------------------------------------------------

def _item_entity_map(folder: Path) -> tuple[pd.DataFrame, np.ndarray]:
    path = folder / "item_index2entity_id.txt"
    links, numbers = _read_table(path, "\t", {"item": "str", "entity": "str"})
    _unique(path, numbers, links["item"], "item")
    _unique(path, numbers, links["entity"], "entity")
    return links, numbers


def _raw_kg(folder: Path, item_entities: pd.Series) -> KnowledgeGraph:
    """``kg.txt`` with entities numbered items first (map order), then in order of first appearance."""
    path = folder / "kg.txt"
    triples, _ = _read_table(path, "\t", {"head": "str", "relation": "str", "tail": "str"})
    heads, tails = triples["head"].to_numpy(), triples["tail"].to_numpy()
    in_order = np.stack([heads, tails], 1).ravel()
    entities = pd.Index(pd.unique(np.concatenate([item_entities.to_numpy(), in_order])))
    relations = pd.Index(pd.unique(triples["relation"].to_numpy()))
    ids = np.stack([entities.get_indexer(heads), relations.get_indexer(triples["relation"].to_numpy()),
                    entities.get_indexer(tails)], axis=1)
    return KnowledgeGraph(torch.as_tensor(ids, dtype=torch.long), entities.astype(str).tolist(),
                          relations.astype(str).tolist())


def _raw_ratings(folder: Path, ratings: str, links: pd.DataFrame, threshold: float | None) -> pd.DataFrame:
    """ML-1M ``user::movie::rating::timestamp`` rows of linked movies (rating >= threshold)."""
    path = folder / ratings
    if not path.exists():
        raise DataError(f"data file not found: {path}")
    text = "\n".join(_lines(path)).replace("::", "\t")
    frame, numbers = _read_table(path, "\t", {"user": "int64", "item": "int64", "rating": "int64",
                                              "timestamp": "int64"}, text=text)
    frame["line"], frame["item"] = numbers, frame["item"].astype(str)
    frame = frame[frame["item"].isin(links["item"])]
    if threshold is not None:
        frame = frame[frame["rating"] >= threshold]
    if frame.empty:
        raise DataError(f"{path}: no ratings of linked items" + (f" at or above {threshold}" if threshold else ""))
    return frame.reset_index(drop=True)


def _final_files(folder: Path, n_items: int) -> tuple[pd.DataFrame, KnowledgeGraph, Path, np.ndarray]:
    """MKR's preprocessed ``ratings_final.txt`` (positives) and ``kg_final.txt``."""
    rating_path, kg_path = folder / "ratings_final.txt", folder / "kg_final.txt"
    ratings, numbers = _read_table(rating_path, "\t", {"user": "int64", "item": "int64", "label": "int64"})
    _check_range(rating_path, numbers, ratings["item"].to_numpy(), n_items, "item")
    keep = ratings["label"].to_numpy() == 1
    triples, kg_numbers = _read_table(kg_path, "\t", {"head": "int64", "relation": "int64", "tail": "int64"})
    ids = triples.to_numpy()
    for column, what in ((0, "head entity"), (2, "tail entity"), (1, "relation")):
        _check_range(kg_path, kg_numbers, ids[:, column], np.iinfo(np.int64).max, what)
    n_entities = max(n_items, int(ids[:, [0, 2]].max()) + 1)
    n_relations = int(ids[:, 1].max()) + 1
    kg = KnowledgeGraph(torch.as_tensor(ids, dtype=torch.long), [f"entity:{e}" for e in range(n_entities)],
                        [f"relation:{r}" for r in range(n_relations)])
    return ratings[keep].reset_index(drop=True), kg, rating_path, numbers[keep]


def load_kb4rec(folder: str | Path, ratings: str = "ratings.dat", threshold: float | None = 4.0,
                name: str = "ml-1m-kg") -> RecData:
    """A KB4Rec/MKR folder as an unsplit, implicit :class:`RecData` with ``kg``.

    Items are the lines of ``item_index2entity_id.txt`` (item ``i`` = entity ``i``). When
    ``ratings_final.txt`` and ``kg_final.txt`` are present (MKR's preprocessed output) they are
    read; otherwise ``ratings`` (ML-1M ``ratings.dat``) and ``kg.txt``. Ratings of movies that are
    not linked are dropped and those below ``threshold`` too (``None`` keeps all), as MKR does.
    Unlike MKR's ``preprocess.py`` every triple of ``kg.txt`` is kept (MKR skips heads not yet seen).
    """
    folder = Path(folder).expanduser()
    links, _ = _item_entity_map(folder)
    item_ids = links["item"].to_numpy()
    if (folder / "ratings_final.txt").exists() and (folder / "kg_final.txt").exists():
        frame, kg, path, numbers = _final_files(folder, len(links))
        names = kg.entity_names
        names[:len(links)] = links["entity"].tolist()
        kg = KnowledgeGraph(kg.triples, names, kg.relation_names)
        item_index = frame["item"].to_numpy()
        rating = timestamp = None
    else:
        kg = _raw_kg(folder, links["entity"])
        frame = _raw_ratings(folder, ratings, links, threshold)
        path, numbers = folder / ratings, frame["line"].to_numpy()
        item_index = pd.Index(item_ids).get_indexer(frame["item"].to_numpy())
        rating, timestamp = "rating", "timestamp"
    frame = frame.assign(item_index=item_index)
    dense = dense_interactions(frame, where=lambda row: f"{path}, line {numbers[row]}", user="user",
                               item="item_index", rating=rating, timestamp=timestamp,
                               item_ids=np.arange(len(links)))
    return RecData(name=name, user_ids=dense.user_ids, item_ids=item_ids, interactions=dense.interactions,
                   kg=kg, implicit=True)


# ---- KGAT ----------------------------------------------------------------------------------------

def _user_items(path: Path, n_items: int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(user, item, line)`` arrays of a KGAT ``train.txt`` / ``test.txt``."""
    if not path.exists():
        raise DataError(f"data file not found: {path}")
    users, items, lines = [], [], []
    for number, line in enumerate(_lines(path), start=1):
        fields = line.split()
        if not fields:
            continue
        try:
            ids = np.array([int(f) for f in fields], dtype=np.int64)
        except ValueError:
            bad = next(f for f in fields if not f.lstrip("-").isdigit())
            raise DataError(f"{path}, line {number}: {bad!r} is not an integer id "
                            "(expected 'user item item ...')") from None
        except OverflowError:
            bad = next(f for f in fields if not -2 ** 63 <= int(f) < 2 ** 63)
            raise DataError(f"{path}, line {number}: id {bad} does not fit in 64 bits (int64)") from None
        users.append(np.full(len(ids) - 1, ids[0]))
        items.append(ids[1:])
        lines.append(np.full(len(ids) - 1, number))
    if not users:
        raise DataError(f"{path}: no data lines")
    user, item, line = (np.concatenate(x) for x in (users, items, lines))
    if n_items is not None:
        _check_range(path, line, item, n_items, "item")
    _check_range(path, line, user, np.iinfo(np.int64).max, "user")
    return user, item, line


def _name_list(folder: Path, file: str) -> pd.DataFrame | None:
    """``org_id remap_id ...`` rows of a KGAT name list, indexed by ``remap_id`` (``None`` if absent)."""
    path = folder / file
    if not path.exists():
        return None
    lines = _lines(path)
    fields = [line.split() for line in lines[1:]]
    rows = [(n, f[0], f[1]) for n, f in enumerate(fields, start=2) if f]
    for number, _, remap in rows:
        if not remap.isdigit():
            raise DataError(f"{path}, line {number}: remap_id {remap!r} is not a non-negative integer")
    table = pd.DataFrame(rows, columns=["line", "org_id", "remap_id"]).astype({"remap_id": np.int64})
    _unique(path, table["line"].to_numpy(), table["remap_id"], "remap_id")
    return table.set_index("remap_id").sort_index()


def _names(table: pd.DataFrame | None, n: int, prefix: str) -> list[str]:
    names = np.array([f"{prefix}{i}" for i in range(n)], dtype=object)
    if table is not None:
        known = table.index.to_numpy()
        inside = known < n
        names[known[inside]] = table["org_id"].to_numpy()[inside]
    return names.tolist()


def load_kgat(folder: str | Path, name: str | None = None, valid_ratio: float = 0.1, seed: int = 0) -> RecData:
    """A KGAT data folder as a split, implicit :class:`RecData` with ``kg``.

    ``test.txt`` is the test split; ``valid_ratio`` of each user's ``train.txt`` items (at least
    one for users with three or more) are held out, seeded, as the validation split (KGAT has
    none). With ``item_list.txt`` the catalogue is its ``remap_id`` range, otherwise
    ``max item id + 1``; users (and items without a list) must be dense: an id far beyond the
    others (a user 10**12 among 70,000) raises instead of creating phantom entities. With
    ``entity_list.txt`` / ``relation_list.txt`` the triples must stay inside their ranges. Entity names are the Freebase ids where listed.
    """
    folder = Path(folder).expanduser()
    name = name or folder.name
    lists = {file: _name_list(folder, file) for file in KGAT_NAME_FILES}
    item_list = lists["item_list.txt"]
    n_items = None if item_list is None else int(item_list.index.max()) + 1
    train_user, train_item, train_line = _user_items(folder / "train.txt", n_items)
    test_user, test_item, test_line = _user_items(folder / "test.txt", n_items)
    located = [(folder / "train.txt", train_line), (folder / "test.txt", test_line)]

    def where(row: int) -> str:
        path, lines = located[0] if row < len(train_line) else located[1]
        return f"{path}, line {lines[row if row < len(train_line) else row - len(train_line)]}"

    hint = "KGAT ids are dense remap ids 0..n-1 (re-index the file, or add the list file that names them)"
    if n_items is None:
        n_items = len(dense_id_range(np.concatenate([train_item, test_item]), "item id", where, hint))
    kg_path = folder / "kg_final.txt"
    triples, kg_numbers = _read_table(kg_path, " ", {"head": "int64", "relation": "int64", "tail": "int64"})
    ids = triples.to_numpy()
    entity_list, relation_list = lists["entity_list.txt"], lists["relation_list.txt"]
    entity_limit = np.iinfo(np.int64).max if entity_list is None else int(entity_list.index.max()) + 1
    relation_limit = np.iinfo(np.int64).max if relation_list is None else int(relation_list.index.max()) + 1
    _check_range(kg_path, kg_numbers, ids[:, 0], entity_limit, "head entity")
    _check_range(kg_path, kg_numbers, ids[:, 2], entity_limit, "tail entity")
    _check_range(kg_path, kg_numbers, ids[:, 1], relation_limit, "relation")
    n_entities = max(n_items, int(ids[:, [0, 2]].max()) + 1, 0 if entity_list is None else entity_limit)
    n_relations = max(int(ids[:, 1].max()) + 1, 0 if relation_list is None else relation_limit)
    entity_names = _names(entity_list, n_entities, "entity:")
    item_names = _names(item_list, n_items, "item:")
    entity_names[:n_items] = item_names
    kg = KnowledgeGraph(torch.as_tensor(ids, dtype=torch.long), entity_names,
                        _names(relation_list, n_relations, "relation:"))

    frame = pd.DataFrame({"user": np.concatenate([train_user, test_user]),
                          "item": np.concatenate([train_item, test_item]),
                          "test": np.r_[np.zeros(len(train_user), bool), np.ones(len(test_user), bool)]})
    user_list = lists["user_list.txt"]
    listed_users = set() if user_list is None else {int(user_list.index.max()) + 1}
    n_users = len(dense_id_range(frame["user"].to_numpy(), "user id", where, hint, confirmed=listed_users))
    if user_list is not None:
        n_users = max(n_users, int(user_list.index.max()) + 1)
    dense = dense_interactions(frame, where=where, user_ids=np.arange(n_users), item_ids=np.arange(n_items))
    is_test = frame["test"].to_numpy()[dense.rows]
    user_ids = np.asarray(_names(lists["user_list.txt"], n_users, ""), dtype=object)
    everything = RecData(name=name, user_ids=user_ids, item_ids=np.asarray(item_names, dtype=object),
                         interactions=dense.interactions, kg=kg, implicit=True)
    train_part = everything.interactions.select(torch.from_numpy(np.flatnonzero(~is_test)))
    carved = split_random(RecData(name=name, user_ids=user_ids, item_ids=everything.item_ids,
                                  interactions=train_part), ratios=(1 - valid_ratio, valid_ratio, 0.0), seed=seed)
    test = everything.interactions.select(torch.from_numpy(np.flatnonzero(is_test)))
    return everything.with_splits(carved.train, carved.valid, test)


# ---- downloads -----------------------------------------------------------------------------------

def ensure_kb4rec_movielens_1m(root: str | Path | None = None) -> Path:
    """The ``ml-1m-kg`` folder (``ratings.dat`` + MKR's Satori-linked ``item_index2entity_id.txt``
    and ``kg.txt``), downloaded from GroupLens and the MKR repository when missing.

    Neither source publishes checksums, so the files are not sha256-pinned; offline, the error names
    each URL and the folder to fill by hand.
    """
    folder = (Path(root).expanduser() if root is not None else data_root()) / "ml-1m-kg"
    if all((folder / f).exists() for f in KB4REC_FILES):
        return folder
    manual = (f"Place {', '.join(KB4REC_FILES)} in {folder}: ratings.dat from {ML1M_URL} (inside ml-1m/), the "
              f"other two from {MKR_MOVIE_URL.format(file='')}.")
    try:
        for file in ("item_index2entity_id.txt", "kg.txt"):
            download(MKR_MOVIE_URL.format(file=file), folder / file)
        if not (folder / "ratings.dat").exists():
            _extract_ratings(download(ML1M_URL, folder / "ml-1m.zip"), folder)
    except DataError as exc:
        raise DataError(f"{exc} {manual}") from exc
    return folder


def _extract_ratings(archive: Path, folder: Path) -> None:
    """``ml-1m/ratings.dat`` of the GroupLens archive moved to ``folder/ratings.dat``."""
    staging = folder / ".ml-1m.extracting"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        safe_extract(archive, staging)
        source = staging / "ml-1m" / "ratings.dat"
        if not source.exists():
            raise DataError(f"{archive}: has no ml-1m/ratings.dat; delete it and try again")
        source.replace(folder / "ratings.dat")
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def ensure_kgat_amazon_book(root: str | Path | None = None) -> Path:
    """The ``kgat/amazon-book`` folder in the KGAT layout, downloaded from the KGAT repository when
    missing (``kg_final.txt`` comes zipped there). Not sha256-pinned (no published checksums);
    offline, the error names the files and the folder to fill by hand."""
    folder = (Path(root).expanduser() if root is not None else data_root()) / "kgat" / "amazon-book"
    if all((folder / f).exists() for f in KGAT_FILES):
        return folder
    manual = (f"Place the KGAT amazon-book files {', '.join(KGAT_FILES)} (unzip kg_final.txt.zip) and "
              f"optionally {', '.join(KGAT_NAME_FILES)} from "
              f"{KGAT_DATA_URL.format(name='amazon-book', file='')} in {folder}.")
    try:
        for file in ("train.txt", "test.txt", *KGAT_NAME_FILES):
            download(KGAT_DATA_URL.format(name="amazon-book", file=file), folder / file)
        if not (folder / "kg_final.txt").exists():
            archive = download(KGAT_DATA_URL.format(name="amazon-book", file="kg_final.txt.zip"),
                               folder / "kg_final.txt.zip")
            safe_extract(archive, folder)
    except DataError as exc:
        raise DataError(f"{exc} {manual}") from exc
    if not (folder / "kg_final.txt").exists():
        raise DataError(f"{folder / 'kg_final.txt'} is missing after unpacking. {manual}")
    return folder
