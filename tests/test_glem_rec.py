"""GLEM-Rec: Eq. (2) contrastive enhancement, the heterogeneous GNN, the Eq. (5) loss, cold start."""
import numpy as np
import pytest
import torch

from mmrec_lite import losses
from mmrec_lite.data import MissingFieldError, make_synthetic, split_random
from mmrec_lite.evaluation import evaluate_rated
from mmrec_lite.features.item_matrix import item_documents
from mmrec_lite.metrics import popularity_groups
from mmrec_lite.models.glem_rec import ContrastiveEnhancer, GLEMRec
from mmrec_lite.rated_candidates import niche_tail_performance, rated_coverage
from mmrec_lite.models.popularity import Popularity
from mmrec_lite.training import fit


def _text_features(data, dim: int = 24) -> torch.Tensor:
    """A cheap stand-in for the semantic extractor: TF-IDF of the item documents, reduced by SVD."""
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer
    tfidf = TfidfVectorizer().fit_transform(item_documents(data))
    return torch.as_tensor(TruncatedSVD(dim, random_state=0).fit_transform(tfidf), dtype=torch.float32)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Small tensors gain nothing from threads, and on a busy 2-core runner two threads thrash."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def data():
    data = split_random(make_synthetic(n_users=200, n_items=120, mean_interactions=20, images=False, reviews=False))
    data.add_features("text", _text_features(data))
    return data


def _batch(data, n=256):
    return {"user": data.train.user[:n], "item": data.train.item[:n], "rating": data.train.rating[:n]}


def test_contrastive_loss_is_bidirectional_eq2():
    torch.manual_seed(0)
    enhancer = ContrastiveEnhancer(5, 7, hidden_dim=8, projection_dim=4, output_dim=6, temperature=0.5)
    user_z, item_z = enhancer.project(torch.randn(6, 5), torch.randn(6, 7))
    torch.testing.assert_close(user_z.norm(dim=1), torch.ones(6))
    s = user_z @ item_z.T / 0.5                                  # Eq. (2): softmax over items, and back
    expected = (-(s.log_softmax(1).diagonal().mean()) - s.log_softmax(0).diagonal().mean()) / 2
    torch.testing.assert_close(enhancer.loss(user_z, item_z), expected)
    fused_u, fused_i, _, _ = enhancer(torch.randn(6, 5), torch.randn(9, 7))
    assert fused_u.shape == (6, 6) and fused_i.shape == (9, 6)


def test_contrastive_loss_decreases_on_toy_pairs():
    torch.manual_seed(0)
    latent = torch.randn(32, 4)
    user_x, item_x = latent @ torch.randn(4, 10), latent @ torch.randn(4, 12)   # pair j shares latent j
    enhancer = ContrastiveEnhancer(10, 12, hidden_dim=32, projection_dim=8, temperature=0.2)
    optimizer = torch.optim.Adam(enhancer.parameters(), lr=2e-2)
    before = float(enhancer.loss(*enhancer.project(user_x, item_x)).detach())
    for _ in range(40):
        loss = enhancer.loss(*enhancer.project(user_x, item_x))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert float(loss.detach()) < 0.4 * before


def test_eq5_terms_match_the_loss_functions(data):
    torch.manual_seed(0)
    model = GLEMRec(data, embedding_dim=16, contrastive_pairs=64).eval()   # eval: no dropout
    assert model.lambdas == {"contrastive": 1.0, "diversity": 200.0, "personalization": 7.0, "coverage": 200.0}
    batch = {"user": torch.tensor([0, 1, 2, 3, 1]), "item": torch.tensor([4, 5, 6, 7, 8]),
             "rating": torch.tensor([5.0, 1.0, 4.0, 2.0, 3.0])}
    terms = model.loss(batch)
    emb = model.propagate()
    u, i, r = batch["user"], batch["item"], batch["rating"]
    pred = model.decode(emb.user[u], emb.item[i])
    counts = data.item_popularity().float()
    omega = counts.max() / counts[i].clamp_min(1)                         # ω_i = max_j count_j / count_i
    torch.testing.assert_close(terms["rating"], (omega * (r - pred) ** 2).mean())
    torch.testing.assert_close(terms["diversity"], losses.diversity_loss(emb.item))
    torch.testing.assert_close(terms["coverage"], losses.coverage_loss(emb.item))
    liked, disliked = torch.tensor([0, 2]), torch.tensor([1, 3])          # ratings 5, 4 and 1, 2
    torch.testing.assert_close(terms["personalization"], losses.personalization_loss(
        emb.user[u[liked]], emb.item[i[liked]], emb.user[u[disliked]], emb.item[i[disliked]]))
    torch.testing.assert_close(terms["contrastive"], model.enhancer.loss(emb.user_z[u[liked]], emb.item_z[i[liked]]))
    torch.testing.assert_close(terms["l2"], 1e-4 * losses.l2_regularization(emb.user_initial[u], emb.item_initial[i]))
    total = (terms["rating"] + 200 * terms["diversity"] + 7 * terms["personalization"] + 200 * terms["coverage"]
             + terms["contrastive"] + terms["l2"])
    torch.testing.assert_close(terms["loss"], total)


