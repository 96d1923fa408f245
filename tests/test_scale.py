"""SCALE: the semantic graph of Eq. 3–6, the loss terms of Eq. 8–13, training on synthetic data."""
import pytest
import torch
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer

from mmrec_lite.data import MissingFieldError, make_synthetic, split_random
from mmrec_lite.evaluation import evaluate_full
from mmrec_lite.features import OfflineImageEncoder
from mmrec_lite.graphs.omp import subspace_graph
from mmrec_lite.graphs.semantic import SemanticGraphs, build_semantic_graphs, combine_graphs, normalize_graph
from mmrec_lite.losses import bpr_loss, info_nce, relation_alignment_loss
from mmrec_lite.models import Popularity
from mmrec_lite.models.scale import SCALE, sample_relation_pairs
from mmrec_lite.training import fit


def with_features(data):
    """Deterministic stand-ins for the encoded profiles: TF-IDF + SVD of item text, users as the
    mean of their training items, the offline image descriptor."""
    tfidf = TfidfVectorizer().fit_transform(data.item_texts())
    item = torch.tensor(TruncatedSVD(24, random_state=0).fit_transform(tfidf), dtype=torch.float32)
    r = data.train_matrix().to_dense()
    data.add_features("text", item)
    data.add_features("text", r @ item / r.sum(1, keepdim=True).clamp(min=1), users=True)
    data.add_features("image", OfflineImageEncoder(device="cpu").encode(data.item_images))
    return data


@pytest.fixture(scope="module")
def data():
    return with_features(split_random(make_synthetic(n_users=160, n_items=100, seed=0)))


@pytest.fixture(scope="module")
def graphs(data):
    return SCALE.build_graphs(data, k_s=40, k_o=5, k_f=3)


def sparse(dense):
    return torch.tensor(dense, dtype=torch.float32).to_sparse()


@pytest.fixture
def toy():
    """2 users, 3 items; every graph written out by hand."""
    sag = {"C_U": sparse([[0, 1], [1, 0]]), "C_I": sparse([[0, 1, 1], [1, 0, 0], [0, 1, 0]]),
           "C_UI": sparse([[1, 1, 0], [0, 0, 1]])}
    fsg = {"G_U": sparse([[0, 1], [0, 0]]), "G_UI": sparse([[1, 0, 0], [0, 1, 1]]),
           "G_I_t": sparse([[0, 1, 0], [1, 0, 0], [1, 0, 0]]), "G_I_v": sparse([[0, 1, 1], [0, 0, 1], [1, 0, 0]])}
    return SemanticGraphs(sag, fsg)


def test_eq6_intersection_and_union_by_hand(toy):
    and_graph = torch.tensor([[0, 1, 1, 0, 0],    # u0: C_U∧G_U = {u1}; C_UI∧G_UI = {i0}
                              [0, 0, 0, 0, 1],    # u1: {} and {i2}
                              [1, 0, 0, 1, 0],    # i0: (C_UI)ᵀ∧G_UIᵀ = {u0}; C_I∧G_v∧G_t = {i1}
                              [0, 0, 0, 0, 0],    # i1: nothing survives
                              [0, 1, 0, 0, 0]], dtype=torch.float32)   # i2: {u1}; C_I row {i1} ∧ {i0} = {}
    assert torch.equal(toy.unified("and").to_dense(), and_graph)
    or_graph = toy.unified("or").to_dense()
    assert torch.equal(or_graph[:2, :2], torch.tensor([[0.0, 1], [1, 0]]))
    assert torch.equal(or_graph[:2, 2:], torch.tensor([[1.0, 1, 0], [0, 1, 1]]))
    assert torch.equal(or_graph[2:, 2:], torch.tensor([[0.0, 1, 1], [1, 0, 1], [1, 1, 0]]))
    assert torch.equal(or_graph[2:, :2], or_graph[:2, 2:].T)


