"""``load_dataset``: one call from a dataset name to split data, as the notebooks' ``DATASET`` asks."""
from __future__ import annotations

from ..profiles import data_root, get_profile
from .amazon import load_amazon_2014
from .downloads import ensure_amazon_2014, ensure_movielens_100k, ensure_movies_dataset
from .kg_formats import ensure_kb4rec_movielens_1m, ensure_kgat_amazon_book, load_kb4rec, load_kgat
from .mmrec_format import load_mmrec
from .mmrec_meta import load_mmrec_with_text
from .movielens import load_movielens_100k
from .movies_dataset import load_movies_dataset
from .recdata import RecData
from .steam import ensure_steam, load_steam
from .splits import split_leave_one_out, split_random, split_temporal
from .synthetic import make_synthetic

__all__ = ["load_dataset", "DATASET_NAMES"]

DATASET_NAMES = ("synthetic", "ml-100k", "movies", "amazon-<Category>", "mmrec-<name>", "steam", "ml-1m-kg",
                 "amazon-book-kg", "auto")
SPLITS = ("random", "loo", "temporal")


def _split(data: RecData, split: str, seed: int) -> RecData:
    if split == "random":
        return split_random(data, seed=seed)
    if split == "loo":
        return split_leave_one_out(data, seed=seed)
    return split_temporal(data)


def _load(name: str, profile: str, seed: int) -> RecData:
    if name == "synthetic":
        return make_synthetic(**get_profile(profile).synthetic, seed=seed)
    if name == "ml-100k":
        return load_movielens_100k(ensure_movielens_100k())
    if name == "movies":
        return load_movies_dataset(ensure_movies_dataset())
    if name == "ml-1m-kg":
        return load_kb4rec(ensure_kb4rec_movielens_1m())
    if name.startswith("amazon-"):
        category = name.removeprefix("amazon-")
        return load_amazon_2014(category, ensure_amazon_2014(category))
    if name == "steam":
        return load_steam(ensure_steam())
    raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(DATASET_NAMES)}")


def load_dataset(name: str, profile: str = "smoke", seed: int = 0, split: str = "random") -> RecData:
    """Load a dataset by name and split it.

    ``name``: ``"synthetic"`` (sized by the profile's ``synthetic`` settings), ``"ml-100k"``,
    ``"movies"`` (The Movies Dataset), ``"amazon-<Category>"`` (Amazon 2014 5-core, e.g.
    ``"amazon-Musical_Instruments"``), ``"steam"`` (Kang & McAuley's Australian users' games), ``"ml-1m-kg"`` (MovieLens-1M with MKR's
    Satori-linked KG, :func:`~mmrec_lite.data.kg_formats.load_kb4rec`), ``"amazon-book-kg"`` (KGAT's
    Amazon-Book; it keeps KGAT's train/test and carves a validation split), ``"mmrec-<name>"`` (an MMRec folder under
    ``data_root()/"mmrec"``; it keeps its own split and ignores ``split``; when the folder also holds
    ``i_id_mapping.csv`` the raw Amazon text is joined, :func:`~mmrec_lite.data.mmrec_meta.load_mmrec_with_text`),
    or ``"auto"``
    (MovieLens-100K when ``data_root()/"ml-100k"`` is present, else synthetic; a banner says which).
    Real data is downloaded into ``data_root()`` when missing and downloadable.
    ``split``: ``"random"`` (per user 8:1:1), ``"loo"`` (leave-one-out by time) or ``"temporal"``.
    """
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {SPLITS}")
    if name == "amazon-book-kg":
        return load_kgat(ensure_kgat_amazon_book(), seed=seed)
    if name.startswith("mmrec-"):
        folder = data_root() / "mmrec" / name.removeprefix("mmrec-")
        if (folder / "i_id_mapping.csv").exists():
            print(f"DATASET: MMRec folder {folder} joined with its raw Amazon metadata")
            return load_mmrec_with_text(folder.name)
        print(f"DATASET: MMRec folder {folder}, encoded features only (no i_id_mapping.csv: no raw text)")
        return load_mmrec(folder.name)
    if name == "auto":
        folder = data_root() / "ml-100k"
        name = "ml-100k" if (folder / "u.data").exists() else "synthetic"
        reason = (f"real MovieLens-100K from {folder}" if name == "ml-100k" else
                  f"synthetic data (no MovieLens-100K in {folder}; mmrec_lite.data.ensure_movielens_100k() "
                  "downloads it)")
        print(f"{'=' * 72}\nDATASET: {reason}\n{'=' * 72}")
    return _split(_load(name, profile, seed), split, seed)
