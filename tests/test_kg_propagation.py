"""TransR score and loss against their formulas; knowledge-aware attention and Bi-Interaction propagation."""
import math

import pytest
import torch
import torch.nn.functional as F

from mmrec_lite.graphs import KnowledgeAwarePropagation, knowledge_attention
from mmrec_lite.graphs.kg_propagation import attention_adjacency
from mmrec_lite.losses import transr_loss, transr_score


def test_transr_score_matches_the_formula_by_hand():
    head = torch.tensor([[1.0, 0.0]])
    tail = torch.tensor([[0.0, 1.0]])
    relation = torch.tensor([[0.5, 0.5, 0.5]])
    projection = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]])  # W_r, k=3, d=2
    # W_r e_h = (1, 0, 1); W_r e_t = (0, 1, 1); + e_r -> (1.5, -0.5, 0.5): squared norm 2.75
    assert transr_score(head, relation, tail, projection).item() == pytest.approx(2.75)


def test_transr_score_matches_a_per_triple_loop():
    torch.manual_seed(0)
    head, tail, relation, projection = torch.randn(5, 4), torch.randn(5, 4), torch.randn(5, 3), torch.randn(5, 3, 4)
    expected = torch.stack([(projection[i] @ head[i] + relation[i] - projection[i] @ tail[i]).square().sum()
                            for i in range(5)])
    torch.testing.assert_close(transr_score(head, relation, tail, projection), expected)


def test_transr_loss_is_the_mean_of_minus_log_sigmoid():
    pos, neg = torch.tensor([1.0, 3.0]), torch.tensor([2.0, 1.0])
    expected = (-math.log(1 / (1 + math.exp(-1.0))) - math.log(1 / (1 + math.exp(2.0)))) / 2
    assert transr_loss(pos, neg).item() == pytest.approx(expected)


def test_transr_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="transr_score"):
        transr_score(torch.zeros(2, 4), torch.zeros(2, 3), torch.zeros(2, 4), torch.zeros(2, 4, 3))
    with pytest.raises(ValueError, match="transr_loss"):
        transr_loss(torch.zeros(2), torch.zeros(3))


def test_knowledge_attention_matches_the_formula_and_sums_to_one_per_head():
    torch.manual_seed(1)
    t, d, k = 7, 4, 3
    head, tail, relation, projection = torch.randn(t, d), torch.randn(t, d), torch.randn(t, k), torch.randn(t, k, d)
    head_index = torch.tensor([0, 0, 1, 2, 2, 2, 1])
    weights = knowledge_attention(head, relation, tail, projection, head_index)
    logits = torch.stack([(projection[i] @ tail[i]) @ torch.tanh(projection[i] @ head[i] + relation[i]) for i in range(t)])
    for h in range(3):
        chosen = head_index == h
        torch.testing.assert_close(weights[chosen], torch.softmax(logits[chosen], 0))
    torch.testing.assert_close(torch.zeros(3).index_add_(0, head_index, weights), torch.ones(3))


def _toy_graph():
    # 4 nodes; relations 0 and 1; node 3 has no outgoing edge
    edge_index = torch.tensor([[0, 0, 1, 2, 2, 1], [1, 2, 0, 0, 1, 2]])
    edge_type = torch.tensor([0, 1, 0, 1, 1, 0])
    return edge_index, edge_type


def test_module_attention_equals_the_contract_function():
    torch.manual_seed(2)
    edge_index, edge_type = _toy_graph()
    module = KnowledgeAwarePropagation(n_relations=2, input_dim=4, dims=(4, 2), relation_dim=3)
    x = torch.randn(4, 4)
    head, tail = edge_index
    expected = knowledge_attention(x[head], module.relation_embedding[edge_type], x[tail],
                                   module.relation_projection[edge_type], head, num_heads=4)
    torch.testing.assert_close(module.attention(x, edge_index, edge_type), expected)


