"""GNNMR: mutual-learning KL, detached teacher, ensembles, per-modality optimisers, bipartite GATConv,
attribute modalities and the baselines (GAT, early-fusion GAT, MMGCN)."""
import math
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch

from mmrec_lite.data import DataError, Interactions, MissingFieldError, RecData, make_synthetic, split_random
from mmrec_lite.evaluation import evaluate_full
from mmrec_lite.features.attribute_modalities import attribute_modalities, multi_hot
from mmrec_lite.losses import mutual_learning_kl
from mmrec_lite.models import Popularity
from mmrec_lite.models.early_fusion_gat import EarlyFusionGAT
from mmrec_lite.models.gat import GAT, BipartiteGAT
from mmrec_lite.models.gnnmr import GNNMR
from mmrec_lite.models.mmgcn import MMGCN
from mmrec_lite.sampling import sample_pairwise
from mmrec_lite.training import fit
from mmrec_lite.training_mutual import mutual_step, train_gnnmr


@pytest.fixture(scope="module")
def data():
    d = split_random(make_synthetic(n_users=60, n_items=40, n_topics=3, mean_interactions=10, seed=0,
                                    reviews=False, images=False), seed=0)
    g = torch.Generator().manual_seed(0)
    d.add_features("text", torch.randn(d.n_items, 12, generator=g))
    d.add_features("image", torch.randn(d.n_items, 7, generator=g))
    d.add_features("genre", torch.eye(3)[torch.as_tensor(d.truth["item_topic"])])
    return d


def batch_of(d, size=32, seed=0):
    return next(iter(sample_pairwise(d.train, d.n_items, size, torch.Generator().manual_seed(seed))))


# ---- Eq. 8: the mutual-learning term -----------------------------------------------------------
def test_mutual_learning_kl_matches_direct_kl():
    student = torch.tensor([[2.0, -1.0], [0.5, 0.5], [0.0, 3.0]])
    teacher = torch.tensor([[1.0, 0.0], [2.0, -2.0], [-1.0, 1.0]])
    for t in (1.0, 0.5):
        total = 0.0
        for s_row, t_row in zip(student.tolist(), teacher.tolist()):
            ps = [math.exp(v / t) / sum(math.exp(w / t) for w in s_row) for v in s_row]
            pt = [math.exp(v / t) / sum(math.exp(w / t) for w in t_row) for v in t_row]
            total += sum(a * math.log(a / b) for a, b in zip(pt, ps))
        assert float(mutual_learning_kl(student, teacher, t)) == pytest.approx(total / 3, rel=1e-5)


def test_mutual_learning_kl_zero_for_equal_and_rejects_bad_input():
    x = torch.randn(4, 3)
    assert float(mutual_learning_kl(x, x.clone())) == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError):
        mutual_learning_kl(x, torch.randn(4, 2))
    with pytest.raises(ValueError):
        mutual_learning_kl(x, x, temperature=0.0)


def test_teacher_receives_no_gradient():
    student = torch.randn(5, 2, requires_grad=True)
    teacher = torch.randn(5, 2, requires_grad=True)
    mutual_learning_kl(student, teacher).backward()
    assert teacher.grad is None and student.grad is not None and student.grad.abs().sum() > 0


def test_model_loss_sends_no_gradient_to_the_teachers(data):
    model = GNNMR(data, modalities=("text", "image"), embedding_dim=8, seed=0)
    batch = batch_of(data)
    scores = {m: model.candidate_scores(m, batch) for m in model.modalities}
    model.modality_loss(scores["text"], [scores["image"]])["ml"].backward()
    assert all(p.grad is None for p in model.encoders["image"].parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.encoders["text"].parameters())


def test_modality_loss_is_bpr_plus_lambda_kl(data):
    model = GNNMR(data, modalities=("text", "image", "genre"), embedding_dim=8, mutual_weight=0.5, seed=0)
    batch = batch_of(data)
    s = {m: model.candidate_scores(m, batch).detach() for m in model.modalities}
    terms = model.modality_loss(s["text"], [s["image"], s["genre"]])
    bpr = torch.nn.functional.softplus(s["text"][:, 1] - s["text"][:, 0]).mean()
    teacher = (s["image"] + s["genre"]) / 2                                        # s^oth, Eq. 8
    kl = (teacher.softmax(1) * (teacher.log_softmax(1) - s["text"].log_softmax(1))).sum(1).mean()
    assert float(terms["loss"]) == pytest.approx(float(bpr + 0.5 * kl), rel=1e-5)


