"""Batched Orthogonal Matching Pursuit (SCALE, Algorithm 1) and the subspace graphs it builds.

OMP approximates a target ``x`` by a sparse combination of dictionary atoms ``D``: ``k_o`` times
it picks the atom most correlated with the residual (line 3), adds it to the support (line 4),
refits the coefficients by least squares on the support (line 5) and updates the residual
(line 6); the output is the binary support (line 8). SCALE's dictionary for a target is its
``k_s`` most cosine-similar entities, the target itself excluded (Eq. 3).

Here every target of a batch runs the same iterations at once, in the Gram form of OMP (the
form of ``sklearn.linear_model.orthogonal_mp_gram``): with unit-norm atoms and target,

    α = Dᵀx                          correlations with the target (the candidate similarities)
    corr = α − G[:, S] z_S            correlations with the residual  r = x − D_S z_S
    G[S, S] z_S = α[S]                the least-squares refit (normal equations)

so the residual never has to be formed. ``G[S, S] = L Lᵀ`` grows by one Cholesky row per
iteration (batched triangular solves on ``k_o × k_o`` systems). The Gram columns
``G[:, j] = D_candidatesᵀ d_j`` are read from the ``N × N`` Gram of the atoms when it fits in
``max_gram_bytes``, or computed per iteration as one ``[batch, N]`` product otherwise, so memory
stays bounded by the target batch (e.g. 20,000 users). That batched form is the GPU path. On a CPU
the Gram is the symmetric product (BLAS syrk, half the multiplications of ``atoms @ atoms.T``),
and with it stored the same iterations run target by target in a compiled kernel
(:mod:`.omp_cpu`), whose per-target state stays in cache; what remains is reading ``k_o`` Gram
rows per target. At Amazon-Baby size (7,050 items, ``k_s = 800``, ``k_o = 10``, one thread) the
OMP stage costs 1.5–1.6 symmetric Gram products, 0.6–0.8 of torch's general one (the batched form
on the CPU: 3.4–4.5 symmetric products); ``benchmarks/bench_omp.py`` prints the ratios on your
machine.

A target stops early when the next atom is linearly dependent on its support (as
scikit-learn does) or when its residual is already explained (``|corr| ≤ tol``, float32
round-off); scikit-learn would keep adding atoms picked from round-off noise, which would only
add meaningless edges to the graph. Otherwise the supports are those of
``sklearn.linear_model.orthogonal_mp`` run target by target (``tests/test_omp.py``).
"""
from __future__ import annotations

from typing import Callable, Iterable, Iterator

import torch
import torch.nn.functional as F
from threadpoolctl import threadpool_limits
from torch import Tensor

from .adjacency import sparse_matrix

__all__ = ["omp", "omp_candidates", "subspace_graph"]

GramColumns = Callable[[Tensor, Tensor], Tensor]

_TOL = 1e-5  # float32 round-off level for unit vectors: below it a correlation or a new direction is noise


def _unit_rows(x: Tensor, name: str, device: torch.device) -> Tensor:
    x = torch.as_tensor(x)
    if x.ndim != 2 or not x.is_floating_point():
        raise ValueError(f"{name} must be a 2-D float tensor, got shape {tuple(x.shape)} and dtype {x.dtype}")
    if x.numel() and not torch.isfinite(torch.stack(tuple(torch.aminmax(x)))).all():  # NaN propagates to both;
        raise ValueError(f"{name} holds NaN or infinite values")                         # 20x faster than isfinite(x)
    return F.normalize(x.to(device=device, dtype=torch.float32), dim=1)


def _device(device, fallback: Tensor) -> torch.device:
    return torch.as_tensor(fallback).device if device is None else torch.device(device)


def _gram(atoms: Tensor) -> Tensor:
    """``atoms @ atoms.T``. On a CPU by NumPy, whose ``a @ a.T`` is BLAS's symmetric rank-k update
    (half the multiplications of a general product, and exactly symmetric), on torch's thread count."""
    if atoms.device.type != "cpu":
        return atoms @ atoms.T
    a = atoms.detach().contiguous().numpy()
    with threadpool_limits(torch.get_num_threads(), user_api="blas"):
        return torch.from_numpy(a @ a.T)


