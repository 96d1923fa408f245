"""Datasets: the RecData object, loaders per source, the synthetic generator, downloads, splits
and filters."""
from .amazon import load_amazon_2014
from .downloads import (download, ensure_amazon_2014, ensure_movielens_100k, ensure_movies_dataset,
                       safe_extract, sha256_of)
from .filters import k_core, subset, to_implicit
from .frame import from_dataframe
from .kg_formats import ensure_kb4rec_movielens_1m, ensure_kgat_amazon_book, load_kb4rec, load_kgat
from .mmrec_format import load_mmrec
from .mmrec_meta import load_mmrec_with_text
from .movielens import load_movielens_100k
from .movies_dataset import load_movies_dataset
from .recdata import DataError, Interactions, KnowledgeGraph, MissingFieldError, RecData
from .registry import load_dataset
from .reviews import (ReviewReport, ensure_amazon_reviews, load_amazon_reviews, load_google_local_reviews,
                      load_yelp_reviews)
from .splits import split_leave_one_out, split_random, split_temporal
from .steam import ensure_steam, load_steam
from .synthetic import make_synthetic

__all__ = [
    "DataError", "Interactions", "KnowledgeGraph", "MissingFieldError", "RecData",
    "make_synthetic", "from_dataframe",
    "load_movielens_100k", "load_movies_dataset", "load_amazon_2014", "load_mmrec", "load_mmrec_with_text", "load_dataset",
    "load_kb4rec", "load_kgat", "ensure_kb4rec_movielens_1m", "ensure_kgat_amazon_book",
    "load_steam", "ensure_steam",
    "ReviewReport", "load_amazon_reviews", "ensure_amazon_reviews", "load_yelp_reviews", "load_google_local_reviews",
    "download", "safe_extract", "sha256_of", "ensure_movielens_100k", "ensure_amazon_2014",
    "ensure_movies_dataset",
    "split_random", "split_leave_one_out", "split_temporal",
    "k_core", "to_implicit", "subset",
]
