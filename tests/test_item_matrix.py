"""GLEM-Rec feature matrices: text aggregation, the item matrix and the Eq. (1) user matrix."""
import math

import numpy as np
import pandas as pd
import pytest
import torch

from mmrec_lite.data import DataError, Interactions, MissingFieldError, RecData
from mmrec_lite.features.item_matrix import (clean_text, item_documents, item_feature_matrix, parse_names,
                                             user_feature_matrix)

DAY = 86400


def test_clean_text_strips_markup_urls_and_spacing():
    assert clean_text("  <b>Fast</b> &amp;\tfurious\n see http://x.org/a  now ") == "Fast & furious see now"
    assert clean_text(float("nan")) == "" and clean_text(None) == ""


@pytest.mark.parametrize("value, names", [
    ("[{'id': 16, 'name': 'Animation'}, {'id': 35, 'name': 'Comedy'}]", ["Animation", "Comedy"]),
    ('[{"id": 16, "name": "Animation"}]', ["Animation"]),
    (["Drama", {"name": "War"}], ["Drama", "War"]),
    ({"id": 1, "name": "Toy Story Collection"}, ["Toy Story Collection"]),
    ("en", ["en"]), ("", []), ("[]", []), ([], []), (float("nan"), []), (None, []),
    ("[{'id': 16, 'name': 'Anim", None), ("[{'id': 16}]", None), (42, None),
])
def test_parse_names(value, names):
    assert parse_names(value) == names


def _messy_meta() -> pd.DataFrame:
    return pd.DataFrame({
        "release_date": ["1995-10-30", float("nan"), "not a date", "2000-01-01"],
        "genres": ["[{'id': 16, 'name': 'Animation'}, {'id': 35, 'name': 'Comedy'}]", "[]", "[{'name': 'Dra",
                   float("nan")],
        "original_language": ["en", None, "fr", "en"],
        "budget": [100.0, 0.0, float("nan"), 1000.0],
        "movie_id": [1, 2, 3, 4],
    })


def test_item_matrix_handles_missing_and_malformed_without_misalignment():
    with pytest.warns(UserWarning) as caught:
        m = item_feature_matrix(_messy_meta(), top_n={"original_language": 1})
    messages = " ".join(str(w.message) for w in caught)
    assert "'genres'" in messages and "rows [2]" in messages and "'release_date'" in messages
    frame = m.frame()
    assert list(m.blocks) == ["date", "genres", "original_language", "numeric"]
    assert "movie_id" not in m.columns                       # ids are not features
    np.testing.assert_array_equal(frame["release_date:missing"], [0, 1, 1, 0])
    ages = np.array([2000.0 - (1995 + 302 / 365.25), np.nan, np.nan, 0.0])
    ages[1:3] = np.nanmedian(ages)                           # median fill before standardising
    np.testing.assert_allclose(frame["release_age"], (ages - ages.mean()) / ages.std(), atol=1e-5)
    np.testing.assert_array_equal(frame["genres=Animation"], [1, 0, 0, 0])
    np.testing.assert_array_equal(frame["genres=Comedy"], [1, 0, 0, 0])
    np.testing.assert_array_equal(frame["genres:missing"], [0, 1, 1, 1])
    np.testing.assert_array_equal(frame["original_language=en"], [1, 0, 0, 1])
    np.testing.assert_array_equal(frame["original_language=other"], [0, 0, 1, 0])
    np.testing.assert_array_equal(frame["original_language:missing"], [0, 1, 0, 0])
    budget = np.log1p([100.0, np.nan, np.nan, 1000.0])      # TMDB's 0 budget means unknown
    budget[1:3] = np.nanmedian(budget)
    np.testing.assert_allclose(frame["budget"], (budget - budget.mean()) / budget.std(), atol=1e-5)
    np.testing.assert_array_equal(frame["budget:missing"], [0, 1, 1, 0])
    assert torch.isfinite(m.values).all()


def test_item_matrix_strict_names_field_and_row():
    with pytest.raises(DataError, match=r"genres.*row 2"):
        item_feature_matrix(_messy_meta()[["genres"]], strict=True)


