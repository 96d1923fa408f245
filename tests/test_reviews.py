"""Review loaders on fixture files written in the official layouts (issue 8)."""
from __future__ import annotations

import gzip
import json

import numpy as np
import pytest
import torch

from mmrec_lite.data import split_random
from mmrec_lite.data.recdata import DataError
from mmrec_lite.data.reviews import (amazon_review_path, load_amazon_reviews, load_google_local_reviews,
                                     load_yelp_reviews)
from mmrec_lite.features.review_embeddings import aggregate_reviews, train_review_rows


def _write(path, records):
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wt", encoding="utf-8") as handle:
        for record in records:
            handle.write((record if isinstance(record, str) else json.dumps(record)) + "\n")
    return path


def _grid(n_users=6, n_items=6):
    """Every user reviews every item: a 6-core, so a k-core of 5 keeps everything."""
    return [(f"U{u}", f"I{i}", 1 + (u + i) % 5, 1400000000 + 1000 * (u * n_items + i))
            for u in range(n_users) for i in range(n_items)]


def test_amazon_2014_layout_by_category(tmp_path):
    folder = tmp_path / "amazon-2014-5core"
    folder.mkdir()
    _write(folder / "reviews_Toys_5.json.gz",
           [{"reviewerID": u, "asin": i, "overall": float(r), "reviewText": f"text {u} {i}", "summary": "Nice",
             "unixReviewTime": t} for u, i, r, t in _grid()])
    data, report = load_amazon_reviews("Toys", root=tmp_path)
    assert (data.n_users, data.n_items, len(data.reviews)) == (6, 6, 36)
    assert report.duplicate_lines == 0 and report.k_core_removed_reviews == 0
    assert data.reviews["text"].iloc[0] == "Nice. text U0 I0"
    assert amazon_review_path("Toys", tmp_path) == folder / "reviews_Toys_5.json.gz"


def test_amazon_2018_duplicates_are_counted_dropped_and_the_core_rechecked(tmp_path):
    folder = tmp_path / "amazon-2018-5core"
    folder.mkdir()
    lines = [{"reviewerID": u, "asin": i, "overall": float(r), "reviewText": "ok", "summary": "s",
              "unixReviewTime": t, "verified": True, "style": {"Size:": " 7 oz"}, "vote": "2", "image": []}
             for u, i, r, t in _grid()]
    # user U6 has 5 lines but only 2 distinct items: below 5 after de-duplication
    extra = [{"reviewerID": "U6", "asin": f"I{k % 2}", "overall": 5.0, "reviewText": f"v{k}",
              "unixReviewTime": 1500000000 + k} for k in range(5)]
    _write(folder / "Beauty_5.json.gz", lines + extra + [lines[0]])  # and one verbatim repeat
    data, report = load_amazon_reviews("Beauty", root=tmp_path)
    assert report.lines == 42 and report.duplicate_lines == 4
    assert report.conflicting_pairs == 2          # U6's repeats differ in text
    assert (report.k_core_removed_users, report.k_core_removed_reviews) == (1, 2)
    assert (data.n_users, len(data.interactions)) == (6, 36)
    earliest, _ = load_amazon_reviews("Beauty", root=tmp_path, min_count=0)
    latest, _ = load_amazon_reviews("Beauty", root=tmp_path, min_count=0, duplicates="latest")
    u6 = int(np.flatnonzero(earliest.user_ids == "U6")[0])
    assert sorted(earliest.reviews.loc[earliest.reviews.user == u6, "text"]) == ["v0", "v1"]
    assert sorted(latest.reviews.loc[latest.reviews.user == u6, "text"]) == ["v3", "v4"]
    with pytest.raises(DataError, match="duplicate interaction"):
        load_amazon_reviews("Beauty", root=tmp_path, duplicates="raise")


def test_bad_amazon_line_names_file_and_line(tmp_path):
    path = _write(tmp_path / "x.json", [{"reviewerID": "a", "asin": "b", "overall": 5, "unixReviewTime": 1},
                                        "{not json"])
    with pytest.raises(DataError, match="line 2"):
        load_amazon_reviews("x", path=path)
    path = _write(tmp_path / "y.json", [{"reviewerID": "a", "asin": "b", "overall": 5, "unixReviewTime": 1},
                                        {"reviewerID": "a", "overall": 4, "unixReviewTime": 2}])
    with pytest.raises(DataError, match=r"line 2: missing field 'asin'"):
        load_amazon_reviews("y", path=path)
    with pytest.raises(DataError, match="ensure_amazon_reviews"):
        amazon_review_path("Nothing", tmp_path)


