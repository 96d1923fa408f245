"""LGMRec: the hypergraph step and the contrast against hand computations, the local embeddings."""
import pytest
import torch
import torch.nn.functional as F

from mmrec_lite.data import make_synthetic, split_random
from mmrec_lite.evaluation import evaluate_full
from mmrec_lite.models import LGMRec, Popularity
from mmrec_lite.models.lgmrec import hyperedge_contrast, hypergraph_layer
from mmrec_lite.training import fit


@pytest.fixture(scope="module")
def data():
    data = split_random(make_synthetic(n_users=120, n_items=80, seed=0))
    generator = torch.Generator().manual_seed(0)
    data.add_features("text", torch.randn(data.n_items, 12, generator=generator))
    data.add_features("image", torch.randn(data.n_items, 10, generator=generator))
    return data


def test_hypergraph_layer_by_hand():
    # 3 items, 2 users, 2 hyperedges, 1-d embeddings
    h_items = torch.tensor([[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]])
    h_users = torch.tensor([[0.25, 0.75], [1.0, 0.0]])
    e_items = torch.tensor([[2.0], [4.0], [6.0]])
    # hyperedge embeddings: edge 0 = 1*2 + 0.5*4 = 4; edge 1 = 0.5*4 + 1*6 = 8
    users, items = hypergraph_layer(h_items, h_users, e_items)
    assert torch.allclose(items, torch.tensor([[4.0], [6.0], [8.0]]))
    assert torch.allclose(users, torch.tensor([[7.0], [4.0]]))
    # a second layer starts from the new item embeddings: edges 4 + 3 = 7 and 3 + 8 = 11
    users, items = hypergraph_layer(h_items, h_users, e_items, n_layers=2)
    assert torch.allclose(users, torch.tensor([[0.25 * 7 + 0.75 * 11], [7.0]]))


def test_hyperedge_contrast_by_loops():
    generator = torch.Generator().manual_seed(1)
    anchor, candidates = torch.randn(3, 4, generator=generator), torch.randn(5, 4, generator=generator)
    rows = torch.tensor([0, 2, 4])
    expected = 0.0
    for b, row in enumerate(rows):
        s = [F.cosine_similarity(anchor[b], c, dim=0) / 0.2 for c in candidates]
        expected += -torch.log(torch.exp(s[row]) / sum(torch.exp(v) for v in s))
    assert torch.allclose(hyperedge_contrast(anchor, candidates[rows], candidates, 0.2), expected, atol=1e-5)


def test_eval_embeddings_follow_the_equations(data):
    model = LGMRec(data, embedding_dim=8, n_hyperedges=3, seed=0).eval()
    users, items = model.compute_embeddings()
    adjacency = model.adjacency.to_dense()
    ids = torch.cat([model.user_embedding.weight, model.item_embedding.weight])
    collaborative = (ids + adjacency @ ids + adjacency @ adjacency @ ids) / 3
    r = torch.zeros(data.n_users, data.n_items)
    r[data.train.user, data.train.item] = 1.0
    local, global_ = collaborative.clone(), 0
    for m, name in enumerate(["image", "text"]):
        x = data.features[name].float()
        f_items = x @ model.projections[m]
        f_users = r @ f_items / r.sum(1, keepdim=True).clamp(min=1)
        local = local + F.normalize(adjacency @ adjacency @ torch.cat([f_users, f_items]), dim=1)
        h_items = torch.softmax(x @ model.hyperedges[m] / 0.2, dim=1)
        h_users = torch.softmax(r @ x @ model.hyperedges[m] / 0.2, dim=1)
        edges = h_items.T @ collaborative[data.n_users:]
        global_ = global_ + torch.cat([h_users @ edges, h_items @ edges])
    final = local + 0.3 * F.normalize(global_, dim=1)
    assert torch.allclose(users, final[:data.n_users], atol=1e-5)
    assert torch.allclose(items, final[data.n_users:], atol=1e-5)


def test_loss_terms_and_single_modality(data):
    batch = {"user": torch.tensor([0, 1, 2]), "pos": torch.tensor([3, 4, 5]), "neg": torch.tensor([6, 7, 8])}
    terms = LGMRec(data, embedding_dim=8, seed=0).loss(batch)
    assert set(terms) == {"loss", "bpr", "reg", "hyper_cl"}
    assert torch.allclose(terms["loss"], terms["bpr"] + terms["reg"] + 1e-4 * terms["hyper_cl"])
    single = LGMRec(data, embedding_dim=8, features=("text",), seed=0).loss(batch)
    assert "hyper_cl" not in single and torch.allclose(single["loss"], single["bpr"] + single["reg"])


def test_lgmrec_trains_and_beats_popularity(data):
    model = LGMRec(data, embedding_dim=16, seed=0)
    fit(model, data, epochs=15, batch_size=256, learning_rate=1e-2, seed=0, progress=False)
    assert evaluate_full(model, data, "test")["recall@20"] > evaluate_full(Popularity(data), data, "test")["recall@20"]


def test_interaction_product_gradient_is_the_transposed_product(data):
    model = LGMRec(data, embedding_dim=4, seed=0)
    x = torch.randn(data.n_items, 3, generator=torch.Generator().manual_seed(2), requires_grad=True)
    weights = torch.randn(data.n_users, 3, generator=torch.Generator().manual_seed(3))
    (model.interaction_product(x) * weights).sum().backward()
    dense = model.interactions.to_dense()
    assert torch.allclose(x.grad, dense.T @ weights, atol=1e-5)
