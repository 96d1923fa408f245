"""Loaders on small fixture files written in each source's official format, and bad input."""
from __future__ import annotations

import gzip
import hashlib
import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from mmrec_lite.data import (DataError, from_dataframe, load_amazon_2014, load_dataset, load_mmrec,
                             load_movielens_100k, load_movies_dataset)
from mmrec_lite.data.recdata import ColdStartWarning



@pytest.fixture(autouse=True)
def fixtures_are_modified_copies(monkeypatch):
    """The fixture files carry official names but not official content: opt out of the sha256 check
    (tests/test_hardening_data.py tests the check itself)."""
    monkeypatch.setenv("MMREC_VERIFY", "0")


# ---------------------------------------------------------------------------------------------
# MovieLens-100K (+ TMDB)

ML_RATINGS = "1\t1\t5\t100\n1\t2\t3\t200\n2\t1\t4\t150\n2\t3\t1\t50\n3\t2\t2\t300\n"
METADATA_COLUMNS = ["adult", "belongs_to_collection", "budget", "genres", "homepage", "id", "imdb_id",
                    "original_language", "original_title", "overview", "popularity", "poster_path",
                    "production_companies", "production_countries", "release_date", "revenue", "runtime",
                    "spoken_languages", "status", "tagline", "title", "video", "vote_average", "vote_count"]


def write_movielens(root: Path, ratings: str = ML_RATINGS) -> Path:
    folder = root / "ml-100k"
    folder.mkdir(parents=True)
    (folder / "u.genre").write_text("unknown|0\nAction|1\nComedy|2\n\n")
    (folder / "u.item").write_bytes(
        "1|Toy Story (1995)|01-Jan-1995||http://imdb/1|0|0|1\n"
        "2|GoldenEye (1995)|01-Jan-1995||http://imdb/2|0|1|1\n"
        "3|Café Society (1995)|||http://imdb/3|1|0|0\n".encode("latin-1"))
    (folder / "u.user").write_text("1|24|M|technician|85711\n2|53|F|other|T8H1N\n3|23|M|writer|32067\n")
    (folder / "u.data").write_text(ratings)
    return folder


def metadata_row(**values) -> dict:
    row = dict.fromkeys(METADATA_COLUMNS, "")
    row.update(values)
    return row


def write_tmdb(root: Path) -> Path:
    folder = root / "ml-100k-tmdb"
    (folder / "posters").mkdir(parents=True)
    (folder / "links.csv").write_text("movie_id,imdb_id,tmdb_id\n1,tt0114709,862\n2,tt0113189,710\n3,,\n")
    rows = [
        metadata_row(id="862", title="Toy Story", overview="Woody and Buzz.", tagline="",
                     genres="[{'id': 16, 'name': 'Animation'}, {'id': 35, 'name': 'Comedy'}]",
                     production_companies="[{'id': 3, 'name': 'Pixar'}]", runtime="81.0",
                     release_date="1995-10-30", belongs_to_collection="{'id': 10194, 'name': 'Toy Story Collection'}",
                     movie_id="1", tmdb_id="862"),
        metadata_row(id="710", title="GoldenEye", overview="James Bond, again.", tagline="No limits.",
                     genres="[{'id': 12, 'name': 'Adventure'}", runtime="130.0", release_date="1995-11-16",
                     movie_id="2", tmdb_id="710"),
    ]
    pd.DataFrame(rows).to_csv(folder / "item_features.csv", index=False)
    (folder / "posters" / "1.jpg").write_bytes(b"\xff\xd8\xff")
    return folder


def digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_movielens_reads_official_layout(tmp_path):
    folder = write_movielens(tmp_path)
    data = load_movielens_100k(folder, tmdb_root=False)
    assert (data.n_users, data.n_items, len(data.interactions)) == (3, 3, 5)
    assert data.user_ids.tolist() == [1, 2, 3] and data.item_ids.tolist() == [1, 2, 3]
    assert data.interactions.user.tolist() == [0, 0, 1, 1, 2]
    assert data.interactions.item.tolist() == [0, 1, 0, 2, 1]
    assert data.interactions.rating.tolist() == [5.0, 3.0, 4.0, 1.0, 2.0]
    assert data.interactions.timestamp.tolist() == [100, 200, 150, 50, 300]
    assert data.item_text == {"title": ["Toy Story (1995)", "GoldenEye (1995)", "Café Society (1995)"]}
    assert data.item_categories == [["Comedy"], ["Action", "Comedy"], ["unknown"]]
    assert data.item_meta["year"].tolist()[:2] == [1995, 1995] and pd.isna(data.item_meta["year"][2])
    assert data.item_meta["imdb_url"].tolist() == ["http://imdb/1", "http://imdb/2", "http://imdb/3"]
    assert data.user_meta["zip"].tolist() == ["85711", "T8H1N", "32067"]
    assert data.user_meta["age"].tolist() == [24, 53, 23]
    assert data.item_images is None and not data.implicit


def test_movielens_with_tmdb_joins_through_links(tmp_path):
    folder, tmdb = write_movielens(tmp_path), write_tmdb(tmp_path)
    with pytest.warns(UserWarning, match="malformed TMDB values"):
        data = load_movielens_100k(folder, tmdb_root=tmdb)
    assert data.item_text["title"][0] == "Toy Story (1995)"
    assert data.item_text["overview"] == ["Woody and Buzz.", "James Bond, again.", ""]
    assert data.item_text["tagline"] == ["", "No limits.", ""]
    assert data.item_images == [str(tmdb / "posters" / "1.jpg"), None, None]
    meta = data.item_meta
    assert meta["tmdb_id"].tolist()[:2] == [862, 710] and pd.isna(meta["tmdb_id"][2])
    assert meta["tmdb_genres"].tolist() == [["Animation", "Comedy"], [], []]
    assert meta["tmdb_production_companies"][0] == ["Pixar"]
    assert meta["tmdb_collection"].tolist() == ["Toy Story Collection", "", ""]
    assert meta["tmdb_runtime"].tolist()[:2] == [81.0, 130.0]
    assert meta["tmdb_year"].tolist()[:2] == [1995, 1995]
    assert meta.attrs["malformed"] == {"genres": 1}