# ---- Eq. 6, 10, 11: scores and ensembles ---------------------------------------------------------
def test_concat_ensemble_equals_sum_of_modality_scores_and_average_is_eq_11(data):
    model = GNNMR(data, modalities=("text", "image", "genre"), embedding_dim=8, seed=1).eval()
    users = torch.arange(data.n_users)
    per_modality = []
    for m in model.modalities:
        model.ensemble = m
        per_modality.append(model.score(users))
    model.ensemble = "con"
    torch.testing.assert_close(model.score(users), sum(per_modality), rtol=1e-5, atol=1e-5)
    model.ensemble = "ave"
    pairs = [model.modality_embeddings(m) for m in model.modalities]
    mean_u, mean_i = sum(u for u, _ in pairs) / 3, sum(i for _, i in pairs) / 3
    torch.testing.assert_close(model.score(users), mean_u @ mean_i.T, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError):
        model.ensemble = "sum"


def test_candidate_scores_are_dot_products(data):
    model = GNNMR(data, modalities=("text",), embedding_dim=8, seed=0).eval()
    batch = batch_of(data)
    h_u, h_i = model.modality_embeddings("text")
    scores = model.candidate_scores("text", batch)
    torch.testing.assert_close(scores[:, 0], (h_u[batch["user"]] * h_i[batch["pos"]]).sum(1))
    torch.testing.assert_close(scores[:, 1], (h_u[batch["user"]] * h_i[batch["neg"]]).sum(1))


# ---- Algorithm 1: one optimiser per modality -------------------------------------------------------
@pytest.mark.parametrize("teacher", ["snapshot", "recompute"])
def test_each_optimiser_updates_only_its_modality(data, teacher):
    model = GNNMR(data, modalities=("text", "image"), embedding_dim=8, seed=0)
    groups = model.parameter_groups()
    assert not set(map(id, groups["text"])) & set(map(id, groups["image"]))
    assert len(groups["text"]) + len(groups["image"]) == len(list(model.parameters()))
    optimizers = {m: torch.optim.Adam(p, lr=1e-2) for m, p in groups.items()}
    batch = batch_of(data)
    scores = {m: model.candidate_scores(m, batch) for m in model.modalities}
    loss = model.modality_loss(scores["text"], [scores["image"]])["loss"]
    before = {m: [p.detach().clone() for p in ps] for m, ps in groups.items()}
    optimizers["text"].zero_grad()
    loss.backward()
    optimizers["text"].step()
    assert all(torch.equal(a, p) for a, p in zip(before["image"], groups["image"]))
    assert any(not torch.equal(a, p) for a, p in zip(before["text"], groups["text"]))
    mutual_step(model, batch, optimizers, teacher)                                  # both move now
    assert any(not torch.equal(a, p) for a, p in zip(before["image"], groups["image"]))


def test_snapshot_and_recompute_teachers_differ_only_after_the_first_modality(data):
    outputs = {}
    for teacher in ("snapshot", "recompute"):
        model = GNNMR(data, modalities=("text", "image"), embedding_dim=8, seed=0)
        optimizers = {m: torch.optim.Adam(p, lr=5e-2) for m, p in model.parameter_groups().items()}
        outputs[teacher] = mutual_step(model, batch_of(data), optimizers, teacher)
    assert outputs["snapshot"]["text/loss"] == pytest.approx(outputs["recompute"]["text/loss"])
    assert outputs["snapshot"]["image/ml"] != pytest.approx(outputs["recompute"]["image/ml"], rel=1e-6)


