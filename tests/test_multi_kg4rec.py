"""Multi-KG4Rec: cross-modal attention shapes and switches, modality masking, the KGAT-style alternation."""
import math

import pytest
import torch
import torch.nn.functional as F

from mmrec_lite.data import make_synthetic
from mmrec_lite.data.splits import split_random
from mmrec_lite.graphs.mmkg import single_modal_features
from mmrec_lite.models.multi_kg4rec import CrossModalBlock, MultiKG4Rec

SMALL = dict(embedding_dim=16, n_blocks=1, n_heads=4, ffn_dim=16, n_neighbours=6, layer_dims=(8,), kg_batch_size=100000)


@pytest.fixture(scope="module")
def toy():
    data = split_random(make_synthetic(n_users=40, n_items=30, n_topics=3, mean_interactions=8, images=False,
                                       reviews=False), seed=0)
    g = torch.Generator().manual_seed(0)
    n_attributes = data.kg.n_entities - data.n_items
    features = single_modal_features(data.kg, data, torch.randn(data.n_items, 12, generator=g),
                                     torch.randn(data.n_items, 10, generator=g), torch.randn(n_attributes, 10, generator=g))
    return data, features


def _streams(batch=3, length=5, dim=8):
    g = torch.Generator().manual_seed(1)
    return {"visual": torch.randn(batch, length, dim, generator=g), "text": torch.randn(batch, length, dim, generator=g)}


def test_cross_attention_shapes_and_weights():
    block = CrossModalBlock(dim=8, n_heads=2, ffn_dim=16)
    streams, pad = _streams(), torch.zeros(3, 5, dtype=torch.bool)
    pad[0, 3:] = True
    out, weights = block(streams, pad, "both")
    assert out["visual"].shape == out["text"].shape == (3, 5, 8)
    assert weights["visual"].shape == weights["text"].shape == (3, 2, 5, 10)  # queries over both modalities' keys
    torch.testing.assert_close(weights["visual"].sum(-1), torch.ones(3, 2, 5))
    assert torch.all(weights["visual"][0, :, :, [3, 4, 8, 9]] == 0)  # padded keys of both modalities get no weight
    _, one_way = block(streams, pad, "text_to_visual")
    assert one_way["text"].shape == (3, 2, 5, 10) and one_way["visual"].shape == (3, 2, 5, 5)


def test_visual_head_equals_the_written_out_formula():
    torch.manual_seed(2)
    block = CrossModalBlock(dim=4, n_heads=1, ffn_dim=8)
    streams, pad = _streams(batch=1, length=3, dim=4), torch.zeros(1, 3, dtype=torch.bool)
    out, _ = block(streams, pad, "both")
    qv, kv, vv = block.qkv["visual"](streams["visual"][0]).chunk(3, -1)
    _, kt, vt = block.qkv["text"](streams["text"][0]).chunk(3, -1)
    head = torch.softmax(qv @ torch.cat([kv, kt]).T / math.sqrt(4), -1) @ torch.cat([vv, vt])
    hidden = F.layer_norm(streams["visual"][0] + block.out["visual"](head), (4,),
                          block.norm1["visual"].weight, block.norm1["visual"].bias)
    expected = F.layer_norm(hidden + block.ffn["visual"](hidden), (4,), block.norm2["visual"].weight,
                            block.norm2["visual"].bias)
    torch.testing.assert_close(out["visual"][0], expected)


def test_one_directional_attention_removes_the_other_modality_from_a_stream():
    block = CrossModalBlock(dim=8, n_heads=2, ffn_dim=16)
    streams, pad = _streams(), torch.zeros(3, 5, dtype=torch.bool)
    changed = {"visual": streams["visual"], "text": streams["text"] + 5.0}
    # text -> visual only: the visual stream attends to itself, so the text change cannot reach it
    torch.testing.assert_close(block(streams, pad, "text_to_visual")[0]["visual"],
                               block(changed, pad, "text_to_visual")[0]["visual"])
    assert not torch.allclose(block(streams, pad, "both")[0]["visual"], block(changed, pad, "both")[0]["visual"])


def test_masking_a_modality_removes_its_influence_on_the_scores(toy):
    data, features = toy
    altered = type(features)(features.visual, features.text + torch.randn_like(features.text))
    users = torch.arange(data.n_users)
    visual_only = [MultiKG4Rec(data, f, modalities=("visual",), seed=0, **SMALL).eval() for f in (features, altered)]
    torch.testing.assert_close(visual_only[0].score(users), visual_only[1].score(users))
    both = [MultiKG4Rec(data, f, seed=0, **SMALL).eval() for f in (features, altered)]
    assert not torch.allclose(both[0].score(users), both[1].score(users))


