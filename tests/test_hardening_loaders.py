"""Loaders against hostile but fair input: official-file checksums, bad bytes and values that used
to escape as raw pandas/json/NumPy errors or wrap silently, phantom ids, cold-start users and the
feature cache's validation. Each class is tried with several inputs."""
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

from mmrec_lite.data import (DataError, from_dataframe, load_amazon_2014, load_mmrec, load_movielens_100k,
                             load_movies_dataset, split_random, split_temporal)
from mmrec_lite.data import checksums
from mmrec_lite.data.frame import dense_interactions
from mmrec_lite.data.recdata import ColdStartWarning
from mmrec_lite.data.safe_io import int64_values
from mmrec_lite.features import FeatureCache

RATINGS = "".join(f"{u}\t{i}\t{(u + i) % 5 + 1}\t{100 * u + i}\n" for u in (1, 2, 3) for i in (1, 2, 3))


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_movielens(root: Path, ratings: str = RATINGS) -> Path:
    folder = root / "ml-100k"
    folder.mkdir(parents=True)
    (folder / "u.genre").write_text("unknown|0\nAction|1\n\n")
    (folder / "u.item").write_bytes(b"1|A (1995)|01-Jan-1995||u|0|1\n2|B (1995)|||u|1|0\n3|C (1996)|||u|0|1\n")
    (folder / "u.data").write_text(ratings)
    return folder


@pytest.fixture
def pinned_fixture(tmp_path, monkeypatch):
    """An ml-100k fixture whose u.data/u.item hashes are pinned as if they were the official ones."""
    monkeypatch.delenv("MMREC_VERIFY", raising=False)
    folder = write_movielens(tmp_path)
    monkeypatch.delitem(checksums.OFFICIAL_FILES["ml-100k"], "u.genre")
    for name in ("u.data", "u.item"):
        monkeypatch.setitem(checksums.ML100K_SHA256, name, sha((folder / name).read_bytes()))
    monkeypatch.setitem(checksums._ML100K_LINES, "u.data", 9)
    return folder


# ---- item 4 and 10: official files are verified wherever they are found ------------------------