def test_bi_interaction_layers_match_a_hand_written_pass():
    torch.manual_seed(3)
    edge_index, edge_type = _toy_graph()
    module = KnowledgeAwarePropagation(n_relations=2, input_dim=4, dims=(3, 2), relation_dim=3, message_dropout=0.0)
    x = torch.randn(4, 4)
    weight = module.attention(x, edge_index, edge_type)
    out = module(x, edge_index, weight)
    assert out.shape == (4, module.output_dim) == (4, 4 + 3 + 2)
    dense = torch.zeros(4, 4)
    dense[edge_index[0], edge_index[1]] = weight  # one edge per (head, tail) pair in the toy graph
    layer, expected = x, [x]
    for w1, w2 in zip(module.sum_layers, module.product_layers):
        neighbourhood = dense @ layer
        layer = F.normalize(F.leaky_relu(w1(layer + neighbourhood), 0.2) + F.leaky_relu(w2(layer * neighbourhood), 0.2), dim=1)
        expected.append(layer)
    torch.testing.assert_close(out, torch.cat(expected, 1))


def test_module_transr_score_equals_the_contract_function():
    torch.manual_seed(4)
    module = KnowledgeAwarePropagation(n_relations=3, input_dim=4, dims=(2,), relation_dim=3)
    head, tail, relation = torch.randn(6, 4), torch.randn(6, 4), torch.tensor([0, 2, 1, 0, 2, 2])
    expected = transr_score(head, module.relation_embedding[relation], tail, module.relation_projection[relation])
    torch.testing.assert_close(module.transr_score(head, relation, tail), expected)


def _index_add_propagation(module, x, edge_index, weight):
    """The edge-list formula e_N(h) = Σ π̃(h, r, t) e_t with one index_add_ (the pre-CSR code)."""
    head, tail = edge_index
    layers, layer = [x], x
    for w1, w2 in zip(module.sum_layers, module.product_layers):
        neighbourhood = torch.zeros_like(layer).index_add_(0, head, layer.index_select(0, tail) * weight.unsqueeze(1))
        layer = F.normalize(F.leaky_relu(w1(layer + neighbourhood), 0.2) + F.leaky_relu(w2(layer * neighbourhood), 0.2), dim=1)
        layers.append(layer)
    return torch.cat(layers, 1)


def test_sparse_attention_matrix_propagation_equals_the_edge_list_formula_with_gradients():
    torch.manual_seed(6)
    n, e = 30, 200
    edge_index = torch.randint(n, (2, e))
    edge_index[:, 1] = edge_index[:, 0]  # a repeated (h, t) pair: its two weights must add up
    edge_type = torch.randint(3, (e,))
    module = KnowledgeAwarePropagation(n_relations=3, input_dim=6, dims=(5, 4), relation_dim=4, message_dropout=0.0)
    weight = module.attention(torch.randn(n, 6), edge_index, edge_type).detach()
    x = torch.randn(n, 6, requires_grad=True)
    x_ref = x.detach().clone().requires_grad_()
    adjacency = attention_adjacency(edge_index, weight, n)
    out, expected = module.propagate(x, adjacency), _index_add_propagation(module, x_ref, edge_index, weight)
    torch.testing.assert_close(out, expected)
    probe = torch.randn_like(out)
    (out * probe).sum().backward()
    (expected * probe).sum().backward()
    torch.testing.assert_close(x.grad, x_ref.grad)
    torch.testing.assert_close(module(x.detach(), edge_index, weight), expected.detach())
    dense = torch.zeros(n, n).index_put_((edge_index[0], edge_index[1]), weight, accumulate=True)
    torch.testing.assert_close(adjacency.matrix.to_dense(), dense)
    torch.testing.assert_close(adjacency.transposed.to_dense(), dense.T)


def test_attention_adjacency_rejects_mismatched_weights():
    with pytest.raises(ValueError, match="attention_adjacency"):
        attention_adjacency(torch.zeros(2, 5, dtype=torch.long), torch.ones(4), 3)