def test_density_report_by_hand(toy):
    report = toy.density("and").set_index("graph")
    assert report.loc["C_U", "edges"] == 2 and report.loc["C_U", "density"] == 0.5
    assert report.loc["G_I (v⊕t)", "edges"] == 2                      # (0,1) and (2,0)
    assert report.loc["C_I and G_I (v⊕t)", "edges"] == 1              # (0,1)
    assert report.loc["C_U and G_U", "empty rows"] == 0.5
    assert report.loc["unified (and)", "edges"] == 6
    assert report.loc["unified (and)", "density"] == pytest.approx(6 / 25)


def test_ablation_switches_shape_the_blocks(toy):
    no_inter = toy.unified(inter_entity=False).to_dense()
    assert no_inter[:2, 2:].sum() == 0 and no_inter[2:, :2].sum() == 0
    no_intra = toy.unified(intra_entity=False).to_dense()
    assert no_intra[:2, :2].sum() == 0 and no_intra[2:, 2:].sum() == 0
    only_sag = toy.unified(use_fsg=False).to_dense()
    assert torch.equal(only_sag[2:, 2:], toy.sag["C_I"].to_dense())
    only_fsg = toy.unified(use_sag=False).to_dense()
    assert torch.equal(only_fsg[:2, 2:], toy.fsg["G_UI"].to_dense())
    with pytest.raises(ValueError, match="combine"):
        toy.unified("xor")


def test_combine_graphs_is_logical_and_or():
    a, b = sparse([[1, 0, 1], [0, 1, 0]]), sparse([[1, 1, 0], [0, 1, 0]])
    assert torch.equal(combine_graphs(a, b, "and").to_dense(), torch.tensor([[1.0, 0, 0], [0, 1, 0]]))
    assert torch.equal(combine_graphs(a, b, "or").to_dense(), torch.tensor([[1.0, 1, 1], [0, 1, 0]]))


def test_normalize_graph_uses_row_degrees():
    g = sparse([[0, 1, 1], [1, 0, 0], [0, 0, 0]])
    out = normalize_graph(g).to_dense()
    inv = torch.tensor([2.0, 1.0, 1.0]).rsqrt()                        # row degrees 2, 1, 0 (clamped to 1)
    assert torch.allclose(out, g.to_dense() * inv[:, None] * inv[None, :])
    sym = normalize_graph(g, symmetrize=True).to_dense()
    assert torch.equal(sym > 0, torch.tensor([[False, True, True], [True, False, False], [True, False, False]]))


def test_build_semantic_graphs_matches_its_parts(data):
    user, item, image = data.user_features["text"], data.features["text"], data.features["image"]
    graphs = build_semantic_graphs(user, item, image, k_s=30, k_o=4, k_f=3)
    assert torch.equal(graphs.sag["C_UI"].to_dense(), subspace_graph(user, 30, 4, atoms=item).to_dense())
    assert torch.equal(graphs.sag["C_I"].to_dense(), subspace_graph(item, 30, 4).to_dense())
    for name, graph in graphs.fsg.items():
        assert graph.to_dense().sum(1).eq(3).all(), name
    assert graphs.fsg["G_I_v"].to_dense().diagonal().sum() == 0
    assert "G_I_v" not in build_semantic_graphs(user, item, k_s=30, k_o=4, k_f=3).fsg


def test_relation_pairs_are_edges_and_negatives_are_not():
    graph = sparse([[0, 1, 1, 0], [1, 0, 0, 0], [0, 0, 0, 1], [1, 1, 0, 0]])
    edges = graph.coalesce().indices()
    torch.manual_seed(0)
    anchor, positive, negatives = sample_relation_pairs(edges, 4, n_pairs=200, n_negatives=3)
    dense = graph.to_dense().bool()
    assert dense[anchor, positive].all()
    assert not dense[anchor.unsqueeze(1), negatives].any()
    assert not (negatives == anchor.unsqueeze(1)).any()
    assert negatives.shape == (200, 3)
    with pytest.raises(ValueError, match="no negative"):
        sample_relation_pairs(sparse([[0, 1, 1], [1, 0, 0], [0, 1, 0]]).coalesce().indices(), 3, 5)