def test_final_representation_is_visual_concat_text_and_scores_are_inner_products(toy):
    data, features = toy
    model = MultiKG4Rec(data, features, seed=0, **SMALL).eval()
    users, items = model.embeddings()
    assert users.shape == (data.n_users, 2 * (16 + 8)) and items.shape == (data.n_items, 2 * (16 + 8))
    per_graph = model.graph_embeddings()
    torch.testing.assert_close(items, torch.cat([per_graph["visual"][:data.n_items], per_graph["text"][:data.n_items]], 1))
    torch.testing.assert_close(model.score(torch.tensor([0, 3])), users[[0, 3]] @ items.T)
    share = model.modality_contributions(torch.tensor([0, 3]), torch.tensor([1, 2]))
    torch.testing.assert_close(share["visual"] + share["text"], (users[[0, 3]] * items[[1, 2]]).sum(1))
    structure = MultiKG4Rec(data, None, modalities=(), seed=0, **SMALL)
    assert list(structure.graphs) == ["structure"] and not structure.blocks


def test_kg_phase_lowers_transr_loss_and_attention_is_refreshed_per_epoch(toy):
    data, features = toy
    model = MultiKG4Rec(data, features, seed=0, **{**SMALL, "kg_batch_size": 256, "kg_learning_rate": 1e-2}).train()
    first = model.kg_epoch()
    for _ in range(5):
        last = model.kg_epoch()
    assert last < first
    model.on_epoch_start(0)
    heads = model.edge_index[0]
    sums = torch.zeros(model.n_nodes).index_add_(0, heads, model.attention_visual)
    torch.testing.assert_close(sums[torch.unique(heads)], torch.ones(len(torch.unique(heads))))
    before = model.attention_visual.clone()
    model.on_epoch_start(1)
    assert not torch.equal(before, model.attention_visual)
    terms = model.loss({"user": torch.tensor([0, 1]), "pos": torch.tensor([0, 1]), "neg": torch.tensor([2, 3])})
    assert set(terms) == {"loss", "bpr", "reg", "kg"} and terms["kg"].item() == pytest.approx(model.last_kg_loss)


def test_same_seed_same_model(toy):
    data, features = toy
    a, b = (MultiKG4Rec(data, features, seed=5, **SMALL).eval() for _ in range(2))
    torch.testing.assert_close(a.score(torch.arange(4)), b.score(torch.arange(4)))


def test_rejects_bad_arguments(toy):
    data, features = toy
    with pytest.raises(ValueError, match="cross"):
        MultiKG4Rec(data, features, cross="sideways", **SMALL)
    with pytest.raises(ValueError, match="features"):
        MultiKG4Rec(data, None, **SMALL)


@pytest.mark.parametrize("cross", ["both", "text_to_visual", "visual_to_text", "none"])
def test_fused_attention_path_and_first_query_only_match_the_written_out_path(cross):
    torch.manual_seed(5)
    block = CrossModalBlock(dim=8, n_heads=2, ffn_dim=16).eval()
    streams = _streams()
    pad = torch.zeros(3, 5, dtype=torch.bool)
    pad[1, 3:] = True  # a short sequence: padded keys must be ignored by both paths
    written, _ = block(streams, pad, cross)
    fused, no_weights = block(streams, pad, cross, need_weights=False)
    first, _ = block(streams, pad, cross, need_weights=False, n_queries=1)
    assert no_weights == {}
    for m in ("visual", "text"):
        torch.testing.assert_close(fused[m], written[m], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(first[m], written[m][:, :1], atol=1e-5, rtol=1e-5)


def test_model_fusion_equals_the_blocks_run_in_full(toy):
    data, features = toy
    model = MultiKG4Rec(data, features, **{**SMALL, "n_blocks": 2}, seed=0).eval()
    inputs = model.node_inputs()
    pad, index = model.sequence < 0, model.sequence.clamp_min(0)
    streams = {m: x[index] for m, x in inputs.items()}
    for block in model.blocks:  # every position of every block, with the written-out attention
        streams, _ = block(streams, pad, model.cross)
    fused = model.fuse(inputs)
    for m, x in inputs.items():
        torch.testing.assert_close(fused[m][:data.n_items], streams[m][:, 0], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(fused[m][data.n_items:], x[data.n_items:])