def test_movielens_default_roots_and_disabling_tmdb(tmp_path, monkeypatch):
    monkeypatch.setenv("MMREC_DATA", str(tmp_path))
    write_movielens(tmp_path)
    write_tmdb(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert "overview" in load_movielens_100k().item_text
    assert "overview" not in load_movielens_100k(tmdb_root=False).item_text
    assert load_movielens_100k(posters=False, tmdb_root=False).item_images is None


def test_loaders_never_modify_their_files(tmp_path):
    folder, tmdb = write_movielens(tmp_path), write_tmdb(tmp_path)
    before = digest(tmp_path)
    for path in tmp_path.rglob("*"):
        path.chmod(0o555 if path.is_dir() else 0o444)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            load_movielens_100k(folder, tmdb_root=tmdb)
    finally:
        for path in tmp_path.rglob("*"):
            path.chmod(0o755 if path.is_dir() else 0o644)
    assert digest(tmp_path) == before


@pytest.mark.parametrize("ratings, message", [
    ("1\t1\t5\t100\n1\tabc\t3\t200\n", r"u.data, line 2: field 'item' is not an integer: 'abc'"),
    ("1\t1\t5\t100\n1\t2\t3\n", r"u.data, line 2: expected 4 fields, found 3"),
    ("1\t1\t5\t100\n2\t1\t4\t150\n1\t2\t3\t200\t9\n", r"u.data, line 3: expected 4 fields, found 5"),
    ("1\t1\t5\t100\n1\t2\t7\t200\n", r"u.data, line 2: rating 7.0 outside 1..5"),
    ("1\t1\t5\t100\n1\t2\t3\t200\n2\t2\t3\t200\n1\t1\t4\t300\n", r"u.data, line 4: duplicate interaction .*u.data, line 1;"),
    ("1\t1\t5\t100\n1\t9\t3\t200\n", r"u.data, line 2: item id 9 is not in the item catalogue"),
    ("1\t1\t5\t100\n7\t2\t3\t200\n", r"u.data, line 2: user id 7 is not in the user catalogue"),
    ("", r"u.data: no data rows|u.data: could not be parsed"),
])
def test_movielens_bad_ratings_name_file_and_line(tmp_path, ratings, message):
    folder = write_movielens(tmp_path, ratings)
    with pytest.raises(DataError, match=message):
        load_movielens_100k(folder, tmdb_root=False)


def test_duplicates_keep_last(tmp_path):
    folder = write_movielens(tmp_path, "1\t1\t5\t100\n1\t2\t3\t200\n1\t1\t2\t300\n")
    data = load_movielens_100k(folder, tmdb_root=False, duplicates="keep-last")
    assert data.interactions.item.tolist() == [1, 0]
    assert data.interactions.rating.tolist() == [3.0, 2.0]
    assert data.interactions.timestamp.tolist() == [200, 300]
    with pytest.raises(ValueError, match="duplicates"):
        load_movielens_100k(folder, tmdb_root=False, duplicates="keep-first")


def test_movielens_missing_files(tmp_path):
    with pytest.raises(DataError, match="ensure_movielens_100k"):
        load_movielens_100k(tmp_path / "nowhere")
    folder = write_movielens(tmp_path)
    (folder / "u.genre").unlink()
    with pytest.raises(DataError, match="u.genre"):
        load_movielens_100k(folder, tmdb_root=False)
    with pytest.raises(DataError, match="TMDB folder not found"):
        load_movielens_100k(write_movielens(tmp_path / "b"), tmdb_root=tmp_path / "no-tmdb")


def test_movielens_bad_item_file(tmp_path):
    folder = write_movielens(tmp_path)
    (folder / "u.item").write_text("1|Toy Story (1995)|01-Jan-1995||u|0|0|1\n2|GoldenEye|32-Foo-1995||u|0|1|0\n"
                                   "3|X|||u|1|0|0\n")
    with pytest.raises(DataError, match=r"u.item, line 2: field 'release_date'"):
        load_movielens_100k(folder, tmdb_root=False)
    (folder / "u.item").write_text("1|Toy Story|||u|0|0|2\n2|G|||u|0|1|0\n3|X|||u|1|0|0\n")
    with pytest.raises(DataError, match=r"u.item, line 1: genre flags must be 0 or 1"):
        load_movielens_100k(folder, tmdb_root=False)


# ---------------------------------------------------------------------------------------------
# The Movies Dataset (all five Kaggle files, with the real file's kinds of malformed rows)

METADATA_TEXT = (
    ",".join(METADATA_COLUMNS) + "\n"
    "False,,0,\"[{'id': 10749, 'name': 'Romance'}, {'id': 35, 'name': 'Comedy'}]\",,15602,tt0113228,en,"
    "Grumpier Old Men,A family wedding reignites a feud.,11.7,/p.jpg,[],[],1995-12-22,0,101.0,[],Released,"
    "Still Yelling.,Grumpier Old Men,False,6.5,92\n"
    # shifted row as in the real file: a date lands in the id column
    "- Written by Ørnås,0.065736,/ff9qCepilowshEtG2GYWwzt2bs4.jpg,"
    "\"[{'name': 'Carousel Productions', 'id': 11176}]\",[],1997-08-20,0,104.0,[],Released,,1,,,,,,,,,,,,\n"
    # a row with too many fields
    "False,,0,[],,99,tt1,en,X,o,1,/x.jpg,[],[],2000-01-01,0,90,[],Released,,X,False,5,1,extra,fields\n"
    "False,,0,\"[{'id': 18, 'name': 'Drama'}]\",,3086,tt0033563,en,Dumbo,\"A baby elephant,\nwith big ears.\","
    "5.0,/d.jpg,[],[],1941-10-22,0,64.0,[],Released,,Dumbo,False,6.8,1206\n"
    # repeated id: the first row wins
    "False,,0,[],,15602,tt0113228,en,DUPLICATE,dup,1,/p.jpg,[],[],1995-12-22,0,101.0,[],Released,,DUPLICATE,"
    "False,6.5,92\n"
)


def write_movies_dataset(root: Path) -> Path:
    folder = root / "the-movies-dataset"
    folder.mkdir(parents=True)
    (folder / "ratings_small.csv").write_text(
        "userId,movieId,rating,timestamp\n1,31,2.5,1260759144\n1,1029,3.0,1260759179\n"
        "2,31,4.5,1260759200\n2,1061,0.5,1260759300\n3,9999,5.0,1260759400\n")
    (folder / "links_small.csv").write_text("movieId,imdbId,tmdbId\n31,113228,15602\n1029,33563,3086\n1061,117665,\n")
    (folder / "movies_metadata.csv").write_text(METADATA_TEXT, encoding="utf-8")
    (folder / "keywords.csv").write_text(
        "id,keywords\n15602,\"[{'id': 1495, 'name': 'fishing'}, {'id': 12392, 'name': 'best friend'}]\"\n"
        "3086,\"[{'id': 1, 'name': 'circus'}\"\nabc,[]\n")
    cast = ("[{'cast_id': 2, 'name': 'Walter Matthau', 'order': 1}, {'cast_id': 1, 'name': 'Jack Lemmon', 'order': 0},"
            " {'cast_id': 3, 'name': 'Ann-Margret', 'order': 2}]")
    crew = "[{'job': 'Director', 'name': 'Howard Deutch'}, {'job': 'Producer', 'name': 'Someone'}]"
    pd.DataFrame({"cast": [cast, "[]"], "crew": [crew, "[]"], "id": [15602, 3086]}).to_csv(
        folder / "credits.csv", index=False)
    return folder


def test_movies_dataset_joins_all_files_and_skips_malformed_rows(tmp_path):
    folder = write_movies_dataset(tmp_path)
    with pytest.warns(UserWarning) as caught:
        data = load_movies_dataset(folder, cast_top=2)
    assert any("skipped 2 malformed row(s)" in str(w.message) for w in caught)
    assert data.item_ids.tolist() == [31, 1029, 1061, 9999]
    assert (data.n_users, len(data.interactions)) == (3, 5)
    assert data.interactions.rating.tolist() == [2.5, 3.0, 4.5, 0.5, 5.0]
    text = data.item_text
    assert text["title"] == ["Grumpier Old Men", "Dumbo", "", ""]
    assert text["overview"] == ["A family wedding reignites a feud.", "A baby elephant,\nwith big ears.", "", ""]
    assert text["tagline"] == ["Still Yelling.", "", "", ""]
    assert text["keywords"] == ["fishing, best friend", "", "", ""]
    assert text["cast"] == ["Jack Lemmon, Walter Matthau", "", "", ""]
    assert text["director"] == ["Howard Deutch", "", "", ""]
    assert data.item_categories == [["Romance", "Comedy"], ["Drama"], [], []]
    meta = data.item_meta
    assert meta["tmdb_id"].tolist()[:2] == [15602, 3086] and meta["tmdb_id"][2:].isna().all()
    assert meta["runtime"].tolist()[:2] == [101.0, 64.0]
    assert meta.attrs["skipped_rows"] == {"movies_metadata.csv": 2, "keywords.csv": 1, "credits.csv": 0}
    assert meta.attrs["malformed"] == {"keywords": 1}


def test_movies_dataset_ratings_only_and_missing(tmp_path):
    folder = write_movies_dataset(tmp_path)
    for name in ("movies_metadata.csv", "keywords.csv", "credits.csv", "links_small.csv"):
        (folder / name).unlink()
    data = load_movies_dataset(folder)
    assert data.item_text is None and data.item_meta["movie_id"].tolist() == [31, 1029, 1061, 9999]
    with pytest.raises(DataError, match=r"kaggle.com/datasets/rounakbanik/the-movies-dataset.*ratings_small.csv"):
        load_movies_dataset(tmp_path / "empty")
    (folder / "ratings_small.csv").write_text("userId,movieId,score,timestamp\n1,2,3.0,4\n")
    with pytest.raises(DataError, match=r"missing column\(s\) \['rating'\]"):
        load_movies_dataset(folder)
    (folder / "ratings_small.csv").write_text("userId,movieId,rating,timestamp\n1,2,3.0,4\n1,3,5.5,5\n")
    with pytest.raises(DataError, match=r"ratings_small.csv, line 3: rating 5.5 outside 0.5..5"):
        load_movies_dataset(folder)


# ---------------------------------------------------------------------------------------------
# Amazon 2014

REVIEWS = [
    {"reviewerID": "A2", "asin": "B001", "reviewText": "Great strings.", "overall": 5.0, "summary": "good",
     "unixReviewTime": 1393545600},
    {"reviewerID": "A1", "asin": "B001", "reviewText": "Fine.", "overall": 3.0, "summary": "ok",
     "unixReviewTime": 1363392000},
    {"reviewerID": "A1", "asin": "B002", "reviewText": "Broke fast.", "overall": 1.0, "summary": "bad",
     "unixReviewTime": 1373392000},
]
META_LINES = [
    "{'asin': 'B002', 'title': 'Capo', 'imUrl': 'http://img/b002.jpg', "
    "'categories': [['Musical Instruments', 'Accessories', 'Capos']], 'price': 9.99}",
    json.dumps({"asin": "B001", "description": "Nickel strings", "title": "Strings",
                "categories": [["Musical Instruments", "Strings"], ["Musical Instruments", "Guitar"]]}),
    "{'asin': 'B999', 'title': 'not reviewed'}",
]


def write_gz(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
    return path


def test_amazon_reviews_and_python_literal_metadata(tmp_path):
    write_gz(tmp_path / "reviews_Musical_Instruments_5.json.gz", [json.dumps(r) for r in REVIEWS])
    write_gz(tmp_path / "meta_Musical_Instruments.json.gz", META_LINES)
    data = load_amazon_2014("Musical_Instruments", root=tmp_path)
    assert data.name == "amazon-Musical_Instruments"
    assert data.user_ids.tolist() == ["A1", "A2"] and data.item_ids.tolist() == ["B001", "B002"]
    assert data.interactions.user.tolist() == [1, 0, 0] and data.interactions.item.tolist() == [0, 0, 1]
    assert data.interactions.timestamp.tolist() == [1393545600, 1363392000, 1373392000]
    assert data.reviews[["user", "item", "text", "rating"]].values.tolist() == [
        [1, 0, "Great strings.", 5.0], [0, 0, "Fine.", 3.0], [0, 1, "Broke fast.", 1.0]]
    assert data.item_text == {"title": ["Strings", "Capo"], "description": ["Nickel strings", ""]}
    assert data.item_categories == [["Musical Instruments", "Strings", "Guitar"],
                                    ["Musical Instruments", "Accessories", "Capos"]]
    assert data.item_images == [None, "http://img/b002.jpg"]
    assert data.item_meta["price"].tolist()[1] == 9.99


def test_amazon_without_metadata_and_bad_lines(tmp_path):
    reviews = write_gz(tmp_path / "reviews_Toys_5.json.gz", [json.dumps(r) for r in REVIEWS])
    data = load_amazon_2014("Toys", root=tmp_path)
    assert data.item_text is None and data.item_meta["asin"].tolist() == ["B001", "B002"]
    write_gz(reviews, [json.dumps(REVIEWS[0]), "", '{"reviewerID": "A1", "asin": "B002", "overall": 4.0'])
    with pytest.raises(DataError, match=r"reviews_Toys_5.json.gz, line 3: malformed JSON"):
        load_amazon_2014("Toys", root=tmp_path)
    write_gz(reviews, [json.dumps(REVIEWS[0]), json.dumps({"reviewerID": "A1", "overall": 4.0})])
    with pytest.raises(DataError, match=r"line 2: missing field 'asin'"):
        load_amazon_2014("Toys", root=tmp_path)
    write_gz(reviews, [json.dumps(REVIEWS[0]), json.dumps({**REVIEWS[1], "overall": "five"})])
    with pytest.raises(DataError, match=r"line 2: rating 'five' is not a finite number"):
        load_amazon_2014("Toys", root=tmp_path)
    write_gz(reviews, [json.dumps(r) for r in REVIEWS])
    write_gz(tmp_path / "meta.json.gz", [META_LINES[0], "{'asin': 'B001', 'title': oops}"])
    with pytest.raises(DataError, match=r"meta.json.gz, line 2: malformed JSON"):
        load_amazon_2014("Toys", root=tmp_path, meta_path=tmp_path / "meta.json.gz")
    with pytest.raises(DataError, match=r"ensure_amazon_2014\('Books'\)"):
        load_amazon_2014("Books", root=tmp_path)


# ---------------------------------------------------------------------------------------------
# MMRec folders

def write_mmrec(root: Path, lines: list[str], n_items: int = 3) -> Path:
    folder = root / "toy"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "toy.inter").write_text("userID\titemID\trating\ttimestamp\tx_label\n" + "\n".join(lines) + "\n")
    np.save(folder / "text_feat.npy", np.arange(n_items * 4, dtype=np.float32).reshape(n_items, 4))
    np.save(folder / "image_feat.npy", np.ones((n_items, 2), dtype=np.float32))
    return folder


def test_mmrec_keeps_split_and_features(tmp_path):
    write_mmrec(tmp_path, ["0\t0\t5\t10\t0", "0\t1\t4\t11\t0", "1\t2\t3\t12\t1", "1\t0\t2\t13\t2", "2\t1\t5\t14\t0"])
    with pytest.warns(ColdStartWarning, match="user\\(s\\) without training interactions"):  # user 1: valid/test only
        data = load_mmrec("toy", root=tmp_path)
    assert (data.n_users, data.n_items) == (3, 3)
    assert data.user_ids.tolist() == [0, 1, 2] and data.item_ids.tolist() == [0, 1, 2]
    assert data.train.item.tolist() == [0, 1, 1] and data.valid.user.tolist() == [1]
    assert data.test.item.tolist() == [0] and data.test.timestamp.tolist() == [13]
    assert torch.equal(data.features["text"], torch.arange(12.0).reshape(3, 4))
    assert data.features["image"].shape == (3, 2) and not data.implicit


def test_mmrec_rejects_bad_folders(tmp_path):
    folder = write_mmrec(tmp_path, ["0\t0\t5\t10\t0", "1\t1\t4\t11\t3"])
    with pytest.raises(DataError, match=r"toy.inter, line 3: x_label must be 0, 1 or 2"):
        load_mmrec("toy", root=tmp_path)
    write_mmrec(tmp_path, ["0\t0\t5\t10\t0", "1\t1\t4\t11\t1"], n_items=3)
    with pytest.raises(DataError, match=r"text_feat.npy: .*shape \(3, 4\); expected \[2, d\]"), \
            pytest.warns(ColdStartWarning):                              # user 1 has no training row
        load_mmrec("toy", root=tmp_path)
    write_mmrec(tmp_path, ["0\t0\t5\t10\t0", "1\t1\t4\t11\t1"], n_items=2)
    np.save(folder / "image_feat.npy", np.array([[1.0], [np.nan]], dtype=np.float32))
    with pytest.raises(DataError, match=r"image_feat.npy: .*NaN"), pytest.warns(ColdStartWarning):
        load_mmrec("toy", root=tmp_path)
    (folder / "toy.inter").write_text("user\titemID\tx_label\n0\t0\t0\n")
    with pytest.raises(DataError, match=r"missing column\(s\) \['userID'\]"):
        load_mmrec("toy", root=tmp_path)
    with pytest.raises(DataError, match=r"nope.inter"):
        load_mmrec("nope", root=tmp_path)


# ---------------------------------------------------------------------------------------------
# from_dataframe

def test_from_dataframe_densifies_sorted_raw_ids():
    frame = pd.DataFrame({"u": ["bob", "al", "bob"], "i": [30, 10, 10], "r": [1.0, 2.0, 3.0], "t": [3, 2, 1]})
    data = from_dataframe(frame, user="u", item="i", rating="r", timestamp="t", name="toy")
    assert data.user_ids.tolist() == ["al", "bob"] and data.item_ids.tolist() == [10, 30]
    assert data.interactions.user.tolist() == [1, 0, 1] and data.interactions.item.tolist() == [1, 0, 0]
    assert data.interactions.timestamp.tolist() == [3, 2, 1] and not data.implicit
    implicit = from_dataframe(frame, user="u", item="i")
    assert implicit.implicit and implicit.interactions.rating.tolist() == [1.0, 1.0, 1.0]


def test_from_dataframe_bad_input():
    frame = pd.DataFrame({"user": [1, 1, 2], "item": [5, 5, 6]}, index=[10, 11, 12])
    with pytest.raises(DataError, match=r"DataFrame row 11: duplicate interaction .* DataFrame row 10"):
        from_dataframe(frame)
    with pytest.raises(DataError, match=r"lacks column\(s\) \['rating'\]"):
        from_dataframe(frame, rating="rating")
    with pytest.raises(DataError, match="no interactions"):
        from_dataframe(frame.iloc[:0])
    with pytest.raises(DataError, match=r"DataFrame row 1: rating nan is not a finite number"):
        from_dataframe(pd.DataFrame({"user": [1, 2], "item": [1, 1], "r": [1.0, np.nan]}), rating="r")
    with pytest.raises(DataError, match=r"DataFrame row 0: rating 'five' is not a finite number"):
        from_dataframe(pd.DataFrame({"user": [1, 2], "item": [1, 1], "r": ["five", 2.0]}), rating="r")
    with pytest.raises(DataError, match=r"row 1: empty user id"):
        from_dataframe(pd.DataFrame({"user": ["a", None], "item": [1, 1]}))



# ---------------------------------------------------------------------------------------------
# load_dataset

def test_load_dataset_synthetic_and_splits():
    data = load_dataset("synthetic", profile="smoke", seed=0)
    assert (data.n_users, data.n_items) == (300, 200) and data.splits is not None
    assert len(data.train) + len(data.valid) + len(data.test) == len(data.interactions)
    loo = load_dataset("synthetic", seed=0, split="loo")
    eligible = int((loo.user_degree("all") >= 3).sum())
    assert len(loo.test) == len(loo.valid) == eligible
    with pytest.raises(ValueError, match="unknown dataset"):
        load_dataset("netflix")
    with pytest.raises(ValueError, match="unknown split"):
        load_dataset("synthetic", split="by-vibes")


def test_load_dataset_auto_falls_back_to_synthetic_with_a_banner(empty_cache, capsys):
    data = load_dataset("auto", seed=0)
    assert data.name == "synthetic" and "DATASET: synthetic" in capsys.readouterr().out
    write_movielens(empty_cache)
    data = load_dataset("auto", seed=0)
    assert data.name == "ml-100k" and "real MovieLens-100K" in capsys.readouterr().out


def test_load_dataset_real_names_offline(empty_cache):
    with pytest.raises(DataError, match=r"ml-100k.zip .*offline"):
        load_dataset("ml-100k")
    with pytest.raises(DataError, match="kaggle.com"):
        load_dataset("movies")
    write_movies_dataset(empty_cache)
    with pytest.warns(UserWarning):
        assert load_dataset("movies").n_items == 4
    write_mmrec(empty_cache / "mmrec", ["0\t0\t5\t10\t0", "0\t1\t4\t11\t1", "1\t1\t3\t12\t2"], n_items=2)
    with pytest.warns(ColdStartWarning, match="the test split has 1 user"):   # MMRec's own split is kept:
        data = load_dataset("mmrec-toy", split="temporal")                   # user 1 is in test only
    assert data.test.user.tolist() == [1] and data.valid.item.tolist() == [1]  # MMRec's own split is kept


def test_title_agreement_flags_wrong_tmdb_links():
    from mmrec_lite.data.movielens import title_agreement

    scores = title_agreement(["Mask, The (1994)", "Mask, The (1994)", "Hana-bi (1997)", "Nobody (2000)"],
                             ["The Mask", "Pulp Fiction", "Fireworks", None],
                             ["The Mask", "Pulp Fiction", "Hana-bi", None])
    assert scores[0] == 1.0 and scores[2] == 1.0  # article moved, original title accepted
    assert scores[1] < 0.5                        # a wrong link is flagged
    assert np.isnan(scores[3])                     # no TMDB row: unknown, not a mismatch
