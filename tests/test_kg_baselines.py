"""CKE, KGAT, MKGAT and KGCN against hand computations of their equations."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from mmrec_lite.data import KnowledgeGraph, make_synthetic, split_random
from mmrec_lite.models import CKE, KGAT, KGCN, MKGAT
from mmrec_lite.models.kgcn import sample_neighbours
from mmrec_lite.models.mkgat import multimodal_kg
from mmrec_lite.training import fit


@pytest.fixture(scope="module")
def data():
    d = split_random(make_synthetic(n_users=40, n_items=30, n_topics=3, mean_interactions=8, seed=1), seed=1)
    generator = torch.Generator().manual_seed(0)
    d.add_features("text", torch.randn(d.n_items, 12, generator=generator))
    d.add_features("image", torch.randn(d.n_items, 10, generator=generator))
    return d


def a_batch(data, size=16):
    generator = torch.Generator().manual_seed(3)
    pick = torch.randint(len(data.train), (size,), generator=generator)
    return {"user": data.train.user[pick], "pos": data.train.item[pick],
            "neg": torch.randint(data.n_items, (size,), generator=generator)}


def test_kgat_without_layers_is_mf_on_the_same_weights(data):
    model = KGAT(data, embedding_dim=8, dims=(), relation_dim=4, seed=0).eval()
    nodes = model.node_embedding.weight
    users = torch.arange(data.n_users)
    expected = nodes[model.n_entities + users] @ nodes[:data.n_items].T
    torch.testing.assert_close(model.score(users), expected)


def test_kgat_attention_sums_to_one_per_head_and_matches_eq4(data):
    model = KGAT(data, embedding_dim=8, dims=(8, 4), relation_dim=4, seed=0)
    head, tail = model.edge_index
    totals = torch.zeros(model.node_embedding.num_embeddings).index_add_(0, head, model.edge_weight)
    torch.testing.assert_close(totals[torch.unique(head)], torch.ones(len(torch.unique(head))))
    # Eq. 4-5 by hand for the triples of one head
    h = int(head[0])
    mine = (head == h).nonzero().squeeze(1)
    x, prop = model.node_embedding.weight.detach(), model.propagation
    logits = torch.stack([(prop.relation_projection[r] @ x[t]) @ torch.tanh(prop.relation_projection[r] @ x[h]
                                                                           + prop.relation_embedding[r])
                          for r, t in zip(model.edge_type[mine].tolist(), tail[mine].tolist())])
    torch.testing.assert_close(model.edge_weight[mine], torch.softmax(logits.detach(), 0), rtol=1e-5, atol=1e-6)


def test_kgat_loss_terms(data):
    model = KGAT(data, embedding_dim=8, dims=(8,), relation_dim=4, message_dropout=0.0, seed=0)
    batch = a_batch(data)
    terms = model.loss(batch)
    users, items = model.compute_embeddings()
    u, p, n = users[batch["user"]], items[batch["pos"]], items[batch["neg"]]
    bpr = -F.logsigmoid((u * p).sum(1) - (u * n).sum(1)).mean()
    torch.testing.assert_close(terms["bpr"], bpr)
    assert set(terms) == {"loss", "bpr", "reg", "kg"}
    torch.testing.assert_close(terms["loss"], terms["bpr"] + terms["reg"])  # L_KG is a record, optimised in its phase


def test_kgat_fit_history_records_each_epochs_kg_phase(data):
    model = KGAT(data, embedding_dim=8, dims=(8,), relation_dim=4, kg_batch_size=64, kg_learning_rate=1e-2, seed=0)
    phases = []
    original = model.kg_epoch
    model.kg_epoch = lambda: phases.append(original()) or phases[-1]
    frame = fit(model, data, epochs=3, batch_size=64, learning_rate=1e-2, eval_every=None, device="cpu",
                progress=False).to_frame()
    assert frame["kg"].tolist() == pytest.approx(phases) and len(phases) == 3
    assert phases[-1] < phases[0]


def test_kgat_kg_phase_lowers_transr_and_refreshes_attention(data):
    model = KGAT(data, embedding_dim=8, dims=(8,), relation_dim=4, kg_batch_size=64, kg_learning_rate=1e-2, seed=0)
    before = model.edge_weight.clone()
    all_triples = torch.arange(model.edge_index.shape[1])
    torch.manual_seed(5)
    first = model.kg_loss(all_triples).item()
    for epoch in range(1, 6):
        model.on_epoch_start(epoch)
    torch.manual_seed(5)
    assert model.kg_loss(all_triples).item() < first
    assert not torch.allclose(model.edge_weight, before)


def test_cke_loss_is_bpr_plus_transr_by_hand(data):
    model = CKE(data, embedding_dim=6, relation_dim=5, modalities=(), reg_weight=0.01, kg_weight=0.5, seed=0)
    batch = a_batch(data)
    torch.manual_seed(11)
    terms = model.loss(batch)
    torch.manual_seed(11)
    triples = data.kg.triples
    pick = torch.randint(len(triples), (len(batch["user"]),))
    corrupted = torch.randint(data.kg.n_entities, (len(batch["user"]),))
    ent, user = model.entity_embedding.weight, model.user_embedding.weight
    item = model.item_offset.weight + ent[:data.n_items]
    u, p, n = user[batch["user"]], item[batch["pos"]], item[batch["neg"]]
    bpr = -torch.log(torch.sigmoid((u * p).sum(1) - (u * n).sum(1))).mean()
    reg = 0.01 * (u.square().sum() + p.square().sum() + n.square().sum()) / 2 / len(u)
    h, r, t = triples[pick].T
    w, e_r = model.relations.relation_projection[r], model.relations.relation_embedding[r]

    def g(head, tail):  # ||W_r e_h + e_r - W_r e_t||^2, written out
        return ((w @ ent[head].unsqueeze(-1)).squeeze(-1) + e_r - (w @ ent[tail].unsqueeze(-1)).squeeze(-1)).square().sum(1)

    transr = -torch.log(torch.sigmoid(g(h, corrupted) - g(h, t))).mean()
    torch.testing.assert_close(terms["bpr"], bpr)
    torch.testing.assert_close(terms["kg"], transr)
    torch.testing.assert_close(terms["loss"], bpr + reg + 0.5 * transr)


def test_cke_item_vector_adds_the_autoencoder_codes(data):
    model = CKE(data, embedding_dim=6, modalities=("text", "image"), seed=0).eval()
    _, item = model.compute_embeddings()
    expected = model.item_offset.weight + model.entity_embedding.weight[:data.n_items]
    for name in ("text", "image"):
        expected = expected + torch.sigmoid(model.autoencoders[name].encoder(data.features[name]))
    torch.testing.assert_close(item, expected)


def test_mkgat_adds_one_node_per_item_and_modality(data):
    kg = multimodal_kg(data, ("text", "image"))
    base = data.kg.n_entities
    assert kg.n_entities == base + 2 * data.n_items
    assert kg.relation_names[-2:] == ["has_text", "has_image"]
    text_triples = kg.triples[kg.triples[:, 1] == data.kg.n_relations]
    assert text_triples.tolist() == [[i, data.kg.n_relations, base + i] for i in range(data.n_items)]
    model = MKGAT(data, embedding_dim=8, dims=(8, 4), seed=0)
    nodes = model.node_embeddings()
    assert nodes.shape == (base + 2 * data.n_items + data.n_users, 8)
    torch.testing.assert_close(nodes[base:base + data.n_items], model.encoders["text"](data.features["text"]))
    users, items = model.eval().compute_embeddings()
    assert users.shape == (data.n_users, 8 + 8 + 4) and items.shape == (data.n_items, 20)


@pytest.mark.parametrize("aggregator", ["add", "concat"])
def test_mkgat_layer_matches_the_triple_message_form(data, aggregator):
    model = MKGAT(data, embedding_dim=8, dims=(6,), aggregator=aggregator, seed=0)
    layer, x, rel = model.layers[0], model.node_embeddings().detach(), model.relation_embedding.weight.detach()
    head, tail = model.edge_index
    with torch.no_grad():
        # e(h, r, t) = W_1 (e_h ‖ e_r ‖ e_t) as one [E, d] message per triple, then Sec. 4.2 literally
        w1 = torch.cat([layer.head.weight, layer.relation.weight, layer.tail.weight], 1)
        message = torch.cat([x[head], rel[model.edge_type], x[tail]], 1) @ w1.T + layer.relation.bias
        logits = F.leaky_relu(message @ layer.score.weight.squeeze(0), 0.2)
        expected_agg = torch.zeros(len(x), 6)
        for h in torch.unique(head).tolist():
            mine = head == h
            expected_agg[h] = (torch.softmax(logits[mine], 0).unsqueeze(1) * message[mine]).sum(0)
        combined = (layer.combine(torch.cat([x, expected_agg], 1)) if aggregator == "concat"
                    else layer.combine(x) + expected_agg)
        torch.testing.assert_close(layer(x, rel, model.edge_index, model.edge_type), F.leaky_relu(combined, 0.2),
                                   rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("aggregator", ["add", "concat"])
def test_mkgat_trains_a_step(data, aggregator):
    model = MKGAT(data, embedding_dim=8, dims=(8,), aggregator=aggregator, seed=0)
    terms = model.loss(a_batch(data))
    terms["loss"].backward()
    assert model.layers[0].score.weight.grad.abs().sum() > 0  # the attention is trained
    assert set(terms) == {"loss", "bpr", "reg", "kg"}


def test_sample_neighbours_draws_true_neighbours_and_self_for_isolated():
    edge_index = torch.tensor([[0, 0, 1, 3], [1, 2, 0, 1]])
    edge_type = torch.tensor([0, 1, 2, 0])
    entity, relation = sample_neighbours(edge_index, edge_type, 4, 5, self_relation=9,
                                         generator=torch.Generator().manual_seed(0))
    true = {(0, 1, 0), (0, 2, 1), (1, 0, 2), (3, 1, 0)}
    for e in (0, 1, 3):
        assert all((e, int(n), int(r)) in true for n, r in zip(entity[e], relation[e]))
    assert entity[2].tolist() == [2] * 5 and relation[2].tolist() == [9] * 5
    assert set(entity[0].tolist()) == {1, 2}  # both neighbours show up in 5 draws with this seed


def kgcn_by_hand(model, u, v):
    """KGCN Algorithm 1 with Python recursion: Eq. 1-4, ReLU inside, tanh at the last iteration."""
    user, E, R = model.user_embedding.weight[u], model.entity_embedding.weight, model.relation_embedding.weight

    def represent(entity, iteration):
        """Entity vector after `iteration` aggregations (Algorithm 1, line 8)."""
        if iteration == 0:
            return E[entity]
        neighbours = model.neighbour_entity[entity].tolist()
        relations = model.neighbour_relation[entity].tolist()
        weights = torch.softmax(torch.stack([user @ R[r] for r in relations]), 0)
        mixed = sum(w * represent(n, iteration - 1) for w, n in zip(weights, neighbours))
        linear = model.aggregators[iteration - 1]                  # W_h of iteration h
        act = torch.tanh if iteration == model.n_hops else torch.relu
        return act(linear(represent(entity, iteration - 1) + mixed))

    return user @ represent(v, model.n_hops)


@pytest.mark.parametrize("n_hops", [1, 2])
def test_kgcn_scores_match_algorithm_1_by_hand(data, n_hops):
    model = KGCN(data, embedding_dim=6, n_hops=n_hops, n_neighbours=3, seed=0).eval()
    users = torch.tensor([0, 5])
    scores = model.score(users)
    with torch.no_grad():
        for row, u in enumerate(users.tolist()):
            for v in (0, 7, data.n_items - 1):
                torch.testing.assert_close(scores[row, v], kgcn_by_hand(model, u, v), rtol=1e-5, atol=1e-6)


def test_kgcn_score_chunks_agree(data):
    model = KGCN(data, embedding_dim=6, n_hops=2, n_neighbours=3, seed=0).eval()
    users = torch.arange(data.n_users)
    whole = model.score(users)
    model.score_chunk_elements = 1  # one user per chunk
    torch.testing.assert_close(model.score(users), whole)


def test_kgcn_loss_is_the_log_loss_of_eq7(data):
    model = KGCN(data, embedding_dim=6, n_hops=1, n_neighbours=3, reg_weight=0.0, seed=0)
    batch = a_batch(data)
    terms = model.loss(batch)
    scores = model.score(batch["user"])
    rows = torch.arange(len(batch["user"]))
    pos, neg = scores[rows, batch["pos"]], scores[rows, batch["neg"]]
    expected = (-F.logsigmoid(pos) - F.logsigmoid(-neg)).mean()
    torch.testing.assert_close(terms["loss"], expected)


def test_models_need_a_kg(data):
    from dataclasses import replace
    bare = replace(data, kg=None)
    for cls in (KGAT, CKE, MKGAT, KGCN):
        with pytest.raises(Exception, match="kg"):
            cls(bare)


def test_kgcn_handles_kg_with_isolated_items(data):
    from dataclasses import replace
    kg = KnowledgeGraph(torch.tensor([[0, 0, data.n_items]]), list(data.kg.entity_names[:data.n_items + 1]), ["r"])
    model = KGCN(replace(data, kg=kg), embedding_dim=4, n_hops=2, n_neighbours=2, seed=0).eval()
    assert torch.isfinite(model.score(torch.arange(3))).all()