def test_scale_loss_terms_are_the_losses_of_eq_8_to_13(data, graphs):
    model = SCALE(data, embedding_dim=16, graphs=graphs, n_negatives=2)
    batch = {"user": torch.tensor([0, 1, 1, 5]), "pos": torch.tensor([3, 4, 4, 9]), "neg": torch.tensor([7, 8, 2, 1])}
    torch.manual_seed(1)
    terms = model.loss(batch)
    torch.manual_seed(1)
    h_tilde, h_hat = model.propagate()
    h = h_tilde + h_hat
    users, items = h[:data.n_users], h[data.n_users:]
    user = users[batch["user"]]
    bpr = bpr_loss((user * items[batch["pos"]]).sum(1), (user * items[batch["neg"]]).sum(1))
    u, i = torch.tensor([0, 1, 5]), torch.tensor([3, 4, 9]) + data.n_users
    align_s = info_nce(h_tilde[u], h_hat[u], 0.6) + info_nce(h_tilde[i], h_hat[i], 0.6)
    align_r = 0
    for name, (a_table, t_table) in {"C_U": (users, users), "C_I": (items, items), "C_UI": (users, items)}.items():
        edges = model.graphs.sag[name].coalesce().indices()
        a, p, v = sample_relation_pairs(edges, len(t_table), 4, 2, same_type=name != "C_UI")
        align_r = align_r + relation_alignment_loss(a_table[a], t_table[p], t_table[v], 0.2)
    assert torch.allclose(terms["bpr"], bpr)
    assert torch.allclose(terms["align_s"], align_s)
    assert torch.allclose(terms["align_r"], align_r)
    assert torch.allclose(terms["loss"], bpr + 1e-2 * align_s + 5e-2 * align_r)
    no_alignment = SCALE(data, embedding_dim=16, graphs=model.graphs, semantic_alignment=False,
                         relation_alignment=False)
    assert set(no_alignment.loss(batch)) == {"loss", "bpr"}


def test_pruning_each_epoch_and_full_graph_in_eval(data, graphs):
    model = SCALE(data, embedding_dim=16, graphs=graphs)
    model.on_epoch_start(1)
    kept = model.train_adjacency._nnz() // 2
    assert kept == int(len(model.edge_user) * (1 - 0.6))
    model.eval()
    assert torch.equal(model.score(torch.arange(4)), model.score(torch.arange(4)))
    h_tilde, _ = model.propagate()
    model.train()
    assert not torch.allclose(model.propagate()[0], h_tilde)


def test_semantic_branch_options(data, graphs):
    separate = SCALE(data, embedding_dim=8, graphs=graphs, semantic_init="separate", symmetrize=True)
    _, h_hat = separate.propagate()
    assert torch.allclose(h_hat, torch.sparse.mm(separate.semantic_adjacency, separate.semantic_embedding.weight))
    assert torch.equal(separate.semantic_adjacency.to_dense() > 0, separate.semantic_adjacency.to_dense().T > 0)
    no_layers = SCALE(data, embedding_dim=8, graphs=graphs, n_semantic_layers=0)
    z = torch.cat([no_layers.user_embedding.weight, no_layers.item_embedding.weight])
    assert torch.equal(no_layers.propagate()[1], z)
    with pytest.raises(ValueError, match="semantic_init"):
        SCALE(data, graphs=graphs, semantic_init="text")


def test_scale_trains_and_beats_popularity(data):
    model = SCALE(data, embedding_dim=32, k_s=60, k_o=8, k_f=5)
    history = fit(model, data, epochs=4, batch_size=1024, learning_rate=2e-2, eval_every=4, progress=False,
                  device="cpu")
    losses = history.to_frame()["loss"]
    assert losses.iloc[-1] < losses.iloc[0]
    popularity = evaluate_full(Popularity(data), data, "test")["recall@20"]
    assert evaluate_full(model, data, "test")["recall@20"] > popularity