@pytest.mark.parametrize("edit, lines", [
    (lambda text: text[: len(text) // 2].rsplit("\n", 1)[0] + "\n", "4 lines, the official file 9"),  # cut at a line
    (lambda text: text.replace("1\t1\t3", "1\t1\t4", 1), "9 lines, the official file 9"),   # one rating changed
    (lambda text: text + "\n", "10 lines, the official file 9"),                                # a blank line appended
])
def test_modified_official_file_is_refused_with_both_hashes(pinned_fixture, monkeypatch, edit, lines):
    assert load_movielens_100k(pinned_fixture, tmdb_root=False).summary()["interactions"] == 9
    path = pinned_fixture / "u.data"
    expected = checksums.ML100K_SHA256["u.data"]
    path.write_text(edit(path.read_text()))
    with pytest.raises(DataError) as caught:
        load_movielens_100k(pinned_fixture, tmdb_root=False)
    message = str(caught.value)
    assert str(path) in message and expected in message and sha(path.read_bytes()) in message
    assert lines in message and "verify=False" in message and "MMREC_VERIFY=0" in message
    assert len(load_movielens_100k(pinned_fixture, tmdb_root=False, verify=False).interactions) > 0
    monkeypatch.setenv("MMREC_VERIFY", "0")
    assert len(load_movielens_100k(pinned_fixture, tmdb_root=False).interactions) > 0


def test_every_dataset_with_known_hashes_is_checked(tmp_path, monkeypatch):
    monkeypatch.delenv("MMREC_VERIFY", raising=False)
    movies = tmp_path / "the-movies-dataset"
    movies.mkdir()
    (movies / "ratings_small.csv").write_text("userId,movieId,rating,timestamp\n1,1,4.0,10\n")
    with pytest.raises(DataError, match=r"ratings_small.csv is not the official the-movies-dataset file.*"
                                        r"821795331fd9.*2 lines, the official file 100,005"):
        load_movies_dataset(movies)
    assert len(load_movies_dataset(movies, verify=False).interactions) == 1
    amazon = tmp_path / "amazon"
    amazon.mkdir()
    with gzip.open(amazon / "reviews_Musical_Instruments_5.json.gz", "wt") as handle:
        handle.write(json.dumps({"reviewerID": "u", "asin": "i", "overall": 5.0, "unixReviewTime": 1}) + "\n")
    with pytest.raises(DataError, match=r"reviews_Musical_Instruments_5.json.gz is not the official.*08c80fd5.*"
                                        r"1 lines, the official file 10,261"):
        load_amazon_2014(root=amazon)
    assert len(load_amazon_2014(root=amazon, verify=False).interactions) == 1
    assert checksums.OFFICIAL_FILES["ml-100k-tmdb"]["item_features.csv"].sha256.startswith("fcbb6896")
    assert checksums.OFFICIAL_FILES["amazon-2018-5core"]["All_Beauty_5.json.gz"].sha256.startswith("8e49737f")


@pytest.mark.realdata
def test_real_files_pass_and_a_half_copy_fails(shared_data, tmp_path, monkeypatch):
    monkeypatch.delenv("MMREC_VERIFY", raising=False)
    with pytest.warns(UserWarning, match="36 movies link to a TMDB entry"):       # the release's known mislinks
        data = load_movielens_100k(shared_data / "ml-100k", tmdb_root=shared_data / "ml-100k-tmdb", posters=False)
    assert len(data.interactions) == 100_000
    copy = tmp_path / "ml-100k"
    copy.mkdir()
    for name in ("u.item", "u.genre", "u.user"):
        (copy / name).write_bytes((shared_data / "ml-100k" / name).read_bytes())
    lines = (shared_data / "ml-100k" / "u.data").read_bytes().splitlines(keepends=True)
    (copy / "u.data").write_bytes(b"".join(lines[:50_000]))
    with pytest.raises(DataError, match=r"u.data is not the official ml-100k file.*expected 06416e59.*"
                                        r"50,000 lines, the official file 100,000"):
        load_movielens_100k(copy, tmdb_root=False)
    assert len(load_movielens_100k(copy, tmdb_root=False, verify=False).interactions) == 50_000


# ---- item 8: bad bytes and values give DataError naming file, line and field --------------------

ML_TMDB_HEADER = "id,title,overview,movie_id,tmdb_id\n"


@pytest.mark.parametrize("content, message", [
    (b"", r"item_features.csv: empty file"),
    (ML_TMDB_HEADER.encode() + b'862,Toy Story,"Woody and\n', r"item_features.csv, line 2: cannot be parsed"),
    (ML_TMDB_HEADER.encode() + "862,Toy Story,caf\xe9,1,862\n".encode("latin-1"),
     r"item_features.csv, line 2, byte 18: not valid UTF-8"),
    ("id,titl\xe9\n".encode("latin-1"), r"item_features.csv, line 1, byte 8: not valid UTF-8"),
])
def test_bad_tmdb_item_features(tmp_path, monkeypatch, content, message):
    monkeypatch.setenv("MMREC_VERIFY", "0")
    folder = write_movielens(tmp_path)
    tmdb = tmp_path / "ml-100k-tmdb"
    tmdb.mkdir()
    (tmdb / "links.csv").write_text("movie_id,imdb_id,tmdb_id\n1,tt1,862\n2,,\n3,,\n")
    (tmdb / "item_features.csv").write_bytes(content)
    with pytest.raises(DataError, match=message):
        load_movielens_100k(folder, tmdb_root=tmdb)


def test_utf8_bom_is_accepted_by_every_reader(tmp_path, monkeypatch):
    monkeypatch.setenv("MMREC_VERIFY", "0")
    bom = b"\xef\xbb\xbf"
    folder = write_movielens(tmp_path)
    (folder / "u.data").write_bytes(bom + RATINGS.encode())
    tmdb = tmp_path / "ml-100k-tmdb"
    tmdb.mkdir()
    (tmdb / "links.csv").write_bytes(bom + b"movie_id,imdb_id,tmdb_id\n1,tt1,862\n2,,\n3,,\n")
    (tmdb / "item_features.csv").write_bytes(bom + ML_TMDB_HEADER.encode() + b"862,Toy Story,Woody.,1,862\n")
    with pytest.warns(UserWarning, match="1 movies link to a TMDB entry whose title differs"):  # the fixture's titles
        data = load_movielens_100k(folder, tmdb_root=tmdb, posters=False)
    assert data.user_ids.tolist() == [1, 2, 3] and data.item_text["overview"][0] == "Woody."
    movies = tmp_path / "movies"
    movies.mkdir()
    (movies / "ratings_small.csv").write_bytes(bom + b"userId,movieId,rating,timestamp\n1,1,4.5,10\n")
    assert load_movies_dataset(movies).interactions.rating.tolist() == [4.5]
    with gzip.open(tmp_path / "reviews_X_5.json.gz", "wb") as handle:
        handle.write(bom + b'{"reviewerID": "u", "asin": "i", "overall": 4.0, "unixReviewTime": 5}\n')
    assert load_amazon_2014("X", root=tmp_path).interactions.timestamp.tolist() == [5]
    (tmp_path / "toy").mkdir()
    (tmp_path / "toy" / "toy.inter").write_bytes(bom + b"userID\titemID\tx_label\n0\t0\t0\n0\t1\t2\n")
    assert load_mmrec("toy", root=tmp_path).n_items == 2


@pytest.mark.parametrize("header", ["userId,movi\xe9Id,rating,timestamp\n", "\xffuserId,movieId,rating,timestamp\n"])
def test_latin1_byte_in_a_csv_header(tmp_path, header):
    (tmp_path / "ratings_small.csv").write_bytes(header.encode("latin-1") + b"1,1,4.0,10\n")
    with pytest.raises(DataError, match=r"ratings_small.csv, line 1, byte \d+: not valid UTF-8"):
        load_movies_dataset(tmp_path, verify=False)


@pytest.mark.parametrize("value", ["9223372036854775808", "18446744073709551616", "-9223372036854775809",
                                   "1" + "0" * 40])
def test_ids_beyond_int64_name_the_line(tmp_path, value):
    folder = write_movielens(tmp_path, RATINGS + f"{value}\t1\t3\t5\n")
    with pytest.raises(DataError, match=r"u.data, line 10: field 'user' does not fit in 64 bits"):
        load_movielens_100k(folder, tmdb_root=False, verify=False)
    (tmp_path / "toy").mkdir()
    (tmp_path / "toy" / "toy.inter").write_text(f"userID\titemID\tx_label\n0\t0\t0\n0\t{value}\t2\n")
    with pytest.raises(DataError, match=r"toy.inter, line 3: field 'itemID' does not fit in 64 bits"):
        load_mmrec("toy", root=tmp_path)


@pytest.mark.parametrize("line", ['{"a": ' * 100_000 + "1" + "}" * 100_000, "[" * 100_000, '{"x": [' * 50_000])
def test_deeply_nested_amazon_line(tmp_path, line):
    with gzip.open(tmp_path / "reviews_X_5.json.gz", "wt") as handle:
        handle.write('{"reviewerID": "u", "asin": "i", "overall": 4.0, "unixReviewTime": 5}\n' + line + "\n")
    with pytest.raises(DataError, match=r"reviews_X_5.json.gz, line 2: nested too deeply|line 2: expected an object"):
        load_amazon_2014("X", root=tmp_path)


@pytest.mark.parametrize("frame, message", [
    (pd.DataFrame({"user": [1, 2], "item": [1, 2], "t": pd.array([5, pd.NA], dtype="Int64")}),
     r"row 1: field 't' nan is not a whole-number timestamp"),
    (pd.DataFrame({"user": [[1], [2]], "item": [1, 2], "t": [1, 2]}), r"row 0: id \[1\] in column 'user' is a list"),
    (pd.DataFrame({"user": [1, 2], "item": [{"a": 1}, 2], "t": [1, 2]}), r"row 0: id \{'a': 1\} in column 'item'"),
    (pd.DataFrame({"user": [1.0, 1.5], "item": [1, 2], "t": [1, 2]}), r"row 1: field 'user' 1.5 is not a whole"),
    (pd.DataFrame({"user": [1.0, np.nan], "item": [1, 2], "t": [1, 2]}), r"row 1: empty user id"),
    (pd.DataFrame({"user": [1, 2], "item": [1e30, 2.0], "t": [1, 2]}), r"row 0: field 'item' 1e\+30 does not fit"),
    (pd.DataFrame({"user": ["a", 2], "item": [1, 2], "t": [1, 2]}), r"row 1: column 'user' mixes string and integer"),
    (pd.DataFrame({"user": np.array([2 ** 63, 1], dtype=np.uint64), "item": [1, 2], "t": [1, 2]}),
     r"row 0: field 'user' 9223372036854775808 does not fit in 64 bits"),
    (pd.DataFrame({"user": [True, False], "item": [1, 2], "t": [1, 2]}), r"holds booleans"),
])
def test_dataframe_ids_and_timestamps(frame, message):
    with pytest.raises(DataError, match=message):
        from_dataframe(frame, timestamp="t")


def test_whole_float_ids_are_kept_exactly():
    data = from_dataframe(pd.DataFrame({"user": [3.0, 1.0], "item": [2.0, 2.0]}))
    assert data.user_ids.tolist() == [1, 3] and data.user_ids.dtype == np.int64


# ---- item 9: no silent overflow, no phantom entities --------------------------------------------

@pytest.mark.parametrize("stamp", ["1e30", "-1e30", "9.3e18", "inf"])
def test_timestamps_beyond_int64_are_refused(tmp_path, stamp):
    with gzip.open(tmp_path / "reviews_X_5.json.gz", "wt") as handle:
        handle.write('{"reviewerID": "u", "asin": "i", "overall": 4.0, "unixReviewTime": 5}\n')
        handle.write('{"reviewerID": "v", "asin": "i", "overall": 4.0, "unixReviewTime": "%s"}\n' % stamp)
    with pytest.raises(DataError, match=r"reviews_X_5.json.gz, line 2: field 'unixReviewTime'"):
        load_amazon_2014("X", root=tmp_path)
    (tmp_path / "toy").mkdir(exist_ok=True)
    (tmp_path / "toy" / "toy.inter").write_text(f"userID\titemID\tx_label\ttimestamp\n0\t0\t0\t5\n0\t1\t2\t{stamp}\n")
    with pytest.raises(DataError, match=r"toy.inter, line 3: field 'timestamp'"):
        load_mmrec("toy", root=tmp_path)


@pytest.mark.parametrize("item", [10 ** 6, 10 ** 12, 500])
def test_mmrec_far_id_is_not_a_catalogue_of_phantoms(tmp_path, item):
    rows = "".join(f"{u}\t{i}\t{(u + i) % 3}\n" for u in range(20) for i in range(20))
    (tmp_path / "toy").mkdir()
    (tmp_path / "toy" / "toy.inter").write_text(f"userID\titemID\tx_label\n{rows}0\t{item}\t0\n")
    with pytest.raises(DataError, match=rf"toy.inter, line 402: itemID {item} would make {item + 1:,} ids of which "
                                        rf"{item + 1 - 21:,} never occur"):
        load_mmrec("toy", root=tmp_path)
    if item == 500:   # a feature file with that many rows confirms the catalogue
        np.save(tmp_path / "toy" / "text_feat.npy", np.ones((501, 2), np.float32))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ColdStartWarning)
            assert load_mmrec("toy", root=tmp_path).n_items == 501


def test_duplicate_raw_ids_in_a_catalogue():
    frame = pd.DataFrame({"user": [1, 2], "item": [5, 6]})
    for catalogue in ([5, 5, 6], ["a", "b", "a"]):
        with pytest.raises(DataError, match="lists raw id .* more than once"):
            dense_interactions(frame, where=lambda r: f"f, line {r + 1}", item_ids=np.array(catalogue))


def test_constant_rating_column_is_implicit(tmp_path):
    (tmp_path / "toy").mkdir()
    for ratings, implicit in (([1, 1, 1], True), ([5, 5, 5], True), ([1, 2, 1], False)):
        body = "".join(f"{u}\t{i}\t{x}\t{r}\n" for (u, i, x), r in zip([(0, 0, 0), (0, 1, 2), (1, 0, 0)], ratings))
        (tmp_path / "toy" / "toy.inter").write_text("userID\titemID\tx_label\trating\n" + body)
        data = load_mmrec("toy", root=tmp_path)
        assert data.implicit is implicit
        assert data.interactions.rating.tolist() == ([1.0, 1.0, 1.0] if implicit else [1.0, 2.0, 1.0])


def test_cold_start_users_are_listed_and_warned():
    # user 3 interacts only after the global time cut: test-only
    frame = pd.DataFrame({"user": [1, 1, 2, 2, 1, 2, 1, 2, 1, 3], "item": [1, 2, 1, 2, 3, 3, 4, 4, 5, 1],
                          "t": list(range(10))})
    data = from_dataframe(frame, timestamp="t")
    with pytest.warns(ColdStartWarning, match=r"test split has 1 user\(s\) without training.*cold_start_users"):
        split = split_temporal(data, ratios=(0.8, 0.1, 0.1))
    assert split.cold_start_users("test").tolist() == [2]         # dense id of raw user 3
    assert split.cold_start_users("valid").tolist() == []
    assert split.cold_start_items("test").tolist() == []
    with warnings.catch_warnings():
        warnings.simplefilter("error", ColdStartWarning)           # per-user splits never create them
        assert split_random(data, seed=0).cold_start_users("test").tolist() == []


def test_mmrec_test_only_user_is_reported(tmp_path):
    (tmp_path / "toy").mkdir()
    (tmp_path / "toy" / "toy.inter").write_text("userID\titemID\tx_label\n0\t0\t0\n0\t1\t0\n1\t0\t0\n2\t1\t2\n")
    with pytest.warns(ColdStartWarning, match="toy: the test split has 1 user"):
        data = load_mmrec("toy", root=tmp_path)
    assert data.cold_start_users().tolist() == [2]


def test_int64_values_rule():
    where = lambda r: f"row {r}"  # noqa: E731
    assert int64_values(np.array([1.0, -3.0, 2.0 ** 62]), "t", where).tolist() == [1, -3, 2 ** 62]
    for bad in ([2.0 ** 63], [np.nan], [0.5], [-np.inf]):
        with pytest.raises(DataError, match="row 0: field 't'"):
            int64_values(np.array(bad), "t", where)


# ---- item 11: the feature cache validates what it returns ---------------------------------------

@pytest.mark.parametrize("stored, problem", [
    (torch.ones(40, 7), r"shape \(40, 7\), expected \(50, \*\)"),
    (torch.full((50, 7), float("nan")), "NaN or infinite"),
    (torch.ones(50, 7, dtype=torch.int64), "dtype torch.int64"),
    ({"features": torch.ones(50, 7)}, "holds a dict"),
    (torch.ones(50), r"shape \(50,\)"),
])
def test_cache_ignores_values_that_do_not_answer_the_request(tmp_path, stored, problem):
    cache = FeatureCache(tmp_path)
    torch.save(stored, cache.path("k"))
    with pytest.warns(UserWarning, match=f"ignoring feature cache file .*k.pt: .*{problem}.*; recomputing"):
        assert cache.get("k", shape=(50, None)) is None
    good = torch.randn(50, 7)
    cache.put("k", good)
    assert torch.equal(cache.get("k", shape=(50, 7), dtype=torch.float32), good)


def test_unusable_cache_folder_warns_and_runs_uncached(tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a regular file")
    monkeypatch.setenv("MMREC_CACHE", str(blocker))
    cache = FeatureCache()
    assert cache.get("k") is None
    with pytest.warns(UserWarning, match=r"feature cache .*not-a-folder/features is not usable.*running uncached"):
        assert cache.put("k", torch.ones(2, 2)) is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert cache.put("k2", torch.ones(2, 2)) is None    # warned once per cache
    from mmrec_lite.features import encode_images
    images = np.zeros((2, 8, 8, 3), np.uint8)
    with pytest.warns(UserWarning, match="not usable"):
        out = encode_images(images, backend="offline", device="cpu", cache_dir=blocker / "features")
    assert out.shape[0] == 2 and blocker.read_text() == "a regular file"


# ---- audit (H12): classes found open after the first pass -----------------------------------------

def test_in_place_edit_keeping_size_and_mtime_is_hashed_again(pinned_fixture):
    import os
    load_movielens_100k(pinned_fixture, tmdb_root=False)           # verified and memoised
    path = pinned_fixture / "u.data"
    info = path.stat()
    path.write_text(path.read_text().replace("1\t1\t3", "1\t1\t4", 1))   # same size
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns))
    with pytest.raises(DataError, match="u.data is not the official"):
        load_movielens_100k(pinned_fixture, tmdb_root=False)


