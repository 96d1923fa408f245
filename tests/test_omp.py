"""Batched OMP (SCALE Algorithm 1) against scikit-learn's per-target OMP, and its candidate lists."""
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.linear_model import orthogonal_mp

from mmrec_lite.graphs.omp import _TOL, _gram, _gram_columns, _gram_omp, omp, omp_candidates, subspace_graph
from mmrec_lite.graphs.omp_cpu import _argmax_abs, cpu_supports, locality_order


def _gaussian(n: int, d: int, seed: int) -> torch.Tensor:
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed))


def _union_of_subspaces(n: int, d: int, seed: int, n_subspaces: int = 8, rank: int = 6) -> torch.Tensor:
    """Points on a union of low-dimensional subspaces plus a little noise (the SSC assumption)."""
    g = torch.Generator().manual_seed(seed)
    bases = torch.linalg.qr(torch.randn(n_subspaces, d, rank, generator=g)).Q
    label = torch.randint(0, n_subspaces, (n,), generator=g)
    points = (bases[label] @ torch.randn(n, rank, 1, generator=g)).squeeze(-1)
    return points + 0.05 * torch.randn(n, d, generator=g)


def _sklearn_supports(targets: torch.Tensor, atoms: torch.Tensor, candidates: torch.Tensor, k_o: int) -> np.ndarray:
    """scikit-learn's OMP run target by target on the unit-norm dictionary it assumes."""
    unit = F.normalize(atoms.double(), dim=1).numpy()
    out = np.zeros(tuple(candidates.shape), dtype=bool)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for row, (x, cands) in enumerate(zip(targets.double().numpy(), candidates.numpy())):
            out[row] = orthogonal_mp(unit[cands].T, x, n_nonzero_coefs=k_o) != 0
    return out


@pytest.mark.parametrize("make", [_gaussian, _union_of_subspaces])
def test_omp_selects_the_same_supports_as_sklearn(make):
    atoms = make(800, 64, seed=1)
    targets = atoms[:200]
    candidates = omp_candidates(atoms, k_s=100)[:200]
    ours = omp(targets, atoms, 10, candidates, batch_size=64).numpy()
    reference = _sklearn_supports(targets, atoms, candidates, 10)
    assert ours.sum(1).tolist() == [10] * 200
    assert (ours == reference).all(1).mean() >= 0.99


def test_omp_over_the_whole_dictionary_matches_sklearn():
    atoms, targets = _gaussian(150, 32, seed=2), _gaussian(20, 32, seed=3)
    ours = omp(targets, atoms, 6)
    everything = torch.arange(150).expand(20, -1)
    assert ours.shape == (20, 150)
    assert (ours.numpy() == _sklearn_supports(targets, atoms, everything, 6)).all()


def test_gram_free_path_and_batch_size_give_the_same_supports():
    atoms = _union_of_subspaces(300, 24, seed=4)
    candidates = omp_candidates(atoms, k_s=60)
    reference = omp(atoms, atoms, 5, candidates)
    assert torch.equal(omp(atoms, atoms, 5, candidates, max_gram_bytes=0), reference)
    assert torch.equal(omp(atoms, atoms, 5, candidates, batch_size=70), reference)


def test_exactly_reconstructed_target_stops_early():
    atoms = F.normalize(_gaussian(30, 16, seed=5), dim=1)
    target = (0.8 * atoms[3] - 0.5 * atoms[17]).unsqueeze(0)
    support = omp(target, atoms, n_nonzero=5)
    assert torch.nonzero(support[0]).flatten().tolist() == [3, 17]


def _both_forms(targets: torch.Tensor, atoms: torch.Tensor, candidates: torch.Tensor, k_o: int, threads: int = 1):
    """Supports of the batched form and of the compiled CPU kernel on the same inputs."""
    x, d = F.normalize(targets, dim=1), F.normalize(atoms, dim=1)
    gram_columns, gram = _gram_columns(d, 2**30)
    alpha = (x @ d.T).gather(1, candidates)
    batched = _gram_omp(alpha, candidates, gram_columns, k_o)
    compiled = cpu_supports(alpha.numpy(), candidates.numpy(), gram.numpy(), k_o, _TOL, threads)
    if targets is atoms:  # the kernel reads α from the Gram itself
        assert (cpu_supports(None, candidates.numpy(), gram.numpy(), k_o, _TOL, threads) == compiled).all()
    return batched.numpy(), compiled


@pytest.mark.parametrize("make, k_o", [(_gaussian, 1), (_gaussian, 12), (_union_of_subspaces, 7)])
def test_compiled_kernel_selects_what_the_batched_form_selects(make, k_o):
    atoms = make(400, 48, seed=12)
    candidates = omp_candidates(atoms, k_s=90)
    batched, compiled = _both_forms(atoms, atoms, candidates, k_o)
    assert compiled.sum(1).tolist() == [k_o] * 400
    assert (compiled == batched).all()
    users = _gaussian(60, 48, seed=13)  # targets other than the atoms (C^UI)
    batched, compiled = _both_forms(users, atoms, omp_candidates(users, 90, atoms=atoms), k_o)
    assert (compiled == batched).all()


def test_compiled_kernel_stops_where_the_batched_form_stops():
    basis = _gaussian(5, 12, seed=14)                      # 40 atoms in a 5-dimensional subspace,
    atoms = _gaussian(40, 5, seed=15) @ basis               # two of them equal
    atoms[7] = atoms[3]
    candidates = omp_candidates(atoms, k_s=20)
    batched, compiled = _both_forms(atoms, atoms, candidates, 9)
    assert (compiled == batched).all()
    assert compiled.sum(1).max() <= 5                       # rank 5: the residual is gone after 5 atoms
    assert compiled.sum(1).min() >= 1