def test_missing_features_are_named():
    bare = split_random(make_synthetic(n_users=40, n_items=30, mean_interactions=10, seed=1))
    with pytest.raises(MissingFieldError, match="user_features:text"):
        SCALE(bare)


def test_semantic_branch_gradient_is_the_transposed_product(data, graphs):
    model = SCALE(data, embedding_dim=8, graphs=graphs, n_semantic_layers=2)
    _, h_hat = model.propagate()
    weights = torch.randn(h_hat.shape, generator=torch.Generator().manual_seed(0))
    (h_hat * weights).sum().backward()
    z = torch.cat([model.user_embedding.weight, model.item_embedding.weight]).detach().requires_grad_()
    dense = model.semantic_adjacency.to_dense()
    assert not torch.equal(dense, dense.T)                             # Ĝ is directed
    ((dense @ (dense @ z)) * weights).sum().backward()
    grad = torch.cat([model.user_embedding.weight.grad, model.item_embedding.weight.grad])
    assert torch.allclose(grad, z.grad, atol=1e-5)


def test_propagation_is_eq7_by_hand(toy):
    """2 users, 3 items: u0 saw i0, i1; u1 saw i1, i2. Degrees u0 = u1 = i1 = 2, i0 = i2 = 1, so
    Â has 1/√2 on the edges to i0 and i2 and 1/2 on the edges to i1 (Eq. 7); Ĝ is the AND graph
    of ``toy``, normalised with its row degrees 2, 1, 2, 0 (kept at 1), 1."""
    import pandas as pd
    from mmrec_lite.data import from_dataframe
    frame = pd.DataFrame({"user": [0, 0, 1, 1], "item": [0, 1, 1, 2]})
    tiny = split_random(from_dataframe(frame), ratios=(1.0, 0.0, 0.0))
    model = SCALE(tiny, embedding_dim=3, graphs=toy, prune_ratio=0.0, n_interaction_layers=2,
                  n_semantic_layers=1, seed=0)
    a, h = 2 ** -0.5, 0.5
    interaction = torch.tensor([[0, 0, a, h, 0], [0, 0, 0, h, a], [a, 0, 0, 0, 0], [h, h, 0, 0, 0],
                                [0, a, 0, 0, 0]])
    semantic = torch.tensor([[0, a, h, 0, 0], [0, 0, 0, 0, 1], [h, 0, 0, a, 0], [0, 0, 0, 0, 0],
                             [0, 1, 0, 0, 0]])
    z = torch.cat([model.user_embedding.weight, model.item_embedding.weight]).detach()
    h_tilde, h_hat = model.propagate()
    assert torch.allclose(h_tilde, (z + interaction @ z + interaction @ interaction @ z) / 3, atol=1e-6)
    assert torch.allclose(h_hat, semantic @ z, atol=1e-6)
    users, items = model.eval().compute_embeddings()
    assert torch.allclose(torch.cat([users, items]), h_tilde + h_hat, atol=1e-6)


def test_scale_reg_style(data, graphs):
    batch = {"user": torch.tensor([0, 1]), "pos": torch.tensor([3, 4]), "neg": torch.tensor([7, 8])}
    assert "reg" not in SCALE(data, embedding_dim=8, graphs=graphs).loss(batch)      # Eq. 13: no penalty
    for style in ("squared", "mmrec"):
        model = SCALE(data, embedding_dim=8, graphs=graphs, reg_weight=1.0, reg_style=style,
                      semantic_alignment=False, relation_alignment=False, seed=0)
        terms = model.loss(batch)
        e = (model.user_embedding(batch["user"]), model.item_embedding(batch["pos"]), model.item_embedding(batch["neg"]))
        expected = (sum(t.square().sum() for t in e) / 4 if style == "squared"
                    else sum(torch.linalg.norm(t) for t in e) / 2)
        assert torch.allclose(terms["reg"], expected, atol=1e-6)
        assert torch.allclose(terms["loss"], terms["bpr"] + terms["reg"])