def test_pinned_line_counts_are_those_of_the_release():
    assert checksums.OFFICIAL_FILES["ml-100k-tmdb"]["links.csv"].lines == 1_682


@pytest.mark.parametrize("value, message", [
    ("9007199254740993.0", r"line 3: field 'itemID' is written as a float beyond 2\*\*53"),
    ("1e17", r"line 3: field 'itemID' is written as a float beyond 2\*\*53"),
    ("1_000", r"line 3: field 'itemID' is not an integer: '1_000'"),
    ("0x1", r"line 3: field 'itemID' is not an integer"),
])
def test_integer_fields_are_exact(tmp_path, value, message):
    (tmp_path / "toy").mkdir()
    (tmp_path / "toy" / "toy.inter").write_text(f"userID\titemID\tx_label\n0\t0\t0\n0\t{value}\t2\n")
    with pytest.raises(DataError, match=message):
        load_mmrec("toy", root=tmp_path)
    (tmp_path / "toy" / "toy.inter").write_text("userID\titemID\tx_label\n0\t0\t0\n0\t1.0\t2\n")
    assert load_mmrec("toy", root=tmp_path).n_items == 2          # a whole float below 2**53 is kept


@pytest.mark.parametrize("value", ["9223372036854775808", "99999999999999999999999", "1e30"])
def test_tmdb_link_beyond_int64(tmp_path, value):
    folder = write_movielens(tmp_path)
    tmdb = tmp_path / "t"
    tmdb.mkdir()
    (tmdb / "links.csv").write_text(f"movie_id,imdb_id,tmdb_id\n1,tt1,{value}\n2,,\n3,,\n")
    (tmdb / "item_features.csv").write_text("id,title\n862,Toy\n")
    with pytest.raises(DataError, match=r"links.csv, line 2: field 'tmdb_id' .* does not fit in 64 bits"):
        load_movielens_100k(folder, tmdb_root=tmdb, verify=False)