def test_yelp_official_layout(tmp_path):
    records = [{"review_id": f"r{n}", "user_id": u, "business_id": i, "stars": r, "useful": 0, "funny": 0,
                "cool": 0, "text": f"great {i}", "date": "2018-07-07 22:09:11"} for n, (u, i, r, _) in enumerate(_grid())]
    data, report = load_yelp_reviews(_write(tmp_path / "yelp_academic_dataset_review.json", records))
    assert (data.n_users, data.n_items, report.reviews) == (6, 6, 36)
    assert int(data.interactions.timestamp[0]) == 1531001351  # 2018-07-07 22:09:11 UTC
    bad = _write(tmp_path / "bad.json", records[:1] + [{**records[1], "date": "yesterday"}])
    with pytest.raises(DataError, match="line 2: field 'date'"):
        load_yelp_reviews(bad)


def test_google_local_official_layout(tmp_path):
    records = [{"user_id": u, "name": "N", "time": t * 1000, "rating": r, "text": None if r == 3 else "tasty",
                "pics": None, "resp": None, "gmap_id": "0x" + i} for u, i, r, t in _grid()]
    data, report = load_google_local_reviews(_write(tmp_path / "review-Vermont.json.gz", records))
    assert report.reviews == 36 and int(data.interactions.timestamp.min()) == 1400000000
    assert set(data.reviews["text"]) == {"", "tasty"}
    with pytest.raises(DataError, match="Google Local reviews not found"):
        load_google_local_reviews(tmp_path / "missing.json.gz")


def test_review_embeddings_use_training_reviews_only(tmp_path):
    folder = tmp_path / "amazon-2014-5core"
    folder.mkdir()
    _write(folder / "reviews_Toys_5.json.gz",
           [{"reviewerID": u, "asin": i, "overall": float(r), "reviewText": "t", "unixReviewTime": t}
            for u, i, r, t in _grid()])
    data = split_random(load_amazon_reviews("Toys", root=tmp_path)[0], seed=0)
    emb = torch.randn(len(data.reviews), 8, generator=torch.Generator().manual_seed(0))
    base = aggregate_reviews(data, emb)
    train_rows = train_review_rows(data)
    held_out = np.setdiff1d(np.arange(len(data.reviews)), train_rows)
    assert len(held_out) == len(data.valid) + len(data.test)
    changed = emb.clone()
    changed[torch.from_numpy(held_out)] = 100.0  # a changed test / valid review
    after = aggregate_reviews(data, changed)
    assert torch.equal(base.user, after.user) and torch.equal(base.item, after.item)
    # user 0's embedding is the mean of its normalised training reviews, by hand
    mine = [r for r in train_rows if data.reviews["user"].iloc[r] == 0]
    expected = torch.nn.functional.normalize(emb[mine], dim=1).mean(0)
    torch.testing.assert_close(base.user[0], expected)


def test_prepare_downloads_a_missing_category_by_name(tmp_path, monkeypatch):
    """With a release, ``experiments_symcere.prepare`` fetches the category file first (here the
    download is replaced by writing the fixture where the real URL's file would land)."""
    from mmrec_lite import experiments_symcere
    from mmrec_lite.data import reviews as reviews_module
    from mmrec_lite.features.review_embeddings import ReviewEmbeddings

    fetched = []

    def fake_download(url, dest, sha256=None, **_):
        fetched.append((url, dest.name, sha256))
        dest.parent.mkdir(parents=True, exist_ok=True)
        return _write(dest, [{"reviewerID": u, "asin": i, "overall": float(r), "reviewText": "t", "unixReviewTime": t}
                             for u, i, r, t in _grid()])

    monkeypatch.setattr(reviews_module, "download", fake_download)
    monkeypatch.setattr(experiments_symcere, "encode_reviews", lambda data, encoder=None: torch.ones(len(data.reviews), 3))
    data, text = experiments_symcere.prepare("Toys", seed=0, root=tmp_path, release=2018)
    assert fetched == [(reviews_module.AMAZON_2018_URL.format(file="Toys_5.json.gz"), "Toys_5.json.gz", None)]
    assert isinstance(text, ReviewEmbeddings) and data.n_users == 6 and len(data.train) > 0
    experiments_symcere.prepare("Toys", seed=0, root=tmp_path, release=2018)
    assert len(fetched) == 1  # present now: not fetched again
    with pytest.raises(DataError, match="ensure_amazon_reviews"):
        experiments_symcere.prepare("Garden", seed=0, root=tmp_path)
