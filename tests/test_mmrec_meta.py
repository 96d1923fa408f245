"""MMRec folders joined with Amazon metadata and reviews: fixture files in the official layouts."""
import gzip
import json

import numpy as np
import pytest

from mmrec_lite.data import DataError
from mmrec_lite.data.mmrec_meta import load_mmrec_with_text
from mmrec_lite.features import item_records, user_histories


def write_gz(path, lines):
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")


@pytest.fixture
def folder(tmp_path):
    """An MMRec folder 'baby' (3 users, 3 items) with its mappings, metadata and reviews."""
    root = tmp_path / "mmrec"
    baby = root / "baby"
    baby.mkdir(parents=True)
    (baby / "baby.inter").write_text("userID\titemID\trating\ttimestamp\tx_label\n"
                                     "0\t0\t5\t10\t0\n0\t1\t4\t11\t0\n1\t1\t3\t12\t0\n1\t2\t5\t13\t1\n"
                                     "2\t2\t4\t14\t0\n2\t0\t2\t15\t2\n")
    np.save(baby / "text_feat.npy", np.eye(3, 4, dtype=np.float32))
    (baby / "i_id_mapping.csv").write_text("asin\titemID\nB002\t2\nB000\t0\nB001\t1\n")
    (baby / "u_id_mapping.csv").write_text("reviewerID\tuserID\nR0\t0\nR1\t1\nR2\t2\n")
    write_gz(baby / "meta_Baby.json.gz", [
        json.dumps({"asin": "B000", "title": "Soft bib", "description": "A cotton bib.",
                    "categories": [["Baby", "Feeding", "Bibs"]]}),
        "{'asin': 'B001', 'title': 'Night light', 'categories': [['Baby', 'Nursery']], 'price': 9.5}",
        "{'asin': 'B999', 'title': 'Not in the folder'}",
        json.dumps({"asin": "B002", "title": "Stroller fan", "description": ["Clips on.", "Quiet."]}),
    ])
    write_gz(baby / "reviews_Baby_5.json.gz", [
        json.dumps({"reviewerID": "R0", "asin": "B000", "reviewText": "Washes well", "overall": 5.0}),
        json.dumps({"reviewerID": "R1", "asin": "B002", "reviewText": "Loud", "overall": 2.0}),
        json.dumps({"reviewerID": "R9", "asin": "B000", "reviewText": "not a user here", "overall": 1.0}),
    ])
    return root


def test_items_get_their_own_metadata_through_the_mapping(folder):
    data = load_mmrec_with_text("baby", root=folder)
    assert list(data.item_ids) == ["B000", "B001", "B002"]
    assert data.item_text["title"] == ["Soft bib", "Night light", "Stroller fan"]
    assert data.item_text["description"] == ["A cotton bib.", "", "Clips on. Quiet."]
    assert data.item_categories == [["Baby", "Feeding", "Bibs"], ["Baby", "Nursery"], []]
    assert data.item_meta["price"].iloc[1] == 9.5
    assert len(data.train) == 4 and len(data.valid) == 1 and len(data.test) == 1    # MMRec's split is kept
    assert data.features["text"].shape == (3, 4)
    records = item_records(data)
    assert records[0].title == "Soft bib" and records[0].categories == ("Baby", "Feeding", "Bibs")


def test_reviews_are_joined_per_interaction_and_stay_out_of_held_out_pairs(folder):
    data = load_mmrec_with_text("baby", root=folder)
    assert list(data.user_ids) == ["R0", "R1", "R2"]
    reviews = data.reviews.sort_values("user").reset_index(drop=True)
    assert reviews[["user", "item", "text"]].values.tolist() == [[0, 0, "Washes well"], [1, 2, "Loud"]]
    histories = user_histories(data)
    # (1, 2) is a validation pair: it never reaches user 1's training history or reviews
    assert 2 not in histories[1].items and "Loud" not in histories[1].reviews
    assert "Washes well" in histories[0].reviews


def test_missing_files_name_what_to_place_where(folder):
    (folder / "baby" / "meta_Baby.json.gz").unlink()
    (folder / "baby" / "i_id_mapping.csv").unlink()
    with pytest.raises(DataError, match=r"place these files in it by hand(.|\n)*i_id_mapping.csv(.|\n)*meta_Baby.json.gz"):
        load_mmrec_with_text("baby", root=folder)


def test_unknown_folder_needs_a_category(folder):
    (folder / "baby").rename(folder / "toys")
    (folder / "toys" / "baby.inter").rename(folder / "toys" / "toys.inter")
    with pytest.raises(DataError, match="category="):
        load_mmrec_with_text("toys", root=folder)
    data = load_mmrec_with_text("toys", category="Baby", root=folder)
    assert data.item_text["title"][0] == "Soft bib"


@pytest.mark.parametrize("content, message", [
    ("asin\titemID\nB000\t0\nB001\tone\nB002\t2\n", r"i_id_mapping.csv, line 3: field 'itemID' is not an integer"),
    ("asin\titemID\nB000\t0\nB001\t0\nB002\t2\n", r"i_id_mapping.csv, line 3: itemID 0 is mapped twice"),
    ("asin\titemID\nB000\t0\nB001\t7\n", r"i_id_mapping.csv, line 3: itemID 7 is outside 0..2"),
    ("asin\titemID\nB000\t0\nB001\t1\n", r"1 of 3 itemIDs have no asin"),
    ("item\tid\nB000\t0\n", r"i_id_mapping.csv, line 1: expected the columns 'asin' and 'itemID'"),
])
def test_bad_mapping_lines_are_named(folder, content, message):
    (folder / "baby" / "i_id_mapping.csv").write_text(content)
    with pytest.raises(DataError, match=message):
        load_mmrec_with_text("baby", root=folder)


def test_bad_metadata_line_is_named(folder):
    write_gz(folder / "baby" / "meta_Baby.json.gz", [json.dumps({"asin": "B000", "title": "ok"}),
                                                       "{'asin': 'B001', 'title': broken"])
    with pytest.raises(DataError, match=r"meta_Baby.json.gz, line 2: malformed JSON"):
        load_mmrec_with_text("baby", root=folder)
