"""Loaders on the real datasets in ../shared/data (or MMREC_DATA); skipped when absent."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mmrec_lite.data import (ensure_movielens_100k, load_amazon_2014, load_dataset, load_movielens_100k,
                             load_movies_dataset, sha256_of)

pytestmark = pytest.mark.realdata
from mmrec_lite.data import downloads as download_module


def test_movielens_100k_counts(shared_data):
    data = load_movielens_100k(shared_data / "ml-100k", tmdb_root=False)
    assert (len(data.interactions), data.n_users, data.n_items) == (100_000, 943, 1_682)
    assert sorted(set(data.interactions.rating.tolist())) == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert data.item_text["title"][0] == "Toy Story (1995)"
    assert data.item_categories[0] == ["Animation", "Children's", "Comedy"]
    assert len(data.user_meta) == 943 and set(data.user_meta["gender"]) == {"M", "F"}


def test_movielens_100k_with_tmdb(shared_data):
    with pytest.warns(UserWarning, match="36 movies link to a TMDB entry"):  # the release's known mislinks
        data = load_movielens_100k(shared_data / "ml-100k", tmdb_root=shared_data / "ml-100k-tmdb")
    with_overview = sum(bool(text) for text in data.item_text["overview"])
    print(f"ML-100K + TMDB: {with_overview} of {data.n_items} items have an overview")
    assert with_overview >= 0.95 * data.n_items
    posters = [p for p in data.item_images if p is not None]
    assert len(posters) == 1_663 and all(Path(p).exists() for p in posters[:50])
    assert int(data.item_meta["tmdb_id"].notna().sum()) == 1_673  # links.csv has 9 movies without a TMDB id
    assert data.item_meta.attrs["skipped_rows"] == {"item_features.csv": 0}


def test_movies_dataset_ratings_small(shared_data):
    data = load_movies_dataset(shared_data / "the-movies-dataset")
    assert (len(data.interactions), data.n_users, data.n_items) == (100_004, 671, 9_066)
    ratings = data.interactions.rating.numpy()
    assert ratings.min() == 0.5 and ratings.max() == 5.0 and np.all(ratings * 2 == np.round(ratings * 2))


def test_amazon_musical_instruments_5core(shared_data):
    data = load_amazon_2014("Musical_Instruments", root=shared_data / "amazon-2014-5core")
    assert (len(data.interactions), data.n_users, data.n_items) == (10_261, 1_429, 900)
    assert int(data.user_degree("all").min()) >= 5 and int(data.item_popularity("all").min()) >= 5
    assert len(data.reviews) == 10_261 and data.reviews["text"].str.len().gt(0).mean() > 0.99


def test_pinned_sha256_match_the_real_files(shared_data, monkeypatch):
    for name, expected in download_module.ML100K_SHA256.items():
        assert sha256_of(shared_data / "ml-100k" / name) == expected
    reviews = "reviews_Musical_Instruments_5.json.gz"
    assert sha256_of(shared_data / "amazon-2014-5core" / reviews) == download_module.AMAZON_2014_SHA256[reviews]
    monkeypatch.setenv("MMREC_OFFLINE", "1")
    assert ensure_movielens_100k(shared_data) == shared_data / "ml-100k"


def test_load_dataset_on_real_data(shared_data, monkeypatch, capsys):
    monkeypatch.setenv("MMREC_DATA", str(shared_data))
    monkeypatch.setenv("MMREC_OFFLINE", "1")
    with pytest.warns(UserWarning, match="36 movies link to a TMDB entry"):
        data = load_dataset("auto", seed=0)
    assert "real MovieLens-100K" in capsys.readouterr().out
    assert data.name == "ml-100k" and len(data.train) + len(data.valid) + len(data.test) == 100_000
    amazon = load_dataset("amazon-Musical_Instruments", split="loo")
    assert len(amazon.test) == amazon.n_users  # every 5-core user has >= 3 interactions


def test_movielens_tmdb_suspicious_links_are_flagged_not_dropped(shared_data):
    with pytest.warns(UserWarning, match="links.csv"):
        data = load_movielens_100k(shared_data / "ml-100k", shared_data / "ml-100k-tmdb")
    meta = data.item_meta
    assert data.n_items == 1682                                   # nothing dropped
    assert meta.attrs["suspicious_links"] == int((meta["tmdb_title_agreement"] < 0.5).sum()) > 0
    mask_row = meta.index[meta["movie_id"] == 72][0]               # "Mask, The" is linked to Pulp Fiction
    assert meta.loc[mask_row, "tmdb_title_agreement"] < 0.5
