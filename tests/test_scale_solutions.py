"""The reference solutions of the SCALE chapter's exercises, run outside the notebook, against the
library and hand-computed values (a solution that drifts from ``mmrec_lite`` fails here first)."""
from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
import torch
import torch.nn.functional as F

from mmrec_lite import losses
from mmrec_lite.graphs.omp import omp, omp_candidates
from mmrec_lite.graphs.semantic import combine_graphs

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "02_scale.ipynb"


@pytest.fixture(scope="module")
def solutions() -> dict:
    namespace = {"torch": torch, "F": F}
    for cell in nbformat.read(NOTEBOOK, as_version=4).cells:
        if cell.cell_type == "code" and "solution" in cell.metadata.get("tags", []):
            exec(compile(cell.source, f"{NOTEBOOK.name}:solution", "exec"), namespace)
    return namespace


def random_graph(n: int, m: int, p: float, seed: int) -> torch.Tensor:
    dense = (torch.rand(n, m, generator=torch.Generator().manual_seed(seed)) < p).float()
    return dense.to_sparse().coalesce()


def test_omp_iteration_matches_the_library(solutions):
    x = torch.randn(12, 6, generator=torch.Generator().manual_seed(0)).double()
    candidates = omp_candidates(x, 8)
    targets = F.normalize(x, dim=1)
    dictionaries = F.normalize(x[candidates], dim=2)
    support, residual = torch.zeros(12, 0, dtype=torch.long), targets
    for _ in range(3):
        support, residual = solutions["omp_iteration"](targets, dictionaries, support, residual)
    assert all(len(set(row.tolist())) == 3 for row in support)                 # never an atom twice
    expected = omp(x, x, 3, candidates).nonzero()[:, 1].view(12, -1)
    assert torch.equal(support.sort(dim=1).values, expected)


def test_intersection_stats_by_hand(solutions):
    c = torch.tensor([[1.0, 1, 0], [0, 0, 1]]).to_sparse()
    g = torch.tensor([[1.0, 0, 0], [0, 1, 0]]).to_sparse()
    assert solutions["intersection_stats"](c, g) == {"edges": 1, "density": 1 / 6, "empty rows": 0.5}


def test_union_equals_the_library_or(solutions):
    a, b = random_graph(7, 9, 0.2, 1), random_graph(7, 9, 0.3, 2)
    ours, library = solutions["union"](a, b), combine_graphs(a, b, "or").coalesce()
    assert torch.equal(ours.indices(), library.indices())
    assert torch.equal(ours.values(), torch.ones(ours._nnz()))


def test_relation_alignment_matches_eq_10(solutions):
    generator = torch.Generator().manual_seed(3)
    anchor, positive = torch.randn(5, 4, generator=generator), torch.randn(5, 4, generator=generator)
    negatives = torch.randn(5, 2, 4, generator=generator)
    ours = solutions["relation_alignment"](anchor, positive, negatives, 0.2)
    assert torch.allclose(ours, losses.relation_alignment_loss(anchor, positive, negatives, 0.2), atol=1e-6)
    # one pair, one negative, by hand: -log(e^{s+/τ} / (e^{s+/τ} + e^{s-/τ}))
    a, p, v = torch.tensor([[1.0, 0.0]]), torch.tensor([[1.0, 1.0]]), torch.tensor([[[0.0, 1.0]]])
    s_pos = 2 ** -0.5 / 0.5                                                   # and s- = 0
    expected = -torch.log(torch.exp(torch.tensor(s_pos)) / (torch.exp(torch.tensor(s_pos)) + 1.0))
    assert torch.allclose(solutions["relation_alignment"](a, p, v, 0.5), expected, atol=1e-6)
