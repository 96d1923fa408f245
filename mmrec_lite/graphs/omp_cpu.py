"""Algorithm 1 of SCALE compiled for the CPU: one target at a time, its whole state in cache.

The batched form in :mod:`mmrec_lite.graphs.omp` suits a GPU. On a CPU its ``[batch, k_o, k]``
buffers spill out of cache, and every tensor operation makes another pass over them. Here the
same Gram-form iterations (same equations as ``omp._gram_omp``)

    j   = argmax_c |corr_c|                   line 3, first maximum in candidate order
    L w = G[S, j],  ℓ² = G[j, j] − ‖w‖²      Cholesky row of G[S ∪ {j}, S ∪ {j}] (stop if ℓ² ≤ tol)
    G[S, S] z = α_S                           line 5, two triangular solves
    corr = α − G[:, S] z                      line 6, correlations with the residual

run target by target in compiled loops (numba): ``corr``, the ``k_o × k`` Gram columns and the
``k_o × k_o`` Cholesky factor of one target fit in the core's L1/L2 cache. What is left is reading
``k_o`` rows of the ``N × N`` Gram per target (the last pick needs only ``G[S ∪ {j}, j]``, and a
target that is an atom reads its ``α`` from its own row), at about the speed of streaming those
rows from memory. Two things keep that traffic cheap. A target's candidates are put in the order
of the cache lines their ids fall in, and the kernel works in that order (the first-maximum rule
of line 3 still follows the candidate order), so each row read walks forward as the hardware
prefetcher expects. And a row read by one target is likely to be read again by a similar one:
targets are visited in reverse Cuthill–McKee order of their nearest-candidate graph, so that
consecutive targets share Gram rows while they are still cached. Each thread takes contiguous
runs of that order (numba's ``workqueue`` layer, which the package's thread policy selects, is
not meant for kernels launched from several Python threads at once). ``tests/test_omp.py`` checks
that the supports equal the batched form's and scikit-learn's.
"""
from __future__ import annotations

import math

import numba
import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import reverse_cuthill_mckee

__all__ = ["cpu_supports", "locality_order"]

_MAGNITUDE_BITS = 0x7FFFFFFF  # a float32's bits without its sign
_LINE_SHIFT = 4               # 16 float32 = one 64-byte cache line


@numba.njit(nogil=True, cache=True)
def _by_cache_line(candidates, counts, positions, ids):
    """Counting sort of the candidates by the cache line their id falls in (``counts``: scratch of
    one more than the number of lines): ``ids[p] = candidates[positions[p]]`` in increasing
    lines. The kernel works in this order, so that reading a Gram row at ``ids`` walks it forward,
    as the hardware prefetcher expects, and writes its column contiguously."""
    counts[:] = 0
    for c in range(len(candidates)):
        counts[(candidates[c] >> _LINE_SHIFT) + 1] += 1
    for line in range(1, len(counts)):
        counts[line] += counts[line - 1]
    for c in range(len(candidates)):
        line = candidates[c] >> _LINE_SHIFT
        positions[counts[line]] = c
        ids[counts[line]] = candidates[c]
        counts[line] += 1


@numba.njit(fastmath=True, nogil=True, cache=True)
def _argmax_abs(values, rank):
    """The ``rank`` (int32, distinct) of the largest ``|values|`` (float32), the largest rank
    among equal magnitudes. The bits of a non-negative float order like integers, so this is one
    integer maximum of ``magnitude bits << 32 | rank``: a reduction the compiler vectorises (a
    float maximum with a tie rule it does not)."""
    bits = values.view(np.int32)
    best = np.int64(-1)
    for c in range(len(bits)):
        key = (np.int64(bits[c] & _MAGNITUDE_BITS) << 32) | rank[c]
        best = key if key > best else best
    return np.int32(best & 0xFFFFFFFF)


