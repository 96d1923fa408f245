"""The model protocol's seeded construction and the seed runner's per-row statistics."""
import inspect

import pandas as pd
import pytest
import torch

from mmrec_lite.data import make_synthetic, split_random
from mmrec_lite.experiments import SeedResults, over_seeds
from mmrec_lite.models import MF, GLEMRec, LightGCN, Popularity


# --- seeded construction keeps the model's signature -------------------------------------------------

@pytest.mark.parametrize("model", [LightGCN, MF, Popularity, GLEMRec])
def test_signature_is_the_models_own_init_plus_seed(model):
    own = list(inspect.signature(model.__init__).parameters.values())[1:]
    shown = inspect.signature(model)
    assert list(shown.parameters)[:-1] == [p.name for p in own]
    assert [p.default for p in shown.parameters.values()][:-1] == [p.default for p in own]
    seed = shown.parameters["seed"]
    assert seed.kind is inspect.Parameter.KEYWORD_ONLY and seed.default is None
    assert list(shown.parameters)[-1] == "seed"


def test_signature_binds_like_the_constructor():
    shown = inspect.signature(LightGCN)
    bound = shown.bind("data", 16, n_layers=2, seed=3)
    assert bound.arguments == {"data": "data", "embedding_dim": 16, "n_layers": 2, "seed": 3}
    with pytest.raises(TypeError):
        shown.bind("data", no_such_parameter=1)
    assert inspect.signature(LightGCN.__init__).parameters["embedding_dim"].default == 64


def test_seed_still_fixes_the_weights_and_instances_are_untouched():
    data = split_random(make_synthetic(n_users=30, n_items=20, mean_interactions=5, images=False, reviews=False))
    a, b, c = LightGCN(data, embedding_dim=4, seed=5), LightGCN(data, embedding_dim=4, seed=5), LightGCN(
        data, embedding_dim=4, seed=6)
    assert torch.equal(a.user_embedding.weight, b.user_embedding.weight)
    assert not torch.equal(a.user_embedding.weight, c.user_embedding.weight)
    assert "__signature__" not in vars(LightGCN) and not hasattr(a, "__signature__")


# --- SeedResults counts the seeds of each row ------------------------------------------------------

def _runs(records):
    return SeedResults(pd.DataFrame.from_records(records, columns=["seed", "row", "metric", "value"]))


def test_seed_counts_are_per_row_and_shown_in_the_table():
    # A has seeds 0, 1, 2; B only seeds 0 and 1; C only seed 2; D's metric is undefined (NaN) in seed 1
    records = [(0, "A", "m", 0.30), (1, "A", "m", 0.32), (2, "A", "m", 0.34),
               (0, "B", "m", 0.10), (1, "B", "m", 0.14),
               (2, "C", "m", 0.50),
               (0, "D", "m", 0.20), (1, "D", "m", float("nan")), (2, "D", "m", 0.24)]
    results = _runs(records)
    assert results.counts()["m"].to_dict() == {"A": 3, "B": 2, "C": 1, "D": 2}
    assert [results.n_seeds(row) for row in "ABCD"] == [3, 2, 1, 2]
    table = results.table()
    assert table["seeds"].to_dict() == {"A": 3, "B": 2, "C": 1, "D": 2}
    assert table.at["A", "m"] == "0.3200 ± 0.0200"
    assert table.at["B", "m"] == f"0.1200 ± {(0.02 ** 2 * 2) ** 0.5:.4f}"        # sample std of 0.10, 0.14
    assert table.at["C", "m"] == "0.5000 (1 seed)"                             # one seed here, three elsewhere
    assert table.at["D", "m"] == f"0.2200 ± {(0.02 ** 2 * 2) ** 0.5:.4f}"
    assert "seeds" not in results.table(seeds_column=False).columns
    assert results.separated("A", "B", "m")                                     # 0.20 > 0.02 + 0.0283
    assert "(± 0.0200 / 0.0283, 3 / 2 seeds)" in results.compare("A", "B", "m")
    assert not results.separated("A", "C", "m")                                 # C has no spread
    assert results.compare("A", "C", "m").endswith("fewer than two seeds for C, no spread, so no conclusion.")


def test_over_seeds_with_a_row_that_some_seeds_lack():
    results = over_seeds(lambda s: {"A": {"m": 0.1 * s}, **({"B": {"m": 1.0}} if s == 0 else {})}, seeds=(0, 1, 2))
    assert results.seeds == [0, 1, 2]
    assert results.table()["seeds"].to_dict() == {"A": 3, "B": 1}
    assert results.table().at["B", "m"] == "1.0000 (1 seed)"
    assert results.mean().at["A", "m"] == pytest.approx(0.1)
    assert results.compare("A", "A", "m").endswith("(± 0.1000 / 0.1000, 3 seeds): the difference is within the "
                                                  "seed-to-seed spread, so no conclusion.")
