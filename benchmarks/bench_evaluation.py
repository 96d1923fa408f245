"""Full-ranking evaluation at Amazon-Baby scale, against the floor of "score + plain torch.topk".

MMRec's Baby split has 19,445 users × 7,050 items and 119,674 training interactions. This script
makes a random split of that shape (power-law item popularity), a LightGCN-shaped embedding model
(d = 64), and times in one run, on the same scores:

- floor: per user batch, ``user_emb @ item_emb.T``, the training items set to −inf, ``torch.topk``
  (no tie rule, no metrics);
- ``evaluate_full`` on the test split (tie rule, masks, six metrics at two cut-offs).

It prints seconds and the ratio evaluate_full / floor (target ≤ 1.5, and ≤ 1 s per split on one
thread on a quiet machine). Run: ``python benchmarks/bench_evaluation.py [--threads 1]``.
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch

from mmrec_lite.data import Interactions, RecData
from mmrec_lite.evaluation import evaluate_full
from mmrec_lite.models.base import EmbeddingRecommender


class Embeddings(EmbeddingRecommender):
    def __init__(self, data, dim):
        super().__init__(data)
        self.user = torch.nn.Parameter(torch.randn(data.n_users, dim) / dim ** 0.5)
        self.item = torch.nn.Parameter(torch.randn(data.n_items, dim) / dim ** 0.5)

    def compute_embeddings(self):
        return self.user, self.item


def baby_shaped(n_users=19_445, n_items=7_050, n_train=119_674, seed=0) -> RecData:
    rng = np.random.default_rng(seed)
    popularity = 1.0 / np.arange(1, n_items + 1) ** 0.8
    n_total = int(n_train / 0.8)
    users = rng.integers(0, n_users, n_total)
    items = rng.choice(n_items, n_total, p=popularity / popularity.sum())
    keys = np.unique(users * n_items + items)
    rng.shuffle(keys)
    users, items = keys // n_items, keys % n_items
    cut1, cut2 = int(0.8 * len(keys)), int(0.9 * len(keys))
    parts = [Interactions.from_arrays(users[a:b], items[a:b]) for a, b in ((0, cut1), (cut1, cut2), (cut2, None))]
    base = RecData("baby-shaped", np.arange(n_users), np.arange(n_items), Interactions.concat(parts))
    return base.with_splits(*parts)


def floor_seconds(model, data, batch_users=1024, k=20) -> float:
    user_emb, item_emb = model.embeddings()
    train = data.train
    start = time.perf_counter()
    with torch.inference_mode():
        for first in range(0, data.n_users, batch_users):
            users = torch.arange(first, min(first + batch_users, data.n_users))
            scores = user_emb[users] @ item_emb.T
            chosen = (train.user >= first) & (train.user < first + batch_users)
            scores[train.user[chosen] - first, train.item[chosen]] = -torch.inf
            torch.topk(scores, k, dim=1)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = baby_shaped()
    model = Embeddings(data, 64).eval()
    model.embeddings()
    print(f"{data.n_users} users × {data.n_items} items, {len(data.train)} training pairs; "
          f"torch threads {torch.get_num_threads()}, load average {os.getloadavg()[0]:.1f}")
    floors, fulls = [], []
    for _ in range(args.repeats):
        floors.append(floor_seconds(model, data))
        start = time.perf_counter()
        evaluate_full(model, data, "test", ks=(10, 20))
        fulls.append(time.perf_counter() - start)
    floor, full = min(floors), min(fulls)
    print(f"score + torch.topk floor : {floor:6.2f} s (best of {args.repeats})")
    print(f"evaluate_full (test)     : {full:6.2f} s   ratio {full / floor:.2f} (target <= 1.5)")


if __name__ == "__main__":
    main()