def test_snapshot_training_equals_fit_on_the_summed_loss(data):
    """With a detached teacher, one Adam per modality equals one Adam on Σ_m L_m (Adam is per weight)."""
    a = GNNMR(data, modalities=("text", "image"), embedding_dim=8, seed=3)
    b = GNNMR(data, modalities=("text", "image"), embedding_dim=8, seed=3)
    train_gnnmr(a, data, epochs=2, batch_size=64, learning_rate=1e-2, eval_every=None, device="cpu", seed=5,
                progress=False)
    fit(b, data, epochs=2, batch_size=64, learning_rate=1e-2, eval_every=None, device="cpu", seed=5, progress=False)
    for (name, p), q in zip(a.named_parameters(), b.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-5, msg=name)


def test_train_gnnmr_records_per_modality_curves_and_beats_popularity(data):
    model = GNNMR(data, modalities=("text", "genre"), embedding_dim=16, seed=0)
    history = train_gnnmr(model, data, epochs=8, batch_size=128, learning_rate=1e-2, device="cpu", seed=0,
                          progress=False, patience=None)
    frame = history.to_frame()
    for key in ("text/bpr", "text/ml", "genre/loss", "valid/ave/recall@20", "valid/con/ndcg@10",
                "valid/text/recall@20", "valid/genre/recall@20", "train_seconds", "eval_seconds"):
        assert key in frame.columns, key
    assert frame["text/bpr"].iloc[-1] < frame["text/bpr"].iloc[0]
    gnnmr = evaluate_full(model, data, "test", ks=(20,))["recall@20"]
    pop = evaluate_full(Popularity(data), data, "test", ks=(20,))["recall@20"]
    assert gnnmr > pop


def test_user_init_mean_is_the_mean_of_training_item_features(data):
    model = GNNMR(data, modalities=("text",), embedding_dim=8, user_init="mean", seed=0)
    u = int(data.train.user[0])
    items = data.train.item[data.train.user == u].unique()
    torch.testing.assert_close(model.encoders["text"].user_inputs()[u], data.features["text"][items].mean(0))
    assert not any("user_embedding" in n for n, _ in model.named_parameters())
    with pytest.raises(ValueError):
        GNNMR(data, modalities=("text",), user_init="zeros")


# ---- the bipartite GATConv -----------------------------------------------------------------------
def test_gatconv_has_no_cross_type_self_loops():
    encoder = BipartiteGAT(user_dim=4, item_dim=6, dim=5, n_layers=2)
    convs = list(encoder.to_user) + list(encoder.to_item)
    assert all(not conv.add_self_loops for conv in convs)
    # user 0 -> item 1 and user 1 -> item 2 only: no edge joins user k to item k
    edge_user, edge_item = torch.tensor([0, 1]), torch.tensor([1, 2])
    x_user, x_item = torch.randn(3, 4), torch.randn(3, 6)
    conv = encoder.to_item[0]
    used, _ = conv((x_user, x_item), torch.stack([edge_user, edge_item]), return_attention_weights=True)[1]
    assert sorted(zip(*used.tolist())) == [(0, 1), (1, 2)]
    assert not (used[0] == used[1]).any()
    # PyG's default would have added (k, k) "self-loops" between user k and item k
    default = type(conv)((4, 6), 5, add_self_loops=True)
    added, _ = default((x_user, x_item), torch.stack([edge_user, edge_item]), return_attention_weights=True)[1]
    assert (added[0] == added[1]).any()


@pytest.mark.parametrize("heads", [1, 2])
def test_fused_sparse_path_equals_pyg_gatconv_outputs_and_gradients(heads):
    torch.manual_seed(0)
    pairs = torch.unique(torch.randint(0, 7 * 9, (30,)))
    edge_user, edge_item = pairs // 9, pairs % 9          # unique edges; some items have no user
    x_user, x_item = torch.randn(7, 4, requires_grad=True), torch.randn(9, 6)
    encoder = BipartiteGAT(user_dim=4, item_dim=6, dim=5, n_layers=2, heads=heads)
    results = []
    for fused in (False, True):
        encoder.fused = fused
        encoder.zero_grad()
        x_user.grad = None
        h_user, h_item = encoder(x_user, x_item, edge_user, edge_item)
        ((h_user @ h_item.T) ** 2).sum().backward()
        results.append([h_user.detach(), h_item.detach(), x_user.grad.clone(),
                        *(p.grad.clone() for p in encoder.parameters())])
    for pyg, fused in zip(*results):
        torch.testing.assert_close(fused, pyg, rtol=1e-4, atol=1e-5)