def test_bom_in_the_other_readers(tmp_path):
    from mmrec_lite.data import kg_formats
    from mmrec_lite.data.mmrec_meta import read_id_mapping
    bom = b"\xef\xbb\xbf"
    folder = write_movielens(tmp_path / "ml")
    (folder / "u.item").write_bytes(bom + (folder / "u.item").read_bytes())    # Latin-1 file re-saved as UTF-8
    assert load_movielens_100k(folder, tmdb_root=False, verify=False).item_ids.tolist() == [1, 2, 3]
    (tmp_path / "map.csv").write_bytes(bom + b"asin\titemID\nA\t0\nB\t1\n")
    assert read_id_mapping(tmp_path / "map.csv", "asin", "itemID", 2).tolist() == ["A", "B"]
    kd = tmp_path / "kgat"
    kd.mkdir()
    (kd / "train.txt").write_bytes(bom + b"0 0\n1 1\n")
    (kd / "test.txt").write_bytes(bom + b"0 1\n1 0\n")
    (kd / "kg_final.txt").write_bytes(bom + b"0 0 2\n1 0 2\n")
    assert len(kg_formats.load_kgat(kd).interactions) == 4


@pytest.mark.parametrize("stamp", ["1e30", "-1e30", "9.3e18"])
def test_review_loaders_refuse_timestamps_beyond_int64(tmp_path, stamp):
    from mmrec_lite.data.reviews import load_amazon_reviews, load_google_local_reviews
    with gzip.open(tmp_path / "r.json.gz", "wt") as handle:
        handle.write('{"reviewerID": "u", "asin": "i", "overall": 4.0, "unixReviewTime": 5}\n')
        handle.write('{"reviewerID": "v", "asin": "i", "overall": 4.0, "unixReviewTime": %s}\n' % stamp)
    with pytest.raises(DataError, match=r"r.json.gz, line 2: field 'unixReviewTime'"):
        load_amazon_reviews("X", path=tmp_path / "r.json.gz", min_count=0)
    (tmp_path / "g.json").write_text('{"user_id": "u", "gmap_id": "b", "rating": 4, "time": 1000}\n'
                                     '{"user_id": "v", "gmap_id": "b", "rating": 4, "time": %s}\n' % stamp)
    with pytest.raises(DataError, match=r"g.json, line 2: field 'time'"):
        load_google_local_reviews(tmp_path / "g.json", min_count=0)