@numba.njit(fastmath=True, nogil=True, cache=True)
def _one_target(alpha, gram, steps, tol, support, ids, positions, rank, at, corr, columns, chol, solution, chosen):
    """Algorithm 1 for one target in the candidates' cache-line order (``_by_cache_line``):
    ``alpha[p] = <d_ids[p], x>``, ``rank[p] = k − 1 − positions[p]``, ``at[positions[p]] = p``.
    Sets ``support[positions[p]]`` for each atom it selects."""
    k = len(ids)
    corr[:] = alpha
    for t in range(steps):
        j = at[k - 1 - _argmax_abs(corr, rank)]                     # line 3, first maximum in candidate order
        if abs(corr[j]) <= tol or support[positions[j]]:            # residual explained
            return
        row = gram[ids[j]]
        last = t + 1 == steps                                       # no further pick needs corr, so
        column = columns[t]                                         # G[S ∪ {j}, j] is all it needs
        if not last:
            for p in range(k):
                column[p] = row[ids[p]]                             # G[:, j] over the candidates
        norm2 = np.float64(row[ids[j]])
        for s in range(t):                                          # L w = G[S, j], w in chol[t, :t]
            acc = np.float64(row[ids[chosen[s]]])
            for r in range(s):
                acc -= chol[s, r] * chol[t, r]
            chol[t, s] = acc / chol[s, s]
            norm2 -= chol[t, s] * chol[t, s]
        if norm2 <= tol:                                            # d_j depends on S
            return
        support[positions[j]] = True                                # line 4
        if last:
            return
        chol[t, t] = math.sqrt(norm2)
        chosen[t] = j
        for s in range(t + 1):                                      # line 5: L y = α_S ...
            acc = np.float64(alpha[chosen[s]])
            for r in range(s):
                acc -= chol[s, r] * solution[r]
            solution[s] = acc / chol[s, s]
        for s in range(t, -1, -1):                                  # ... then Lᵀ z = y
            acc = solution[s]
            for r in range(s + 1, t + 1):
                acc -= chol[r, s] * solution[r]
            solution[s] = acc / chol[s, s]
        weight = np.float32(solution[0])                            # line 6: corr = α − G[:, S] z
        first = columns[0]
        for c in range(k):
            corr[c] = alpha[c] - weight * first[c]
        for s in range(1, t + 1):
            weight = np.float32(solution[s])
            column = columns[s]
            for c in range(k):
                corr[c] -= weight * column[c]


@numba.njit(parallel=True, fastmath=True, nogil=True, cache=True)
def _supports(alpha, gram, candidates, order, n_nonzero, tol, runs, support):
    """Every target's support; ``alpha`` empty means the targets are the atoms (``α = G[i, candidates]``)."""
    b, k = candidates.shape
    steps = min(n_nonzero, k)
    from_gram = len(alpha) == 0
    for run in numba.prange(runs):
        counts = np.empty((len(gram) >> _LINE_SHIFT) + 2, np.int64)
        positions, ids, at = np.empty(k, np.int64), np.empty(k, np.int64), np.empty(k, np.int64)
        rank = np.empty(k, np.int32)
        target_alpha, corr = np.empty(k, np.float32), np.empty(k, np.float32)
        columns = np.empty((steps, k), np.float32)
        chol = np.empty((steps, steps), np.float64)
        solution, chosen = np.empty(steps, np.float64), np.empty(steps, np.int64)
        for position in range(run * b // runs, (run + 1) * b // runs):
            i = order[position]
            _by_cache_line(candidates[i], counts, positions, ids)
            source = gram[i] if from_gram else alpha[i]
            for p in range(k):
                target_alpha[p] = source[ids[p]] if from_gram else source[positions[p]]
                rank[p] = k - 1 - positions[p]
                at[positions[p]] = p
            _one_target(target_alpha, gram, steps, tol, support[i], ids, positions, rank, at, corr, columns, chol,
                        solution, chosen)


def locality_order(candidates: np.ndarray, n_atoms: int, neighbours: int = 8) -> np.ndarray:
    """An order of the targets in which consecutive ones have overlapping candidates: reverse
    Cuthill–McKee of the graph joining each target to its first ``neighbours`` candidates
    (targets and atoms are one node set when ``n_atoms`` equals the number of targets)."""
    b = len(candidates)
    if b != n_atoms:  # targets and atoms differ: group targets by their first candidate
        return np.argsort(candidates[:, 0], kind="stable")
    first = np.ascontiguousarray(candidates[:, :neighbours])
    m = first.shape[1]
    graph = sp.csr_matrix((np.ones(first.size, np.int8), first.ravel(), np.arange(0, first.size + 1, m)),
                          shape=(b, b))
    return reverse_cuthill_mckee((graph + graph.T).tocsr(), symmetric_mode=True).astype(np.int64)


def cpu_supports(alpha: np.ndarray | None, candidates: np.ndarray, gram: np.ndarray, n_nonzero: int, tol: float,
                 threads: int) -> np.ndarray:
    """Supports (bool ``[b, k]``) over ``candidates [b, k]`` (atom ids) of the targets whose
    correlations with them are ``alpha [b, k]``, with the atoms' ``gram [N, N]`` (float32).
    ``alpha=None``: the targets are the atoms, and their correlations are read from the Gram."""
    support = np.zeros(candidates.shape, dtype=np.bool_)
    if candidates.size == 0:
        return support
    if alpha is None:
        if len(candidates) != len(gram):
            raise ValueError(f"alpha=None needs one target per atom, got {len(candidates)} targets and {len(gram)} atoms")
        alpha = np.zeros((0, candidates.shape[1]), np.float32)
    threads = max(1, min(threads, numba.config.NUMBA_NUM_THREADS))
    numba.set_num_threads(threads)
    order = locality_order(candidates, len(gram))
    runs = min(len(candidates), 8 * threads)  # contiguous runs of `order`, taken by the threads
    _supports(alpha, gram, candidates, order, n_nonzero, np.float32(tol), runs, support)
    return support
