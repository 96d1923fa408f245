"""KG-format loaders on fixture files written here in the KB4Rec/MKR and KGAT layouts."""
from __future__ import annotations

import pytest
import torch

from mmrec_lite.data import DataError
from mmrec_lite.data.kg_formats import ensure_kb4rec_movielens_1m, ensure_kgat_amazon_book, load_kb4rec, load_kgat


def write(folder, name, text):
    (folder / name).write_text(text, encoding="utf-8")
    return folder / name


@pytest.fixture
def mkr_folder(tmp_path):
    """Three linked movies (10, 20, 30; movie 40 is not linked), two users, Satori-style KG."""
    write(tmp_path, "item_index2entity_id.txt", "10\t1001\n20\t1002\n30\t1003\n")
    write(tmp_path, "kg.txt", "1001\tfilm.film.genre\t5000\n1002\tfilm.film.genre\t5000\n"
                              "1003\tfilm.film.director\t6000\n6000\tpeople.person.nationality\t7000\n")
    write(tmp_path, "ratings.dat", "1::10::5::978300760\n1::20::3::978302109\n1::40::5::978301968\n"
                                   "2::30::4::978300275\n2::10::4::978824291\n")
    return tmp_path


def test_kb4rec_raw_layout(mkr_folder):
    data = load_kb4rec(mkr_folder)
    assert data.item_ids.tolist() == ["10", "20", "30"]
    assert data.user_ids.tolist() == [1, 2]
    # ratings >= 4 of linked movies: (1, 10), (2, 30), (2, 10); movie 40 is unlinked, (1, 20) rated 3
    pairs = sorted(zip(data.interactions.user.tolist(), data.interactions.item.tolist()))
    assert pairs == [(0, 0), (1, 0), (1, 2)]
    kg = data.kg
    # items first (map order), then the other entities in order of first appearance
    assert kg.entity_names == ["1001", "1002", "1003", "5000", "6000", "7000"]
    assert kg.relation_names == ["film.film.genre", "film.film.director", "people.person.nationality"]
    assert kg.triples.tolist() == [[0, 0, 3], [1, 0, 3], [2, 1, 4], [4, 2, 5]]
    assert data.implicit


def test_kb4rec_threshold_none_keeps_every_linked_rating(mkr_folder):
    data = load_kb4rec(mkr_folder, threshold=None)
    assert len(data.interactions) == 4
    assert sorted(data.interactions.rating.tolist()) == [3.0, 4.0, 4.0, 5.0]


def test_kb4rec_preprocessed_layout(tmp_path):
    write(tmp_path, "item_index2entity_id.txt", "10\t1001\n20\t1002\n")
    write(tmp_path, "ratings_final.txt", "0\t0\t1\n0\t1\t0\n1\t1\t1\n")
    write(tmp_path, "kg_final.txt", "0\t0\t2\n1\t0\t2\n1\t1\t3\n")
    data = load_kb4rec(tmp_path)
    assert sorted(zip(data.interactions.user.tolist(), data.interactions.item.tolist())) == [(0, 0), (1, 1)]
    assert data.kg.n_entities == 4 and data.kg.n_relations == 2
    assert data.kg.entity_names[:2] == ["1001", "1002"]


@pytest.mark.parametrize("file, text, message", [
    ("kg.txt", "1001\tfilm.film.genre\n", "kg.txt, line 1: expected 3 fields"),
    ("ratings.dat", "1::10::5::978300760\n1::ten::5::978300760\n", "ratings.dat, line 2: field 'item'"),
    ("ratings.dat", "1::10::5::978300760\nx::10::5::1\n", "ratings.dat, line 2: field 'user' is not an integer"),
    ("item_index2entity_id.txt", "10\t1001\n20\t1001\n", "item_index2entity_id.txt, line 2: entity '1001' is listed twice"),
])
def test_kb4rec_bad_input_names_file_and_line(mkr_folder, file, text, message):
    write(mkr_folder, file, text)
    with pytest.raises(DataError, match=message.replace(".", r"\.")):
        load_kb4rec(mkr_folder)


def test_kb4rec_ratings_with_missing_field(mkr_folder):
    write(mkr_folder, "ratings.dat", "1::10::5::978300760\n1::20::5\n")
    with pytest.raises(DataError, match=r"ratings\.dat, line 2: expected 4 fields"):
        load_kb4rec(mkr_folder)


def test_kb4rec_preprocessed_unknown_item(tmp_path):
    write(tmp_path, "item_index2entity_id.txt", "10\t1001\n20\t1002\n")
    write(tmp_path, "ratings_final.txt", "0\t0\t1\n0\t7\t1\n")
    write(tmp_path, "kg_final.txt", "0\t0\t2\n")
    with pytest.raises(DataError, match=r"ratings_final\.txt, line 2: unknown item id 7"):
        load_kb4rec(tmp_path)


