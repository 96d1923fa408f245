"""Batched OMP (mmrec_lite.graphs.omp) against scikit-learn's OMP run target by target.

The SCALE item–item subspace graph C^I at Amazon-Baby size: 7,050 items, d = 384, dictionaries
of k_s = 800 most similar items, k_o = 10 atoms per item, on points drawn from a union of
low-dimensional subspaces (the subspace-clustering assumption). Prints

0. the floor: one N x N Gram product, against which the OMP stage and the whole graph are
   printed as ratios (the Gram form of OMP reads its columns from that product). Two ways of
   computing it are timed, torch's general product and the symmetric product that ``omp`` uses
   on a CPU (``omp._gram``: BLAS syrk through NumPy, half the multiplications); the floor is the
   faster of the two,
1. the OMP stage alone (both sides get the same candidate lists): ``omp`` (on a CPU the compiled
   target-by-target kernel of ``graphs/omp_cpu.py``), the batched form it uses on a GPU run here
   on the CPU, and scikit-learn,
2. the whole graph (candidate search + OMP) against candidate search + the scikit-learn loop,
3. how many supports agree,
4. peak memory of the Gram-free path for a 20,000-user graph C^U at two target-batch sizes.

Each of our timings is the best of ``--repeat`` runs (default 3). The scikit-learn loop is timed
once on a subset of targets and extrapolated linearly (it costs the same for every target).
Wall and CPU seconds are both printed; on a machine shared with other
jobs, ``--threads 1`` (torch and BLAS) gives the steadier per-core comparison. Usage::

    python benchmarks/bench_omp.py [--threads 1] [--device cuda] [--data subspaces|gaussian] [--features F.npy]
                                   [--sklearn-targets 300] [--repeat 3] [--skip-memory]

``--data gaussian`` draws structure-free points, on which no target order shares cached Gram rows;
``--features items.npy`` reads real item features instead (rows are items, e.g. the
``text_feat.npy`` of an MMRec dataset folder such as Amazon-Baby, whose 7,050 x 384 sentence
embeddings are the sizes above).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import warnings

import numpy as np
import torch
import torch.nn.functional as F

from peak_rss import PeakRSS  # benchmarks/peak_rss.py (the script folder is on sys.path)


def union_of_subspaces(n: int, d: int, n_subspaces: int = 60, rank: int = 12, noise: float = 0.05,
                       seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    bases = torch.linalg.qr(torch.randn(n_subspaces, d, rank, generator=g)).Q
    label = torch.randint(0, n_subspaces, (n,), generator=g)
    points = (bases[label] @ torch.randn(n, rank, 1, generator=g)).squeeze(-1)
    return points + noise * torch.randn(n, d, generator=g)


def timed(fn, device: torch.device, repeat: int = 1):
    """``(fn(), wall seconds, CPU seconds of this process)``, the best of ``repeat`` runs; CPU
    time is the steadier figure when other processes share the cores."""
    best = (float("inf"), float("inf"))
    for _ in range(repeat):
        if device.type == "cuda":
            torch.cuda.synchronize()
        wall, cpu = time.perf_counter(), time.process_time()
        out = fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, (time.perf_counter() - wall, time.process_time() - cpu))
    return (out, *best)


def sklearn_loop(x: np.ndarray, candidates: np.ndarray, k_o: int, threads: int | None) -> np.ndarray:
    """scikit-learn's OMP target by target (BLAS limited to ``threads``, like torch)."""
    from sklearn.linear_model import orthogonal_mp
    from threadpoolctl import threadpool_limits
    support = np.zeros(candidates.shape, dtype=bool)
    with warnings.catch_warnings(), threadpool_limits(limits=threads):
        warnings.simplefilter("ignore", RuntimeWarning)
        for row, cands in enumerate(candidates):
            support[row] = orthogonal_mp(x[cands].T, x[row], n_nonzero_coefs=k_o) != 0
    return support


def row(label: str, wall: float, cpu: float) -> None:
    print(f"  {label:46s} {wall:8.2f} s wall {cpu:8.2f} s CPU")