def test_forward_shapes_and_score_predict_agree(data):
    model = GLEMRec(data, embedding_dim=16).eval()
    emb = model.propagate()
    assert emb.user.shape == (data.n_users, 16) and emb.item.shape == (data.n_items, 16)
    users = torch.tensor([0, 5, 9])
    scores = model.score(users)
    assert scores.shape == (3, data.n_items)
    items = torch.tensor([3, 50, 7])
    torch.testing.assert_close(model.predict(users, items), scores[torch.arange(3), items])
    assert len(model.layers) == 2 and type(model.layers[0]).__name__ == "HeteroConv"


def test_cold_start_item_is_scored_from_its_features(data):
    cold = 0
    held = data.train.item == cold
    split = data.with_splits(data.train.select(~held), data.valid, data.test)
    torch.manual_seed(0)
    model = GLEMRec(split, embedding_dim=16).eval()
    assert not (model.edge_index[1] == cold).any()
    emb = model.propagate()
    # the cold item has no neighbours, so dropping half of the graph's edges leaves it unchanged
    fewer = model.edge_index[:, ::2]
    torch.testing.assert_close(model.propagate(edge_index=fewer).item[cold], emb.item[cold])
    assert not torch.allclose(model.propagate(edge_index=fewer).item[1:], emb.item[1:])
    # ... and its features drive its score
    item_x = model.item_x.clone()
    item_x[cold] = item_x[cold + 1]
    changed = model.propagate(item_x=item_x)
    assert not torch.allclose(changed.item[cold], emb.item[cold])
    assert torch.isfinite(model.score(torch.arange(5))[:, cold]).all()


def test_ablation_flags(data):
    torch.manual_seed(0)
    no_text = GLEMRec(data, embedding_dim=8, use_text=False)
    full = GLEMRec(data, embedding_dim=8)
    assert full.item_x.shape[1] == no_text.item_x.shape[1] + data.features["text"].shape[1]
    no_processor = GLEMRec(data, embedding_dim=8, use_processor=False)
    assert not hasattr(no_processor, "enhancer")
    torch.testing.assert_close(no_processor.item_x, data.features["text"])   # text only, no metadata
    assert "contrastive" not in no_processor.loss(_batch(data))
    no_gnn = GLEMRec(data, embedding_dim=8, use_gnn=False)
    assert all(isinstance(layer, torch.nn.ModuleDict) for layer in no_gnn.layers)
    with pytest.raises(ValueError, match="no input features"):
        GLEMRec(data, use_text=False, use_processor=False)
    for model in (no_text, full, no_processor, no_gnn):
        terms = model.loss(_batch(data))
        terms["loss"].backward()
        assert torch.isfinite(terms["loss"])
    del data.features["text"]
    try:
        with pytest.raises(MissingFieldError, match="TextEncoder"):
            GLEMRec(data)
    finally:
        data.add_features("text", _text_features(data))


def _n_parameters(model) -> int:
    return sum(p.numel() for p in model.parameters())