def test_item_matrix_concatenates_text_and_uses_categories_for_genres():
    meta = pd.DataFrame({"year": [1990, 2000, None], "price": [1.0, 2.0, 3.0]})
    text = torch.arange(6.0).view(3, 2)
    m = item_feature_matrix(meta, text, categories=[["a"], ["a", "b"], []])
    assert m.values.shape == (3, len(m.columns))
    torch.testing.assert_close(m.block("text"), text)
    torch.testing.assert_close(m.values[:, -2:], text)
    np.testing.assert_array_equal(m.frame()["genres=a"], [1, 1, 0])
    np.testing.assert_array_equal(m.frame()["genres:missing"], [0, 0, 1])
    with pytest.raises(MissingFieldError, match="budget"):
        item_feature_matrix(meta, numeric=["budget"])
    with pytest.raises(DataError, match="text features"):
        item_feature_matrix(meta, torch.zeros(2, 2))


def _tiny_data(**side) -> RecData:
    inter = Interactions.from_arrays([0, 1], [0, 2], [4.0, 3.0], [0, 0])
    return RecData("tiny", np.array(["u0", "u1"]), np.array(["a", "b", "c"]), inter, **side)


def test_item_documents_aggregates_fields_in_order():
    meta = pd.DataFrame({"keywords": ["[{'name': 'heist'}, {'name': 'vault'}]", float("nan"), "[{'name': 'x"],
                         "tagline": ["Crime pays", None, ""]})
    data = _tiny_data(item_text={"title": ["Big Job", "Quiet <i>Days</i>", ""],
                                 "overview": ["A crew &amp; a vault.", "", "Lost."]},
                      item_meta=meta, item_categories=[["Crime"], [], ["Drama", "War"]])
    with pytest.warns(UserWarning, match="keywords"):
        docs = item_documents(data)
    assert docs == ["Title: Big Job. Overview: A crew & a vault. Tagline: Crime pays. Genres: Crime. "
                    "Keywords: heist, vault.",
                    "Title: Quiet Days.",
                    "Overview: Lost. Genres: Drama, War."]
    assert item_documents(data, fields=["genres"]) == ["Genres: Crime.", "", "Genres: Drama, War."]
    with pytest.raises(MissingFieldError, match="cast"):
        item_documents(data, fields=["cast"])


def test_user_profile_eq1_by_hand():
    items = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    inter = Interactions.from_arrays(user=[0, 0, 1, 1], item=[0, 1, 2, 0], rating=[4.0, 2.0, 5.0, 1.0],
                                     timestamp=[0, 10 * DAY, 5 * DAY, 5 * DAY])
    m = user_feature_matrix(inter, items, n_users=3, half_life_days=10.0, standardize_stats=False)
    # user 0: weights 4 * 2^(-10/10) = 2 (older rating) and 2 * 1 = 2; user 1: 5 and 1 (same day)
    expected_profile = torch.tensor([[0.5, 0.5], [1.0, 5.0 / 6.0], [0.0, 0.0]])
    torch.testing.assert_close(m.block("profile"), expected_profile, atol=1e-6, rtol=0)
    expected_stats = torch.tensor([[3.0, 1.0, math.log(3)], [3.0, 2.0, math.log(3)], [3.0, 0.0, 0.0]])
    torch.testing.assert_close(m.block("stats"), expected_stats, atol=1e-6, rtol=0)
    assert m.columns[-3:] == ["rating_mean", "rating_std", "rating_count"]
    no_decay = user_feature_matrix(inter, items, 3, half_life_days=None, stats=False)
    torch.testing.assert_close(no_decay.values[0], torch.tensor([4 / 6, 2 / 6]))   # weights = ratings
    standardized = user_feature_matrix(inter, items, 3, half_life_days=10.0).block("stats")
    torch.testing.assert_close(standardized[:, 1:].std(0, correction=0), torch.ones(2))