def test_review_loader_verifies_official_files(tmp_path, monkeypatch):
    from mmrec_lite.data.reviews import load_amazon_reviews
    monkeypatch.delenv("MMREC_VERIFY", raising=False)
    path = tmp_path / "All_Beauty_5.json.gz"
    with gzip.open(path, "wt") as handle:
        handle.write('{"reviewerID": "u", "asin": "i", "overall": 4.0, "unixReviewTime": 5}\n')
    with pytest.raises(DataError, match=r"All_Beauty_5.json.gz is not the official amazon-2018-5core.*8e49737f"):
        load_amazon_reviews("All_Beauty", path=path, min_count=0)
    assert len(load_amazon_reviews("All_Beauty", path=path, min_count=0, verify=False)[0].interactions) == 1


def test_a_folder_named_like_a_data_file_and_an_empty_file(tmp_path):
    folder = write_movielens(tmp_path, "")
    with pytest.raises(DataError, match="u.data: (empty file|no data rows)"):
        load_movielens_100k(folder, tmdb_root=False, verify=False)
    (folder / "u.data").unlink()
    (folder / "u.data").mkdir()
    with pytest.raises(DataError, match="u.data is a folder"):
        load_movielens_100k(folder, tmdb_root=False, verify=False)


def test_time_based_splits_warn_without_timestamps():
    from mmrec_lite.data import split_leave_one_out
    data = from_dataframe(pd.DataFrame({"user": [1, 1, 1, 2, 2, 2], "item": [1, 2, 3, 1, 2, 3]}))
    with pytest.warns(UserWarning, match="timestamp 0 .*input order"):
        split_temporal(data)
    with pytest.warns(UserWarning, match="timestamp 0 .*at random"):
        split_leave_one_out(data)