def batched_form(unit: torch.Tensor, candidates: torch.Tensor, k_o: int, batch: int) -> torch.Tensor:
    """The OMP stage in the batched form (``omp._gram_omp``, the GPU path) on any device, for
    unit-norm rows ``unit``."""
    from mmrec_lite.graphs.omp import _gram_columns, _gram_omp
    gram_columns, gram = _gram_columns(unit, 2**62)
    return torch.cat([_gram_omp(gram[s:s + batch].gather(1, candidates[s:s + batch]), candidates[s:s + batch],
                                gram_columns, k_o) for s in range(0, len(unit), batch)])


def speed(args) -> None:
    from mmrec_lite.graphs.omp import _gram, omp, omp_candidates, subspace_graph

    device = torch.device(args.device)
    if args.features:
        x = torch.from_numpy(np.load(args.features).astype(np.float32))
        if x.ndim != 2:
            raise SystemExit(f"{args.features}: expected a 2-D array of item features, got shape {tuple(x.shape)}")
        (args.items, args.dim), args.data = x.shape, args.features
    else:
        x = (union_of_subspaces(args.items, args.dim) if args.data == "subspaces"
             else torch.randn(args.items, args.dim, generator=torch.Generator().manual_seed(0)))
    x = x.to(device)
    print(f"C^I: {args.items} items ({args.data}), d={args.dim}, k_s={args.ks}, k_o={args.ko}, device={device}, "
          f"torch threads={torch.get_num_threads()}, load average={os.getloadavg()[0]:.1f}")
    omp_candidates(x[:64], args.ks, atoms=x)  # warm-up
    omp(x[:50], x, 2, omp_candidates(x[:50], 20, atoms=x))  # warm-up (the CPU kernel's first compile)
    unit_x = F.normalize(x, dim=1)
    _gram(unit_x)  # warm-up (the BLAS library's first call)
    r = args.repeat
    _, *t_general = timed(lambda: unit_x @ unit_x.T, device, r)
    _, *t_symmetric = timed(lambda: _gram(unit_x), device, r)
    t_gram = min(t_general, t_symmetric)
    candidates, *t_cand = timed(lambda: omp_candidates(x, args.ks), device, r)
    support, *t_omp = timed(lambda: omp(x, x, args.ko, candidates, batch_size=args.batch), device, r)
    batched, *t_batched = timed(lambda: batched_form(unit_x, candidates, args.ko, args.batch), device, r)
    graph, *t_graph = timed(lambda: subspace_graph(x, args.ks, args.ko, batch_size=args.batch), device, r)

    n_sk = min(args.sklearn_targets, args.items)
    unit = F.normalize(x, dim=1).double().cpu().numpy()
    sklearn_loop(unit, candidates[:2].cpu().numpy(), args.ko, args.threads)  # warm-up (first-call imports)
    reference, *t_subset = timed(lambda: sklearn_loop(unit, candidates[:n_sk].cpu().numpy(), args.ko, args.threads),
                                 torch.device("cpu"))
    t_sk = [t * args.items / n_sk for t in t_subset]
    t_sk_total = [a + b for a, b in zip(t_cand, t_sk)]
    agree = (support[:n_sk].cpu().numpy() == reference).all(1).mean()

    print(f"floor: one {args.items}x{args.items} Gram product (every atom against every atom), the faster of:")
    row("torch atoms @ atoms.T (general product)", *t_general)
    row(f"omp._gram ({'symmetric product' if device.type == 'cpu' else 'the same product'})", *t_symmetric)
    print(f"candidate search (top-{args.ks} cosine, self excluded):")
    row("mmrec_lite.graphs.omp_candidates", *t_cand)
    print("OMP stage, the same candidates for both:")
    row(f"mmrec_lite.graphs.omp ({'compiled kernel' if device.type == 'cpu' else 'batched form'})", *t_omp)
    row("batched form (omp._gram_omp)", *t_batched)
    row(f"scikit-learn orthogonal_mp per target (*)", *t_sk)
    print(f"  OMP stage / Gram floor: {t_omp[0] / t_gram[0]:.2f}x wall, {t_omp[1] / t_gram[1]:.2f}x CPU "
          f"(target: within 1.5x); batched form {t_batched[0] / t_gram[0]:.2f}x wall; "
          f"OMP stage / torch's general product {t_omp[0] / t_general[0]:.2f}x wall")
    print(f"  speed-up: {t_sk[0] / t_omp[0]:.1f}x wall, {t_sk[1] / t_omp[1]:.1f}x CPU")
    print(f"whole graph C^I ({graph._nnz()} edges):")
    row("mmrec_lite.graphs.subspace_graph", *t_graph)
    row("omp_candidates + scikit-learn loop (*)", *t_sk_total)
    print(f"  whole graph / Gram floor: {t_graph[0] / t_gram[0]:.2f}x wall, {t_graph[1] / t_gram[1]:.2f}x CPU")
    print(f"  speed-up: {t_sk_total[0] / t_graph[0]:.1f}x wall, {t_sk_total[1] / t_graph[1]:.1f}x CPU")
    print(f"(*) scikit-learn timed on {n_sk} targets ({t_subset[0]:.2f} s wall) and extrapolated linearly "
          f"to {args.items}")
    print(f"supports identical to scikit-learn on {agree:.1%} of the {n_sk} timed targets; "
          f"to the batched form on {(support == batched).all(1).float().mean().item():.1%} of all targets")