def test_user_profile_matches_per_user_loop():
    gen = torch.Generator().manual_seed(0)
    n_users, n_items, n = 7, 11, 60
    inter = Interactions(torch.randint(n_users, (n,), generator=gen), torch.randint(n_items, (n,), generator=gen),
                         torch.randint(1, 6, (n,), generator=gen).float(),
                         torch.randint(0, 400 * DAY, (n,), generator=gen))
    x = torch.randn(n_items, 4, generator=gen)
    got = user_feature_matrix(inter, x, n_users, half_life_days=30.0, stats=False).values
    for u in range(n_users):
        rows = inter.user == u
        if not rows.any():
            assert got[u].abs().sum() == 0
            continue
        age = (inter.timestamp[rows].max() - inter.timestamp[rows]).double() / DAY
        w = inter.rating[rows].double() * 0.5 ** (age / 30.0)
        expected = (w[:, None] * x[inter.item[rows]].double()).sum(0) / (w.sum() + 1e-8)
        torch.testing.assert_close(got[u], expected.float(), atol=1e-5, rtol=1e-5)


def test_user_profile_rejects_out_of_range_items():
    inter = Interactions.from_arrays([0], [5], [3.0], [0])
    with pytest.raises(DataError, match="item 5"):
        user_feature_matrix(inter, torch.zeros(3, 2), 1)


@pytest.mark.realdata
def test_item_matrix_on_movielens_tmdb(shared_data):
    from mmrec_lite.data import load_movielens_100k
    with pytest.warns(UserWarning, match="36 movies link to a TMDB entry"):  # the release's known mislinks
        data = load_movielens_100k(shared_data / "ml-100k", tmdb_root=shared_data / "ml-100k-tmdb", posters=False)
    m = item_feature_matrix(data.item_meta, categories=data.item_categories)
    assert m.values.shape[0] == data.n_items and torch.isfinite(m.values).all()
    toy_story = data.item_text["title"].index("Toy Story (1995)")
    frame = m.frame()
    assert frame.loc[toy_story, "tmdb_genres=Animation"] == 1 and frame.loc[toy_story, "genres=Animation"] == 1
    assert "tmdb_budget" in m.columns and "tmdb_id" not in m.columns
    docs = item_documents(data)
    assert docs[toy_story].startswith("Title: Toy Story (1995). Overview: Led by Woody")


def test_rating_statistics_by_hand():
    from mmrec_lite.features.item_matrix import rating_statistics
    table = rating_statistics(torch.tensor([0, 0, 2]), torch.tensor([1.0, 3.0, 5.0]), 4, standardize=False)
    # id 0: mean 2, std 1, log1p(2); ids 1 and 3 unrated: global mean 3, std 0, count 0; id 2: 5, 0, log1p(1)
    expected = torch.tensor([[2.0, 1.0, np.log(3)], [3.0, 0.0, 0.0], [5.0, 0.0, np.log(2)], [3.0, 0.0, 0.0]],
                            dtype=torch.float64)
    torch.testing.assert_close(table, expected)
    z = rating_statistics(torch.tensor([0, 0, 2]), torch.tensor([1.0, 3.0, 5.0]), 4)
    torch.testing.assert_close(z.mean(0), torch.zeros(3, dtype=torch.float64))


def test_label_proxies_and_diagnostics_are_left_out_by_default():
    from mmrec_lite.features.item_matrix import numeric_columns
    meta = pd.DataFrame({"movie_id": [1, 2, 3], "tmdb_budget": [1e6, 0.0, 3e6], "tmdb_runtime": [90.0, 100.0, 80.0],
                         "tmdb_vote_average": [6.0, 7.5, 5.0], "tmdb_vote_count": [10.0, 300.0, 4.0],
                         "tmdb_popularity": [1.0, 9.0, 0.5], "tmdb_title_agreement": [1.0, 0.2, 1.0]})
    assert numeric_columns(meta) == ["tmdb_budget", "tmdb_runtime"]
    assert numeric_columns(meta, label_proxies=True) == ["tmdb_budget", "tmdb_runtime", "tmdb_vote_average",
                                                         "tmdb_vote_count", "tmdb_popularity"]
    default = item_feature_matrix(meta)
    assert not any(("vote" in c or "popularity" in c or "agreement" in c) for c in default.columns)
    ablation = item_feature_matrix(meta, numeric=numeric_columns(meta, label_proxies=True))
    assert "tmdb_vote_average" in ablation.columns