def test_without_processor_users_are_the_mean_text_of_their_items_and_no_free_ids(data):
    """Like-for-like removal: no per-user parameters, users = mean text vector of their distinct items."""
    model = GLEMRec(data, embedding_dim=8, use_processor=False)
    assert not any(p.shape[0] in (data.n_users, data.n_items) for p in model.parameters())
    text = data.features["text"]
    pairs = {(u, i) for u, i in zip(data.train.user.tolist(), data.train.item.tolist())}
    for user in (0, 7, 42):
        mine = sorted(i for u, i in pairs if u == user)
        torch.testing.assert_close(model.user_x[user], text[mine].mean(0), atol=1e-5, rtol=1e-5)
    full = GLEMRec(data, embedding_dim=8)
    # the processor's parameters are exactly the enhancer's plus the wider embedding layers' inputs
    removed = _n_parameters(full.enhancer) + (full.item_embed[0].in_features - model.item_embed[0].in_features) * 8 \
        + (full.user_embed[0].in_features - model.user_embed[0].in_features) * 8
    assert _n_parameters(full) - _n_parameters(model) == removed


def test_without_text_the_text_features_do_not_reach_the_output(data):
    reference = GLEMRec(data, embedding_dim=8, use_text=False, seed=0).eval()
    saved = data.features["text"]
    data.features["text"] = torch.randn_like(saved)
    try:
        other_text = GLEMRec(data, embedding_dim=8, use_text=False, seed=0).eval()
    finally:
        data.features["text"] = saved
    with torch.no_grad():
        torch.testing.assert_close(other_text.propagate().item, reference.propagate().item)
        torch.testing.assert_close(other_text.propagate().user, reference.propagate().user)


def test_without_gnn_a_node_ignores_its_neighbours(data):
    model = GLEMRec(data, embedding_dim=8, use_gnn=False, seed=0).eval()
    with torch.no_grad():
        emb = model.propagate()
        rewired = model.propagate(edge_index=torch.tensor([[0], [0]]))             # one edge only
        torch.testing.assert_close(rewired.item, emb.item)
        torch.testing.assert_close(rewired.user, emb.user)
    with_gnn = GLEMRec(data, embedding_dim=8, seed=0).eval()
    with torch.no_grad():
        assert not torch.allclose(with_gnn.propagate(edge_index=torch.tensor([[0], [0]])).item,
                                  with_gnn.propagate().item)


