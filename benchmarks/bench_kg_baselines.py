"""Epoch and full-ranking times of the Chapter 4 KG baselines (CKE, KGAT, MKGAT, KGCN) against BPR-MF.

On MovieLens-100K (ratings >= 4, per-user 8:1:1 split) with the movie KG of
:func:`~mmrec_lite.graphs.mmkg.movie_knowledge_graph` when ``MMREC_DATA`` has ``ml-100k``; else on
the full profile's synthetic set and its KG. Text and image features are random (their values do
not change the cost). Each model trains ``--epochs`` epochs at ``--batch-size`` with the full
profile's ``kg_baselines`` hyper-parameters; the script prints seconds per epoch, seconds for one
full-ranking pass over the validation users, and both as ratios to BPR-MF (target on one thread:
an epoch in seconds on ML-100K). Run: ``python benchmarks/bench_kg_baselines.py [--threads 1]``.
"""
from __future__ import annotations

import argparse
import time
from dataclasses import replace

import torch

from mmrec_lite.data import load_movielens_100k, make_synthetic, split_random, to_implicit
from mmrec_lite.evaluation import evaluate_full
from mmrec_lite.graphs.mmkg import movie_knowledge_graph
from mmrec_lite.models import BPRMF, CKE, KGAT, KGCN, MKGAT
from mmrec_lite.profiles import data_root, get_profile
from mmrec_lite.training import fit


def dataset():
    if (data_root() / "ml-100k" / "u.data").exists():
        data = split_random(to_implicit(load_movielens_100k(posters=False)), seed=0)
        data = replace(data, kg=movie_knowledge_graph(data))
    else:
        data = split_random(make_synthetic(**get_profile("full").synthetic, seed=0), seed=0)
    generator = torch.Generator().manual_seed(0)
    data.add_features("text", torch.randn(data.n_items, 384, generator=generator))
    data.add_features("image", torch.randn(data.n_items, 512, generator=generator))
    return data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=4096)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = dataset()
    print(data, f"KG triples: {len(data.kg.triples)}")
    settings = get_profile("full").for_chapter("kg_baselines")
    base = None
    for cls in (BPRMF, CKE, KGAT, MKGAT, KGCN):
        model = cls(data, seed=0, **settings.get(cls.__name__, {}))
        history = fit(model, data, epochs=args.epochs, batch_size=args.batch_size, learning_rate=5e-3,
                      eval_every=None, progress=False)
        epoch = sum(r["seconds"] for r in history.records) / len(history.records)
        start = time.perf_counter()
        evaluate_full(model, data, "valid", ks=(20,))
        ranking = time.perf_counter() - start
        base = base or (epoch, ranking)
        print(f"{cls.__name__:6s} epoch {epoch:6.2f} s ({epoch / base[0]:5.1f}x BPR-MF)   "
              f"full ranking {ranking:6.2f} s ({ranking / base[1]:5.1f}x)")


if __name__ == "__main__":
    main()