def _gram_columns(atoms: Tensor, max_gram_bytes: int) -> tuple[GramColumns, Tensor | None]:
    """A function ``(atom_ids [b], candidates [b, k]) -> <d_atom, d_candidate> [b, k]`` and the
    precomputed Gram (``None`` when it exceeds ``max_gram_bytes``)."""
    n = len(atoms)
    if n * n * atoms.element_size() <= max_gram_bytes:
        gram = _gram(atoms)
        flat = gram.view(-1)  # one flat index_select is about twice as fast as 2-D fancy indexing
        index_dtype = torch.int32 if n * n < 2**31 else torch.long  # half the index traffic

        def gather(ids: Tensor, candidates: Tensor) -> Tensor:
            index = torch.add(candidates.to(index_dtype), (ids * n).to(index_dtype).unsqueeze(1))
            return flat.index_select(0, index.view(-1)).view(candidates.shape)
        return gather, gram
    return (lambda ids, candidates: (atoms[ids] @ atoms.T).gather(1, candidates)), None


def _gram_omp(alpha: Tensor, candidates: Tensor, gram_columns: GramColumns, n_nonzero: int,
              tol: float = _TOL) -> Tensor:
    """Algorithm 1 for a batch: ``alpha [b, k]`` holds ``<d_c, x>`` for each target's candidates
    ``[b, k]`` (global atom ids); returns the support as a bool mask ``[b, k]``."""
    b, k = alpha.shape
    steps = min(n_nonzero, k)
    device = alpha.device
    rows = torch.arange(b, device=device)
    support = torch.zeros(b, k, dtype=torch.bool, device=device)
    active = torch.ones(b, dtype=torch.bool, device=device)
    chosen = torch.zeros(b, steps, dtype=torch.long, device=device)         # local candidate positions
    step_active = torch.zeros(b, steps, dtype=torch.float64, device=device)
    chol = torch.zeros(b, steps, steps, dtype=torch.float64, device=device)  # G[S, S] = L Lᵀ
    columns = torch.empty(b, steps, k, dtype=alpha.dtype, device=device)     # G[S, :] over the candidates
    corr, magnitude = alpha.unsqueeze(1), torch.empty_like(alpha)            # corr: [b, 1, k]
    candidate_ids = candidates.to(torch.int32) if candidates.max() < 2**31 else candidates
    for t in range(steps):
        best, j = torch.abs(corr.squeeze(1), out=magnitude).max(dim=1)      # line 3: argmax |<d_j, r>|
        active &= (best > tol) & ~support[rows, j]                          # residual explained: stop
        g = columns[:, t]
        g.copy_(gram_columns(candidates[rows, j], candidate_ids))           # G[:, j] over the candidates
        v = g.gather(1, chosen[:, :t]).double().unsqueeze(-1)               # G[S, j]
        w = torch.linalg.solve_triangular(chol[:, :t, :t], v, upper=False).squeeze(-1)
        new_norm2 = g[rows, j].double() - w.square().sum(1)                 # ||d_j − proj_S d_j||²
        active &= new_norm2 > tol                                           # d_j depends on S: stop
        if not active.any():
            break
        support[rows, j] |= active                                          # line 4: S ← S ∪ {j}
        chosen[:, t] = j
        step_active[:, t] = active.double()
        chol[:, t, :t] = w * step_active[:, t:t + 1]                        # a stopped target gets an
        chol[:, t, t] = torch.where(active, new_norm2.clamp_min(tol).sqrt(), 1.0)  # inert unit row
        rhs = alpha.gather(1, chosen[:, :t + 1]).double() * step_active[:, :t + 1]
        z = torch.cholesky_solve(rhs.unsqueeze(-1), chol[:, :t + 1, :t + 1])  # line 5: least squares
        corr = torch.baddbmm(alpha.unsqueeze(1), z.transpose(1, 2).to(alpha.dtype), columns[:, :t + 1],
                             alpha=-1)                                      # line 6: <d, x − D_S z>
    return support


def _check_candidates(candidates: Tensor, n_targets: int, n_atoms: int) -> Tensor:
    candidates = torch.as_tensor(candidates)
    if candidates.ndim != 2 or candidates.shape[0] != n_targets or candidates.dtype != torch.long:
        raise ValueError(f"candidates must be a LongTensor [{n_targets}, k], got {tuple(candidates.shape)} "
                         f"of {candidates.dtype}")
    if candidates.numel() and (int((bounds := torch.aminmax(candidates)).min) < 0 or int(bounds.max) >= n_atoms):
        raise ValueError(f"candidates hold atom ids outside 0..{n_atoms - 1}")
    return candidates


