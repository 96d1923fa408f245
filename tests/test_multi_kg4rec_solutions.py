"""The reference solutions of the Multi-KG4Rec chapter's exercises, run outside the notebook against
hand-computed values and the library."""
from __future__ import annotations

import math
from pathlib import Path

import nbformat
import pytest
import torch
import torch.nn.functional as F

from mmrec_lite import losses
from mmrec_lite.graphs.mmkg import bfs_neighbours

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "04_multi_kg4rec.ipynb"


@pytest.fixture(scope="module")
def solutions() -> dict:
    namespace = {"torch": torch, "F": F, "math": math}
    for cell in nbformat.read(NOTEBOOK, as_version=4).cells:
        if cell.cell_type == "code" and "solution" in cell.metadata.get("tags", []):
            exec(compile(cell.source, f"{NOTEBOOK.name}:solution", "exec"), namespace)
    return namespace


def test_transr_by_hand(solutions):
    head, tail = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]])
    relation = torch.tensor([[0.5, 0.5, 0.5]])
    projection = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]])
    assert solutions["transr"](head, relation, tail, projection).item() == pytest.approx(2.75)
    g = torch.Generator().manual_seed(0)
    case = (torch.randn(4, 3, generator=g), torch.randn(4, 2, generator=g), torch.randn(4, 3, generator=g),
            torch.randn(4, 2, 3, generator=g))
    torch.testing.assert_close(solutions["transr"](*case), losses.transr_score(*case))


def test_head_softmax_by_hand(solutions):
    weights = solutions["head_softmax"](torch.tensor([0.0, math.log(3.0), 5.0]), torch.tensor([0, 0, 1]), 2)
    torch.testing.assert_close(weights, torch.tensor([0.25, 0.75, 1.0]))
    big = solutions["head_softmax"](torch.tensor([1000.0, 1000.0]), torch.tensor([0, 0]), 1)  # stable
    torch.testing.assert_close(big, torch.tensor([0.5, 0.5]))


def test_hop_distances_on_a_hand_made_graph(solutions):
    edge_index = torch.tensor([[0, 0, 1, 2, 3], [1, 2, 3, 4, 5]])
    assert solutions["hop_distances"](edge_index, 7, 0, 3).tolist() == [0, 1, 1, 2, 2, 3, -1]
    assert solutions["hop_distances"](edge_index, 7, 0, 1).tolist() == [0, 1, 1, -1, -1, -1, -1]
    nodes, hops = bfs_neighbours(edge_index, 7, torch.tensor([3]), 7, max_hops=3)
    expected = torch.full((7,), -1)
    expected[nodes[0][nodes[0] >= 0]] = hops[0][nodes[0] >= 0]
    assert torch.equal(solutions["hop_distances"](edge_index, 7, 3, 3), expected)


def test_cross_head_by_hand(solutions):
    values_own, values_other = torch.tensor([[[1.0], [3.0]]]), torch.tensor([[[5.0], [7.0]]])
    zeros = torch.zeros(1, 2, 1)
    # zero queries attend uniformly over the four keys: every output is the mean value 4
    out = solutions["cross_head"](zeros, zeros, values_own, zeros, values_other)
    torch.testing.assert_close(out, torch.full((1, 2, 1), 4.0))
    g = torch.Generator().manual_seed(1)
    q, ko, vo, kt, vt = (torch.randn(2, 3, 4, generator=g) for _ in range(5))
    torch.testing.assert_close(solutions["cross_head"](q, ko, vo, kt, vt),
                               F.scaled_dot_product_attention(q, torch.cat([ko, kt], 1), torch.cat([vo, vt], 1)))