@pytest.mark.parametrize("layer_norm", ["paper", "merged"])
def test_layer_is_eq3_then_eq4_from_scratch(data, layer_norm):
    """Every layer against a dense from-scratch SAGE mean aggregation and the two normalisations."""
    model = GLEMRec(data, embedding_dim=8, n_layers=2, layer_norm=layer_norm, seed=0).eval()
    user, item = data.train.user, data.train.item
    adjacency = torch.zeros(data.n_users, data.n_items)
    adjacency[user, item] = 1.0                                      # repeated pairs count once

    def layer_norm_of(norm, x):
        centred = x - x.mean(1, keepdim=True)
        return centred / (centred.square().mean(1, keepdim=True) + norm.eps).sqrt() * norm.weight + norm.bias

    def sage(conv, x_src, x_dst, a_dst_src):
        mean = a_dst_src @ x_src / a_dst_src.sum(1, keepdim=True).clamp_min(1)
        return mean @ conv.lin_l.weight.T + conv.lin_l.bias + x_dst @ conv.lin_r.weight.T

    with torch.no_grad():
        emb = model.propagate()
        x = {"user": emb.user_initial, "item": emb.item_initial}
        for j, layer in enumerate(model.layers):
            m = {"item": sage(layer.convs[("user", "rates", "item")], x["user"], x["item"], adjacency.T),
                 "user": sage(layer.convs[("item", "rev_rates", "user")], x["item"], x["user"], adjacency)}
            new = {}
            for key in x:
                summed = x[key] + torch.relu(m[key])
                if layer_norm == "paper":
                    y = layer_norm_of(model.aggregation_norms[j][key], summed)               # Eq. (3)
                    new[key] = layer_norm_of(model.norms[j][key], y + x[key])                  # Eq. (4)
                else:
                    new[key] = layer_norm_of(model.norms[j][key], summed)
            x = new
        alpha = model.initial_residual
        torch.testing.assert_close(emb.user, x["user"] + alpha * emb.user_initial, atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(emb.item, x["item"] + alpha * emb.item_initial, atol=1e-5, rtol=1e-4)
    assert hasattr(model, "aggregation_norms") == (layer_norm == "paper")


def test_trains_and_beats_mean_and_popularity():
    data = split_random(make_synthetic(images=False, reviews=False), seed=0)
    data.add_features("text", _text_features(data, 32))
    torch.manual_seed(0)
    model = GLEMRec(data, embedding_dim=32)
    history = fit(model, data, epochs=8, batch_size=1024, learning_rate=5e-3, eval_every=0, progress=False)
    assert set(history.records[0]) >= {"rating", "diversity", "personalization", "coverage", "contrastive"}
    result = evaluate_rated(model, data)
    mean_rmse = float((data.test.rating - data.train.rating.mean()).square().mean().sqrt())
    assert result["rmse"] < 0.88 * mean_rmse
    assert result["ndcg@10"] > evaluate_rated(Popularity(data), data)["ndcg@10"]


def test_niche_tail_performance_matches_a_per_user_loop(data):
    torch.manual_seed(0)
    model = GLEMRec(data, embedding_dim=8).eval()
    got = niche_tail_performance(model, data, k=3)
    pairs = torch.unique(data.train.user * data.n_items + data.train.item)
    tail = popularity_groups(torch.bincount(pairs % data.n_items, minlength=data.n_items)) == 2
    test = data.test
    pred = model.predict(test.user, test.item)
    recalls = []
    for u in torch.unique(test.user).tolist():
        rows = torch.nonzero(test.user == u).flatten()
        relevant = (test.rating[rows] >= 4) & tail[test.item[rows]]
        if relevant.any():
            top = torch.argsort(-pred[rows], stable=True)[:3]
            recalls.append(float(relevant[top].sum() / relevant.sum()))
    assert got == pytest.approx(np.mean(recalls), abs=1e-6)
    assert 0 <= got <= 1


def test_rated_coverage_matches_a_per_user_loop(data):
    torch.manual_seed(0)
    model = GLEMRec(data, embedding_dim=8).eval()
    test = data.test
    pred = model.predict(test.user, test.item)
    covered = set()
    for u in torch.unique(test.user).tolist():
        rows = torch.nonzero(test.user == u).flatten()
        covered |= set(test.item[rows[torch.argsort(-pred[rows], stable=True)[:3]]].tolist())
    assert rated_coverage(model, data, k=3) == pytest.approx(len(covered) / data.n_items)
    assert rated_coverage(model, data, k=10_000) == pytest.approx(len(torch.unique(test.item)) / data.n_items)


def test_item_stats_block_and_popularity_weight_power(data):
    from mmrec_lite.features.item_matrix import item_feature_matrix, rating_statistics
    torch.manual_seed(0)
    plain = GLEMRec(data, embedding_dim=8).eval()
    with_stats = GLEMRec(data, embedding_dim=8, item_stats=True).eval()
    width = item_feature_matrix(data.item_meta, categories=data.item_categories).values.shape[1]
    assert with_stats.item_x.shape[1] == plain.item_x.shape[1] + 3              # [meta ‖ stats ‖ text]
    torch.testing.assert_close(with_stats.item_x[:, width:width + 3],
                               rating_statistics(data.train.item, data.train.rating, data.n_items).float())
    batch = {"user": torch.tensor([0, 1, 2]), "item": torch.tensor([4, 5, 6]), "rating": torch.tensor([5.0, 1.0, 3.0])}
    counts = data.item_popularity().float()
    for power in (0.0, 0.5):
        model = GLEMRec(data, embedding_dim=8, popularity_weight_power=power).eval()
        emb = model.propagate()
        pred = model.decode(emb.user[batch["user"]], emb.item[batch["item"]])
        omega = (counts.max() / counts[batch["item"]].clamp_min(1)) ** power       # ω_i^p
        torch.testing.assert_close(model.loss(batch)["rating"], (omega * (batch["rating"] - pred) ** 2).mean())


def test_the_model_does_not_import_the_evaluator():
    import ast
    import inspect

    import mmrec_lite.models.glem_rec as module
    imported = {node.module for node in ast.walk(ast.parse(inspect.getsource(module)))
                if isinstance(node, ast.ImportFrom) and node.module}
    assert not any(name.split(".")[-1] in ("evaluation", "rated_candidates") for name in imported), imported