def omp(targets: Tensor, atoms: Tensor, n_nonzero: int, candidates: Tensor | None = None, *,
        batch_size: int = 1024, max_gram_bytes: int = 2**30,
        device: str | torch.device | None = None) -> Tensor:
    """Batched Orthogonal Matching Pursuit (SCALE Algorithm 1); returns the binary supports.

    ``targets [B, d]`` are reconstructed from ``atoms [N, d]``; ``candidates [B, k]`` (atom ids)
    is each target's dictionary (``None``: all atoms). Atoms and targets are scaled to unit norm,
    as OMP's selection rule assumes. Returns a bool mask ``[B, k]`` aligned with ``candidates``
    (``[B, N]`` without), with ``n_nonzero`` ones per row unless a target is reconstructed
    exactly sooner. Targets run ``batch_size`` at a time on ``device``; when ``targets is atoms``
    (self-expression) their similarities are read from the atoms' Gram instead of recomputed.
    """
    if n_nonzero < 1 or batch_size < 1:
        raise ValueError(f"n_nonzero and batch_size must be positive, got {n_nonzero} and {batch_size}")
    device = _device(device, targets)
    x = _unit_rows(targets, "targets", device)
    d = x if atoms is targets else _unit_rows(atoms, "atoms", device)
    if x.shape[1] != d.shape[1]:
        raise ValueError(f"targets have {x.shape[1]} columns and atoms {d.shape[1]}")
    if candidates is not None:
        candidates = _check_candidates(candidates, len(x), len(d)).to(device)
    gram_columns, gram = _gram_columns(d, max_gram_bytes)
    compiled_self_expression = targets is atoms and gram is not None and device.type == "cpu"

    def batches() -> Iterator[tuple[Tensor | None, Tensor]]:
        if compiled_self_expression:  # one batch; the kernel reads each target's α from the Gram
            yield None, (torch.arange(len(d)).expand(len(d), -1) if candidates is None else candidates)
            return
        for start in range(0, len(x), batch_size):
            similarity = _similarities(x, d, start, start + batch_size, gram if targets is atoms else None)
            cands = (torch.arange(len(d), device=device).expand(len(similarity), -1) if candidates is None
                     else candidates[start:start + batch_size])
            yield similarity.gather(1, cands), cands
    masks = [mask for mask, _ in _support_batches(batches(), gram, gram_columns, n_nonzero)]
    return torch.cat(masks) if masks else torch.zeros(0, len(d) if candidates is None else candidates.shape[1],
                                                      dtype=torch.bool, device=device)


def _support_batches(batches: Iterable[tuple[Tensor | None, Tensor]], gram: Tensor | None,
                     gram_columns: GramColumns, n_nonzero: int) -> Iterator[tuple[Tensor, Tensor]]:
    """``(support, candidates)`` for target batches ``(alpha, candidates)``, in order. On a CPU with
    the Gram stored, all targets at once, compiled target by target (:mod:`.omp_cpu`; one batch with
    ``alpha=None`` when the targets are the atoms); otherwise batch by batch in the batched form
    (``_gram_omp``), so memory stays bounded by one batch."""
    if gram is None or gram.device.type != "cpu":
        for alpha, cands in batches:
            yield _gram_omp(alpha, cands, gram_columns, n_nonzero), cands
        return
    from .omp_cpu import cpu_supports  # numba compiles (or loads from its cache) on first use
    batches = list(batches)
    if not batches:
        return
    alpha, candidates = batches[0] if len(batches) == 1 else map(torch.cat, zip(*batches))
    support = cpu_supports(None if alpha is None else alpha.contiguous().numpy(), candidates.contiguous().numpy(),
                           gram.numpy(), n_nonzero, _TOL, torch.get_num_threads())
    yield torch.from_numpy(support), candidates


def _similarities(x: Tensor, atoms: Tensor, start: int, stop: int, gram: Tensor | None) -> Tensor:
    """Cosine similarities of unit rows ``x[start:stop]`` to every atom; a view of ``gram``
    (``atoms @ atoms.T`` when ``x`` is ``atoms``) rather than a new product when it is given."""
    return gram[start:stop] if gram is not None else x[start:stop] @ atoms.T