def test_item_with_no_users_gets_zero_aggregation():
    encoder = BipartiteGAT(user_dim=3, item_dim=3, dim=4, n_layers=1)
    x_user, x_item = torch.randn(2, 3), torch.randn(3, 3)
    _, h_item = encoder(x_user, x_item, torch.tensor([0, 1]), torch.tensor([0, 0]))
    bias = encoder.to_item[0].bias.detach()
    torch.testing.assert_close(h_item[2], torch.nn.functional.leaky_relu(bias, 0.2))


# ---- baselines -----------------------------------------------------------------------------------
def test_baselines_train_and_expose_their_parameters(data):
    gat = GAT(data, embedding_dim=8, seed=0)
    fused = EarlyFusionGAT(data, modalities=("text", "image"), embedding_dim=8, seed=0)
    assert fused.item_features.shape == (data.n_items, 19)
    torch.testing.assert_close(fused.item_features, torch.cat([data.features["text"], data.features["image"]], 1))
    mmgcn = MMGCN(data, modalities=("text", "image"), embedding_dim=8, seed=0)
    names = dict(mmgcn.named_parameters())
    assert "id_embedding.weight" in names and "towers.text.preference" in names
    for model in (gat, fused, mmgcn):
        before = {n: p.detach().clone() for n, p in model.named_parameters()}
        fit(model, data, epochs=1, batch_size=64, learning_rate=1e-2, eval_every=None, device="cpu", progress=False)
        moved = {n for n, p in model.named_parameters() if not torch.equal(before[n], p)}
        assert moved == set(before), set(before) - moved          # every parameter is trained


def test_mmgcn_mean_aggregation_matches_a_dense_mean(data):
    model = MMGCN(data, modalities=("text",), embedding_dim=4, seed=0)
    x = torch.randn(data.n_items, 3)
    dense = torch.zeros(data.n_users, data.n_items)
    dense[data.train.user, data.train.item] = 1.0
    expected = dense @ x / dense.sum(1, keepdim=True).clamp_min(1)
    torch.testing.assert_close(model.user_mean @ x, expected, rtol=1e-5, atol=1e-6)


# ---- attribute modalities ("Fund" setting) --------------------------------------------------------
def test_multi_hot_top_n_other_and_missing():
    matrix, names = multi_hot([["a", "b"], ["a"], [], ["c"], ["b", "d"]], top_n=2)
    assert names == ["a", "b", "other", "missing"]
    assert matrix.tolist() == [[1, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0], [0, 1, 1, 0]]


def test_attribute_modalities_on_a_tmdb_like_table(data):
    meta = pd.DataFrame({"tmdb_genres": [["Drama"], ["Comedy", "Drama"], "[]"],
                         "tmdb_year": [1995, 1987, None],
                         "tmdb_original_language": ["en", "fr", "en"],
                         "tmdb_production_countries": ["[{'name': 'France'}]", [], ["USA"]],
                         "tmdb_production_companies": [["Pixar"], ["Gaumont"], None],
                         "tmdb_collection": ["Toy Story Collection", None, None]})
    small = RecData(name="tiny", user_ids=np.array(["u"]), item_ids=np.array(["a", "b", "c"]),
                    interactions=Interactions.from_arrays([0], [0]), item_meta=meta)
    mods = attribute_modalities(small)
    assert list(mods) == ["genres", "decade", "language", "countries", "companies", "collection"]
    assert mods["decade"].tolist() == [[0, 1, 0], [1, 0, 0], [0, 0, 1]]          # 1990s, 1980s, missing
    assert mods["genres"].tolist() == [[1, 0, 0], [1, 1, 0], [0, 0, 1]]          # Drama, Comedy, missing
    assert mods["collection"].tolist() == [[1, 0], [0, 1], [0, 1]]
    bad = replace(small, item_meta=meta.assign(tmdb_production_companies=["[{broken", None, None]))
    with pytest.raises(DataError, match="row 0"):
        attribute_modalities(bad, ["companies"])
    with pytest.raises(MissingFieldError):
        attribute_modalities(replace(small, item_meta=meta.drop(columns="tmdb_collection")), ["collection"])