def test_compiled_kernel_reads_alpha_from_the_gram_only_for_self_expression():
    gram = np.eye(4, dtype=np.float32)
    with pytest.raises(ValueError, match="one target per atom"):
        cpu_supports(None, np.zeros((3, 2), dtype=np.int64), gram, 1, _TOL, 1)


def test_cpu_gram_is_the_symmetric_product():
    atoms = F.normalize(_gaussian(50, 8, seed=18), dim=1)
    gram = _gram(atoms)
    assert torch.equal(gram, gram.T)
    assert gram.dtype == torch.float32 and torch.allclose(gram.double(), atoms.double() @ atoms.double().T, atol=1e-6)


def test_compiled_kernel_does_not_depend_on_the_thread_count():
    atoms = _union_of_subspaces(300, 32, seed=16)
    candidates = omp_candidates(atoms, k_s=60)
    assert (_both_forms(atoms, atoms, candidates, 6, threads=1)[1]
            == _both_forms(atoms, atoms, candidates, 6, threads=2)[1]).all()


def test_argmax_of_magnitudes_breaks_ties_by_rank():
    values = np.array([0.1, -0.5, 0.5, 0.2] + [0.0] * 17 + [-0.25], dtype=np.float32)
    first_wins = np.arange(len(values), dtype=np.int32)[::-1].copy()   # the kernel's rank: k - 1 - position
    assert _argmax_abs(values, first_wins) == len(values) - 2           # -0.5 and 0.5 tie: position 1
    assert _argmax_abs(values, np.arange(len(values), dtype=np.int32)) == 2  # reversed ranks: position 2
    values[1] = -0.49
    assert _argmax_abs(values, first_wins) == len(values) - 3
    assert _argmax_abs(np.array([-3e-8, 2e-8], dtype=np.float32), np.array([0, 1], dtype=np.int32)) == 0
    assert _argmax_abs(np.zeros(3, dtype=np.float32), np.array([4, 9, 2], dtype=np.int32)) == 9


def test_locality_order_is_a_permutation_that_keeps_neighbours_close():
    x = _union_of_subspaces(240, 16, seed=17, n_subspaces=4, rank=2)
    candidates = omp_candidates(x, k_s=30).numpy()
    order = locality_order(candidates, 240)
    assert sorted(order.tolist()) == list(range(240))

    def shared_with_next(sequence):  # mean number of candidates a target shares with the next one
        return np.mean([len(np.intersect1d(candidates[a], candidates[b])) for a, b in zip(sequence, sequence[1:])])
    assert shared_with_next(order) > 2 * shared_with_next(np.arange(240))
    rectangular = locality_order(np.array([[5, 1], [2, 0], [5, 3]]), 10)
    assert rectangular.tolist() == [1, 0, 2]               # grouped by the first candidate, stable


def test_candidates_exclude_self_and_match_brute_force():
    x = _gaussian(50, 8, seed=6)
    x[10] = x[11]  # a duplicate is still a candidate of its twin, never of itself
    cands = omp_candidates(x, k_s=5, chunk_size=16)
    sim = F.normalize(x, dim=1) @ F.normalize(x, dim=1).T
    sim.fill_diagonal_(-float("inf"))
    assert torch.equal(cands, sim.topk(5, dim=1).indices)
    assert not (cands == torch.arange(50).unsqueeze(1)).any()
    assert cands[10, 0] == 11 and cands[11, 0] == 10
    assert omp_candidates(x, k_s=5, exclude_self=False)[3, 0] == 3
    assert omp_candidates(x, k_s=500).shape == (50, 49)  # capped at the other rows


def test_subspace_graph_is_the_omp_support_over_the_candidates():
    x = _union_of_subspaces(200, 32, seed=7)
    graph = subspace_graph(x, k_s=40, n_nonzero=4, batch_size=64).to_dense()
    support = omp(x, x, 4, omp_candidates(x, k_s=40))
    expected = torch.zeros(200, 200).scatter_(1, omp_candidates(x, k_s=40), support.float())
    assert torch.equal(graph, expected)
    assert graph.diagonal().sum() == 0 and graph.sum(1).tolist() == [4.0] * 200


def test_cross_subspace_graph_reconstructs_users_from_items():
    items, users = _gaussian(120, 16, seed=8), _gaussian(30, 16, seed=9)
    graph = subspace_graph(users, k_s=50, n_nonzero=3, atoms=items)
    support = omp(users, items, 3, omp_candidates(users, 50, atoms=items))
    assert graph.shape == (30, 120)
    assert torch.equal(graph.to_dense().sum(1), support.sum(1).float())


def test_bad_input_is_rejected():
    x = _gaussian(20, 4, seed=10)
    with pytest.raises(ValueError, match="candidates"):
        omp(x, x, 2, torch.full((20, 3), 25))
    with pytest.raises(ValueError, match="columns"):
        omp(x, _gaussian(20, 5, seed=11), 2)
    for value, where in ((float("nan"), (0, 0)), (float("inf"), (19, 3)), (-float("inf"), (7, 2))):
        bad = x.clone()
        bad[where] = value
        with pytest.raises(ValueError, match="NaN or infinite"):
            subspace_graph(bad, k_s=5, n_nonzero=2)
        with pytest.raises(ValueError, match="atoms holds NaN or infinite"):
            omp(x, bad, 2)
    with pytest.raises(ValueError, match="positive"):
        omp(x, x, 0)