def memory_run(args) -> None:
    """One child process: build C^U for ``args.users`` users, print peak memory in MiB."""
    from mmrec_lite.graphs.omp import subspace_graph

    device = torch.device(args.device)
    x = union_of_subspaces(args.users, args.dim, seed=1).to(device)
    build = lambda: subspace_graph(x, args.ks, args.ko, batch_size=args.batch, max_gram_bytes=0, device=device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        graph, seconds, _ = timed(build, device)
        peak = torch.cuda.max_memory_allocated() - base
    else:
        with PeakRSS() as rss:
            graph, seconds, _ = timed(build, device)
        peak = rss.peak - rss.base
    print(f"{peak / 2**20:.0f} {seconds:.1f} {graph._nnz()}")


def memory(args) -> None:
    n = args.users
    dense_gram = n * n * 4 / 2**20
    print(f"C^U memory check: {n} users, Gram-free path (a dense {n}x{n} float32 Gram would be "
          f"{dense_gram:.0f} MiB); peak {'GPU allocation' if args.device.startswith('cuda') else 'RSS'} "
          f"above the loaded data:")
    for batch in args.memory_batches:
        cmd = [sys.executable, __file__, "--memory-run", "--users", str(n), "--batch", str(batch),
               "--device", args.device, "--dim", str(args.dim), "--ks", str(args.ks), "--ko", str(args.ko)]
        if args.threads:
            cmd += ["--threads", str(args.threads)]
        # a fixed glibc mmap threshold returns every large freed block to the OS at once, so RSS
        # follows the live tensors instead of the allocator's cached heap
        env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": str(1 << 20)}
        run = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env)
        peak, seconds, edges = run.stdout.split()
        batch_bytes = batch * n * 4 / 2**20
        print(f"  target batch {batch:5d}: peak {float(peak):7.0f} MiB  (one [batch, N] float32 block = "
              f"{batch_bytes:.0f} MiB), {seconds} s, {edges} edges")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=7050)
    parser.add_argument("--users", type=int, default=20000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--ks", type=int, default=800)
    parser.add_argument("--ko", type=int, default=10)
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--sklearn-targets", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=3, help="our timings are the best of this many runs")
    parser.add_argument("--memory-batches", type=int, nargs="*", default=[256, 1024])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--data", choices=["subspaces", "gaussian"], default="subspaces")
    parser.add_argument("--features", help="a .npy of real item features [items, d], instead of --data")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch and BLAS threads (1 is faster when other processes load the cores)")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--memory-run", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.memory_run:
        memory_run(args)
        return
    speed(args)
    if not args.skip_memory:
        memory(args)


if __name__ == "__main__":
    main()