def _top_candidates(x: Tensor, atoms: Tensor, k: int, exclude_self: bool, chunk_size: int,
                    gram: Tensor | None = None, sort: bool = True) -> Iterator[tuple[int, Tensor, Tensor]]:
    """``(start, similarities [chunk, k], atom ids [chunk, k])``: each row's ``k`` most similar
    atoms, chunk by chunk; with ``exclude_self`` row ``i`` never picks atom ``i``."""
    for start in range(0, len(x), chunk_size):
        stop = min(start + chunk_size, len(x))
        sim = _similarities(x, atoms, start, stop, gram)
        if exclude_self:
            own = (torch.arange(stop - start, device=sim.device), torch.arange(start, stop, device=sim.device))
            diagonal = sim[own]
            sim[own] = -torch.inf                      # in place: sim may be a view of the Gram,
        values, indices = sim.topk(k, dim=1, sorted=sort)
        if exclude_self:
            sim[own] = diagonal                        # which is restored before anyone reads it
        yield start, values, indices


def omp_candidates(x: Tensor, k_s: int, atoms: Tensor | None = None, exclude_self: bool = True,
                   chunk_size: int = 1024, device: str | torch.device | None = None) -> Tensor:
    """Each row's OMP dictionary: the ``k_s`` most cosine-similar atoms, best first (SCALE Eq. 3).

    ``atoms=None`` means the rows of ``x`` themselves; then ``exclude_self`` keeps a row out of its
    own dictionary (otherwise it would reconstruct itself). ``k_s`` is capped at the number of
    atoms available. Returns a LongTensor ``[len(x), k_s]``; memory is ``O(chunk_size · N)``.
    """
    device = _device(device, x)
    x = _unit_rows(x, "x", device)
    same = atoms is None
    d = x if same else _unit_rows(atoms, "atoms", device)
    if x.shape[1] != d.shape[1]:
        raise ValueError(f"x has {x.shape[1]} columns and atoms {d.shape[1]}")
    k = min(k_s, len(d) - int(same and exclude_self))
    if k < 1:
        raise ValueError(f"k_s must be positive and at least one atom must remain, got k_s={k_s}, N={len(d)}")
    return torch.cat([ids for _, _, ids in _top_candidates(x, d, k, same and exclude_self, chunk_size)])


def subspace_graph(targets: Tensor, k_s: int, n_nonzero: int, atoms: Tensor | None = None, *,
                   batch_size: int = 1024, max_gram_bytes: int = 2**30,
                   device: str | torch.device | None = None) -> Tensor:
    """The subspace-aware graph ``C`` of SCALE: ``C[a, b] = 1`` iff atom ``b`` is in target ``a``'s
    OMP support over its ``k_s`` most similar atoms (Eq. 3, Algorithm 1).

    ``atoms=None``: self-expression (``C^U`` from user features, ``C^I`` from item features), the
    target excluded from its own dictionary; otherwise targets are reconstructed from other
    entities (``C^{UI}``: users from items). Candidates and OMP run ``batch_size`` targets at a
    time, so memory is ``O(batch_size · N)`` (plus the ``N × N`` atom Gram when it fits in
    ``max_gram_bytes``). Returns a sparse COO float ``[B, N]`` matrix of ones on ``device``.
    """
    if k_s < 1 or n_nonzero < 1 or batch_size < 1:
        raise ValueError(f"k_s, n_nonzero and batch_size must be positive, got {k_s}, {n_nonzero}, {batch_size}")
    device = _device(device, targets)
    x = _unit_rows(targets, "targets", device)
    same = atoms is None
    d = x if same else _unit_rows(atoms, "atoms", device)
    if x.shape[1] != d.shape[1]:
        raise ValueError(f"targets have {x.shape[1]} columns and atoms {d.shape[1]}")
    k = min(k_s, len(d) - int(same))
    if k < 1:
        raise ValueError("subspace_graph needs at least two entities to reconstruct one from the others")
    gram_columns, gram = _gram_columns(d, max_gram_bytes)
    batches = ((alpha, cands) for _, alpha, cands in _top_candidates(x, d, k, same, batch_size,
                                                                       gram if same else None, sort=False))
    rows, cols, start = [], [], 0
    for support, cands in _support_batches(batches, gram, gram_columns, n_nonzero):
        local, position = support.nonzero(as_tuple=True)
        rows.append(local + start)
        cols.append(cands[local, position])
        start += len(cands)
    rows, cols = torch.cat(rows), torch.cat(cols)
    return sparse_matrix(rows, cols, torch.ones(len(rows), device=device), (len(x), len(d)), layout="coo")