@pytest.fixture
def kgat_folder(tmp_path):
    """The KGAT layout: 3 users, 4 items (entities 0-3), 2 attribute entities, 2 relations."""
    write(tmp_path, "train.txt", "0 1 2 3\n1 1 2 0\n2 3 0 1\n")
    write(tmp_path, "test.txt", "0 0\n1 3\n2 2\n")
    write(tmp_path, "kg_final.txt", "0 0 4\n1 0 4\n2 1 5\n3 1 5\n")
    write(tmp_path, "item_list.txt", "org_id remap_id freebase_id\nB0 0 m.a\nB1 1 m.b\nB2 2 m.c\nB3 3 m.d\n")
    write(tmp_path, "entity_list.txt", "org_id remap_id\nm.a 0\nm.b 1\nm.c 2\nm.d 3\nm.genre 4\nm.author 5\n")
    write(tmp_path, "relation_list.txt", "org_id remap_id\nbook.genre 0\nbook.author 1\n")
    write(tmp_path, "user_list.txt", "org_id remap_id\nA 0\nB 1\nC 2\n")
    return tmp_path


def test_kgat_layout(kgat_folder):
    data = load_kgat(kgat_folder, valid_ratio=0.25, seed=0)
    assert (data.n_users, data.n_items) == (3, 4)
    assert data.user_ids.tolist() == ["A", "B", "C"] and data.item_ids.tolist() == ["B0", "B1", "B2", "B3"]
    test = sorted(zip(data.test.user.tolist(), data.test.item.tolist()))
    assert test == [(0, 0), (1, 3), (2, 2)]
    train_and_valid = sorted(zip(torch.cat([data.train.user, data.valid.user]).tolist(),
                                 torch.cat([data.train.item, data.valid.item]).tolist()))
    assert train_and_valid == [(0, 1), (0, 2), (0, 3), (1, 0), (1, 1), (1, 2), (2, 0), (2, 1), (2, 3)]
    # 25 % of each user's training items (at least one for users with >= 3) is validation
    assert torch.bincount(data.valid.user, minlength=3).tolist() == [1, 1, 1]
    assert data.kg.triples.tolist() == [[0, 0, 4], [1, 0, 4], [2, 1, 5], [3, 1, 5]]
    assert data.kg.entity_names == ["B0", "B1", "B2", "B3", "m.genre", "m.author"]
    assert data.kg.relation_names == ["book.genre", "book.author"]


def test_kgat_layout_without_name_lists(kgat_folder):
    for file in ("item_list.txt", "entity_list.txt", "relation_list.txt", "user_list.txt"):
        (kgat_folder / file).unlink()
    data = load_kgat(kgat_folder)
    assert (data.n_users, data.n_items, data.kg.n_entities, data.kg.n_relations) == (3, 4, 6, 2)


@pytest.mark.parametrize("file, text, message", [
    ("train.txt", "0 0 1\n1 1 x\n", r"train\.txt, line 2: 'x' is not an integer id"),
    ("test.txt", "0 0\n1 9\n", r"test\.txt, line 2: unknown item id 9"),
    ("kg_final.txt", "0 0 4\n1 0 44\n", r"kg_final\.txt, line 2: unknown tail entity id 44"),
    ("kg_final.txt", "0 0 4\n1 7 4\n", r"kg_final\.txt, line 2: unknown relation id 7"),
    ("kg_final.txt", "0 0 4\n1 0\n", r"kg_final\.txt, line 2: expected 3 fields"),
    ("kg_final.txt", "0 0 4\n1 0 4.5\n", r"kg_final\.txt, line 2: field 'tail' is not an integer"),
    ("train.txt", "0 1 2\n0 2\n", r"train\.txt, line 2: duplicate interaction"),
])
def test_kgat_bad_input_names_file_and_line(kgat_folder, file, text, message):
    write(kgat_folder, file, text)
    with pytest.raises(DataError, match=message):
        load_kgat(kgat_folder)


def test_missing_folders_name_the_files_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("MMREC_OFFLINE", "1")
    with pytest.raises(DataError, match=r"ratings\.dat, item_index2entity_id\.txt, kg\.txt in .*ml-1m-kg"):
        ensure_kb4rec_movielens_1m(tmp_path)
    with pytest.raises(DataError, match=r"train\.txt, test\.txt, kg_final\.txt.*amazon-book"):
        ensure_kgat_amazon_book(tmp_path)


@pytest.mark.parametrize("file, text, message", [
    ("train.txt", "0 1 2 3\n1 1 2 0\n1000000000000 3 0 1\n",
     r"train\.txt, line 3: user id 1000000000000 would make 1,000,000,000,001 ids"),
    ("test.txt", "0 0\n1 3\n5000 2\n", r"test\.txt, line 3: user id 5000 would make 5,001 ids"),
])
def test_kgat_far_ids_raise_instead_of_phantom_users(kgat_folder, file, text, message):
    write(kgat_folder, file, text)
    with pytest.raises(DataError, match=message):
        load_kgat(kgat_folder)


def test_kgat_far_item_id_without_item_list_raises(kgat_folder):
    (kgat_folder / "item_list.txt").unlink()
    (kgat_folder / "entity_list.txt").unlink()
    write(kgat_folder, "test.txt", "0 0\n1 3\n2 900\n")
    with pytest.raises(DataError, match=r"test\.txt, line 3: item id 900 would make 901 ids"):
        load_kgat(kgat_folder)
