"""LATTICE: the learned item–item graph against its formula, the convolution, the training schedule."""
import pytest
import torch
import torch.nn.functional as F

from mmrec_lite.data import make_synthetic, split_random
from mmrec_lite.evaluation import evaluate_full
from mmrec_lite.features import OfflineImageEncoder
from mmrec_lite.models import LATTICE, Popularity
from mmrec_lite.models.lattice import apply_neighbourhood, knn_neighbourhood
from mmrec_lite.training import fit


@pytest.fixture(scope="module")
def data():
    data = split_random(make_synthetic(n_users=120, n_items=80, seed=0))
    generator = torch.Generator().manual_seed(0)
    data.add_features("text", torch.randn(data.n_items, 12, generator=generator))
    data.add_features("image", OfflineImageEncoder(device="cpu").encode(data.item_images))
    return data


def dense_knn_graph(x: torch.Tensor, k: int) -> torch.Tensor:
    """D^{-1/2} kNN_k(cos(x)) D^{-1/2} as a dense matrix, computed the obvious way."""
    similarity = F.normalize(x, dim=1) @ F.normalize(x, dim=1).T
    kept = torch.zeros_like(similarity)
    top = similarity.topk(k, dim=1)
    kept.scatter_(1, top.indices, top.values)
    degree = kept.sum(1)
    return kept / degree.sqrt()[:, None] / degree.sqrt()[None, :]


def to_dense(indices: torch.Tensor, weights: torch.Tensor, n: int) -> torch.Tensor:
    return torch.zeros(n, n).scatter_add_(1, indices, weights)


def test_knn_neighbourhood_by_hand():
    x = torch.tensor([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0]])
    indices, weights = knn_neighbourhood(x, k=2)
    # cosines: s01 = 0.8, s02 = 0, s12 = 0.6; each row keeps itself (1) and its best other
    kept = torch.tensor([[1.0, 0.8, 0.0], [0.8, 1.0, 0.0], [0.0, 0.6, 1.0]])
    degree = torch.tensor([1.8, 1.8, 1.6])
    expected = kept / degree.sqrt()[:, None] / degree.sqrt()[None, :]
    assert torch.allclose(to_dense(indices, weights, 3), expected, atol=1e-6)


def test_learned_graph_and_convolution_equal_the_formula(data):
    torch.manual_seed(0)
    model = LATTICE(data, embedding_dim=8, feat_embed_dim=6, knn_k=4, lambda_coeff=0.7, n_item_layers=2)
    with torch.no_grad():
        model.modal_weight.copy_(torch.tensor([0.3, -0.4]))
    n = data.n_items
    alpha = torch.softmax(torch.tensor([0.3, -0.4]), dim=0)
    mixed = torch.zeros(n, n)
    for m, name in enumerate(["image", "text"]):
        x = data.features[name].float()
        transformed = x @ model.transforms[str(m)].weight.T + model.transforms[str(m)].bias
        learned = dense_knn_graph(transformed, 4)
        assert torch.allclose(to_dense(*model.learned_graphs()[m], n), learned, atol=1e-5)
        mixed += alpha[m] * (0.3 * learned + 0.7 * dense_knn_graph(x, 4))
    expected_h = mixed @ (mixed @ model.item_embedding.weight)
    assert torch.allclose(model.item_convolution(model.learned_graphs()), expected_h, atol=1e-5)
    model.eval()
    users, items = model.compute_embeddings()
    layer = torch.cat([model.user_embedding.weight, model.item_embedding.weight])
    one = torch.sparse.mm(model.adjacency, layer)
    mean = (layer + one + torch.sparse.mm(model.adjacency, one)) / 3
    assert torch.allclose(users, mean[:data.n_users], atol=1e-5)
    assert torch.allclose(items, mean[data.n_users:] + F.normalize(expected_h, dim=1), atol=1e-5)


def test_learned_graph_gets_gradients_once_per_epoch(data):
    model = LATTICE(data, embedding_dim=8, features=("text",))
    batch = {"user": torch.tensor([0, 1]), "pos": torch.tensor([2, 3]), "neg": torch.tensor([4, 5])}
    model.on_epoch_start(1)
    model.loss(batch)["loss"].backward()
    assert model.transforms["0"].weight.grad.abs().sum() > 0      # first batch: through the graph
    model.zero_grad()
    model.loss(batch)["loss"].backward()                            # later batches: detached graph
    assert model.transforms["0"].weight.grad is None or model.transforms["0"].weight.grad.abs().sum() == 0


def test_neighbour_lists_apply_like_the_dense_matrix():
    indices = torch.tensor([[0, 2], [1, 0], [2, 1]])
    weights = torch.tensor([[0.5, 0.25], [1.0, -1.0], [2.0, 0.0]])
    x = torch.arange(6.0).view(3, 2)
    assert torch.allclose(apply_neighbourhood(indices, weights, x), to_dense(indices, weights, 3) @ x)


def test_reg_styles_differ_as_documented(data):
    batch = {"user": torch.tensor([0, 1]), "pos": torch.tensor([2, 3]), "neg": torch.tensor([4, 5])}
    terms = {}
    for style in ("squared", "mmrec"):
        model = LATTICE(data, embedding_dim=8, features=("text",), reg_weight=1.0, reg_style=style, seed=0)
        terms[style] = model.loss(batch)["reg"]
        users, items = model.propagate(model.learned_graphs())
        e = (users[batch["user"]], items[batch["pos"]], items[batch["neg"]])
        expected = (sum(t.square().sum() for t in e) / 2 / 2 if style == "squared"
                    else sum(torch.linalg.norm(t) for t in e) / 2)
        assert torch.allclose(terms[style], expected, atol=1e-5)


def test_lattice_trains_and_beats_popularity(data):
    model = LATTICE(data, embedding_dim=16, seed=0)
    fit(model, data, epochs=15, batch_size=256, learning_rate=1e-2, seed=0, progress=False)
    assert evaluate_full(model, data, "test")["recall@20"] > evaluate_full(Popularity(data), data, "test")["recall@20"]