def test_cache_on_a_read_only_folder_runs_uncached(tmp_path, monkeypatch):
    import mmrec_lite.features.cache as cache_module

    def unwritable(value, path, *args, **kwargs):
        raise RuntimeError(f"File {path} cannot be opened.")   # what torch.save raises there
    monkeypatch.setattr(cache_module.torch, "save", unwritable)
    with pytest.warns(UserWarning, match="not usable .*RuntimeError"):
        assert FeatureCache(tmp_path).put("k", torch.ones(2, 2)) is None


@pytest.mark.parametrize("stored", [torch.ones(40, 164), torch.ones(50, 7), {"x": 1}, torch.full((50, 164), float("nan"))])
def test_image_encoder_never_returns_a_bad_cached_value(tmp_path, stored):
    from mmrec_lite.features import encode_images
    from mmrec_lite.features.cache import content_key
    from mmrec_lite.features.image import OfflineImageEncoder
    images = np.random.default_rng(0).integers(0, 255, (50, 8, 8, 3), dtype=np.uint8)
    good = encode_images(images, backend="offline", device="cpu", cache_dir=tmp_path)
    torch.save(stored, FeatureCache(tmp_path).path(content_key("image", OfflineImageEncoder.version, images)))
    with pytest.warns(UserWarning, match="ignoring feature cache file"):
        assert torch.equal(encode_images(images, backend="offline", device="cpu", cache_dir=tmp_path), good)
