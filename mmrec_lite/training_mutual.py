"""``train_gnnmr()``: GNNMR's mutual-learning loop, one optimiser per modality (Algorithm 1).

Per mini-batch of BPR triples (:func:`~mmrec_lite.sampling.sample_pairwise`, one negative per
positive):

1. every modality computes its scores on the batch (Algorithm 1, lines 2–6);
2. modality by modality, in a fixed order, ``L_m = L_BPR + λ L_ML`` (Eq. 9) is back-propagated
   and that modality's own Adam steps (lines 7–9).

``teacher="snapshot"`` (Algorithm 1) takes every teacher from the scores of step 1.
``teacher="recompute"`` is the order of the original deep mutual learning (Zhang et al., CVPR
2018): after modality ``m`` steps, its scores are recomputed, so the modalities updated later
learn from its new predictions. Every ``eval_every`` epochs the validation split is ranked by
each ensemble and each modality alone — the per-modality learning curves — and early stopping
follows ``monitor`` (an ensemble or a modality), restoring its best weights.
"""
from __future__ import annotations

import time
from typing import Sequence

import torch
from tqdm.auto import tqdm

from .data.recdata import RecData
from .evaluation import evaluate_full
from .models.gnnmr import ENSEMBLES, GNNMR
from .profiles import resolve_device, seed_everything
from .sampling import sample_pairwise
from .training import History, progress_disabled

__all__ = ["train_gnnmr", "mutual_step", "TEACHERS"]

TEACHERS = ("snapshot", "recompute")


def mutual_step(model: GNNMR, batch: dict[str, torch.Tensor], optimizers: dict[str, torch.optim.Optimizer],
                teacher: str = "snapshot") -> dict[str, float]:
    """One batch of Algorithm 1: each modality's ``L_m`` and its own optimiser step, in turn."""
    if teacher not in TEACHERS:
        raise ValueError(f"teacher must be one of {TEACHERS}, got {teacher!r}")
    students = {name: model.candidate_scores(name, batch) for name in model.modalities}    # lines 2-6
    peers = {name: scores.detach() for name, scores in students.items()}
    logged: dict[str, float] = {}
    for name in model.modalities:                                                          # lines 7-9
        terms = model.modality_loss(students[name], [s for other, s in peers.items() if other != name])
        optimizers[name].zero_grad(set_to_none=True)
        terms["loss"].backward()
        optimizers[name].step()
        if teacher == "recompute":
            with torch.no_grad():
                peers[name] = model.candidate_scores(name, batch)
        logged.update({f"{name}/{term}": float(value.detach()) for term, value in terms.items()})
    return logged


def _evaluate_all(model: GNNMR, data: RecData, split: str, ks: Sequence[int], device) -> dict[str, float]:
    """Validation metrics of every ensemble and every modality, ``"<split>/<view>/<metric>"``."""
    chosen, out = model.ensemble, {}
    views = (ENSEMBLES if len(model.modalities) > 1 else ()) + model.modalities
    try:
        for view in views:
            model.ensemble = view
            metrics = evaluate_full(model, data, split=split, ks=ks, device=device)
            out.update({f"{split}/{view}/{k}": v for k, v in metrics.items() if k.split("@")[0] in ("recall", "ndcg")})
    finally:
        model.ensemble = chosen
    return out


def train_gnnmr(model: GNNMR, data: RecData, epochs: int, batch_size: int, learning_rate: float,
                teacher: str = "snapshot", eval_every: int | None = 1, patience: int | None = 10,
                metric: str = "recall@20", monitor: str | None = None, ks: Sequence[int] = (10, 20),
                device: str | torch.device | None = "auto", seed: int = 0, progress: bool = True,
                eval_split: str = "valid") -> History:
    """Train ``model`` with one Adam per modality; return a :class:`~mmrec_lite.training.History`.

    Records per epoch: ``"<modality>/loss|bpr|ml"`` (batch means), ``"<split>/<view>/<metric>"``
    for every ensemble and modality on evaluated epochs, ``train_seconds`` and ``eval_seconds``.
    ``monitor`` (default: ``model.ensemble``) and ``metric`` pick the early-stopping key; the
    best weights are restored and the model is left in eval mode.
    """
    if epochs < 0 or batch_size < 1:
        raise ValueError(f"need epochs >= 0 and batch_size >= 1, got {epochs} and {batch_size}")
    device = resolve_device(device)
    generator = seed_everything(seed)
    model.to(device)
    monitor = monitor or model.ensemble
    history = History(f"{monitor}/{metric}", eval_split)
    ks = tuple(sorted(set(ks) | {int(metric.split("@")[1])}))
    optimizers = {name: torch.optim.Adam(params, lr=learning_rate) for name, params in model.parameter_groups().items()}
    best_state, stale = None, 0
    bar = tqdm(range(1, epochs + 1), desc="GNNMR", unit="epoch", disable=progress_disabled(progress))
    for epoch in bar:
        start = time.perf_counter()
        model.train()
        totals, n_batches = {}, 0
        for batch in sample_pairwise(data.train, data.n_items, batch_size, generator, device):
            for key, value in mutual_step(model, batch, optimizers, teacher).items():
                totals[key] = totals.get(key, 0.0) + value
            n_batches += 1
        record = {"epoch": epoch, **{key: total / max(n_batches, 1) for key, total in totals.items()},
                  "train_seconds": time.perf_counter() - start}
        evaluated = bool(eval_every) and (epoch % eval_every == 0 or epoch == epochs)
        if evaluated:
            start = time.perf_counter()
            record.update(_evaluate_all(model, data, eval_split, ks, device))
            record["eval_seconds"] = time.perf_counter() - start
            if history.improves(record[history.key]):
                history.best, history.best_epoch, stale = record[history.key], epoch, 0
                best_state = {k: t.detach().clone() for k, t in model.state_dict().items()}
            else:
                stale += 1
        history.records.append(record)
        if evaluated:
            bar.set_postfix({history.key: f"{record[history.key]:.4f}"})
        if patience and stale >= patience:
            break
    bar.close()
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return history
