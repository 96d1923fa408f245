"""``fit()``: the training loop shared by every chapter.

Per epoch: ``model.on_epoch_start(epoch)``, one shuffled pass over the training interactions in
the model's ``batch_kind`` (pairwise BPR triples or pointwise ratings), Adam steps on
``loss(batch)["loss"]``, the mean of every named loss term logged. Every ``eval_every`` epochs
(and after the last) the model is evaluated on ``eval_split``: full ranking
(:func:`~mmrec_lite.evaluation.evaluate_full`) for ranking metrics such as ``"recall@20"``, or
the rated items (:func:`~mmrec_lite.evaluation.evaluate_rated`) for ``"rmse"`` / ``"mae"``,
where lower is better. One evaluation pass computes every metric at the cut-offs ``ks`` (default
10 and 20) plus the monitored one. Early stopping waits ``patience`` evaluations without
improvement and then restores the best weights.

MMRec's ``stopping_step: s`` stops once the best epoch is ``s`` evaluations old *and* the next
one does not improve either, i.e. after ``s + 1`` evaluations without improvement: it equals
``patience=s + 1`` here (MMRec's default ``stopping_step: 20`` is ``patience=21``).
"""
from __future__ import annotations

import os
import time
from typing import Callable, Sequence

import pandas as pd
import torch
from tqdm.auto import tqdm

from .data.recdata import RecData
from .evaluation import evaluate_full, evaluate_rated
from .metrics import RANKING_METRICS
from .models.base import Recommender
from .profiles import resolve_device, seed_everything
from .sampling import sample_pairwise, sample_pointwise

__all__ = ["fit", "History", "progress_disabled"]

_LOWER_IS_BETTER = ("rmse", "mae")

Callback = Callable[[Recommender, dict], "bool | None"]


class History:
    """Per-epoch records of a :func:`fit` run and the best evaluation seen.

    ``records``: one dict per epoch with ``"epoch"``, the mean of every loss term, the metrics
    of the evaluated epochs as ``"<split>/<metric>"``, and the wall time split into
    ``"train_seconds"`` (the epoch's batches), ``"eval_seconds"`` (0 when not evaluated) and
    their sum ``"seconds"``. ``key`` names the
    monitored metric; ``best`` / ``best_epoch`` its best value and epoch (``None`` before any
    evaluation).
    """

    def __init__(self, metric: str, split: str = "valid"):
        self.metric = metric
        self.key = f"{split}/{metric}"
        self.lower_is_better = metric in _LOWER_IS_BETTER
        self.records: list[dict] = []
        self.best: float | None = None
        self.best_epoch: int | None = None

    def improves(self, value: float) -> bool:
        """Whether ``value`` beats the best evaluation so far."""
        if self.best is None:
            return True
        return value < self.best if self.lower_is_better else value > self.best

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.records)

    def __len__(self) -> int:
        return len(self.records)

    def __repr__(self) -> str:
        best = "none" if self.best is None else f"{self.best:.4f} at epoch {self.best_epoch}"
        return f"History({len(self.records)} epochs, best {self.key}: {best})"


def _evaluator(metric: str, split: str, ks: Sequence[int]) -> Callable[[Recommender, RecData, torch.device],
                                                                       dict[str, float]]:
    """A function evaluating a model for ``metric`` (and the cut-offs ``ks``) in one pass."""
    if metric in _LOWER_IS_BETTER:
        return lambda model, data, device: evaluate_rated(model, data, split=split, device=device)
    name, _, k = metric.partition("@")
    if name not in RANKING_METRICS or not k.isdigit() or int(k) < 1:
        raise ValueError(f"unknown metric {metric!r}; use one of {', '.join(RANKING_METRICS)} with '@k' "
                         f"(e.g. 'recall@20'), or {' / '.join(_LOWER_IS_BETTER)}")
    cut_offs = tuple(sorted({int(k), *ks}))
    return lambda model, data, device: evaluate_full(model, data, split=split, ks=cut_offs, device=device)


def _batches(model: Recommender, data: RecData, batch_size: int, generator: torch.Generator, device: torch.device):
    if model.batch_kind == "pairwise":
        return sample_pairwise(data.train, data.n_items, batch_size, generator, device)
    if model.batch_kind == "pointwise":
        return sample_pointwise(data.train, batch_size, generator, device)
    raise ValueError(f"{type(model).__name__}.batch_kind must be 'pairwise', 'pointwise' or None, "
                     f"got {model.batch_kind!r}")


def progress_disabled(progress: bool) -> bool:
    """Whether a trainer's progress bar is off: ``progress=False``, or ``TQDM_DISABLE`` set to a true
    value (anything but empty, ``0``, ``false``, ``no``), as CI and the smoke notebooks set it."""
    return not progress or os.environ.get("TQDM_DISABLE", "").lower() not in ("", "0", "false", "no")


def fit(model: Recommender, data: RecData, epochs: int, batch_size: int, learning_rate: float,
        weight_decay: float = 0.0, eval_every: int | None = 1, patience: int | None = 10, metric: str = "recall@20",
        device: str | torch.device | None = "auto", seed: int = 0, progress: bool = True, eval_split: str = "valid",
        callbacks: Sequence[Callback] | None = None, optimizer: torch.optim.Optimizer | None = None,
        ks: Sequence[int] = (10, 20)) -> History:
    """Train ``model`` on ``data.train`` with Adam and early stopping; return the :class:`History`.

    ``eval_every``: evaluate every N epochs and after the last (``0``/``None``: never, so no
    early stopping). ``patience``: evaluations without improvement before stopping
    (``0``/``None``: never stop early; MMRec's ``stopping_step: s`` is ``patience=s + 1``). The
    best weights are restored at the end. ``ks``: the cut-offs recorded at each evaluation. ``device``:
    ``"auto"`` picks CUDA, then MPS, then CPU. ``seed`` seeds Python, NumPy and torch and the
    batch sampler. ``callbacks`` are called as ``callback(model, record)`` after each epoch; one
    returning ``True`` stops training. ``optimizer`` replaces the default
    ``Adam(lr=learning_rate, weight_decay=weight_decay)``. Models with ``batch_kind=None`` are
    only moved to ``device`` and get an empty history. The model is left in eval mode.
    """
    if epochs < 0 or batch_size < 1:
        raise ValueError(f"need epochs >= 0 and batch_size >= 1, got {epochs} and {batch_size}")
    device = resolve_device(device)
    generator = seed_everything(seed)
    model.to(device)
    history = History(metric, eval_split)
    evaluate = _evaluator(metric, eval_split, ks)
    if model.batch_kind is None:
        model.eval()
        return history
    optimizer = optimizer or torch.optim.Adam(model.parameters(), lr=learning_rate, weight_decay=weight_decay)
    best_state, stale = None, 0
    bar = tqdm(range(1, epochs + 1), desc=type(model).__name__, unit="epoch", disable=progress_disabled(progress))
    for epoch in bar:
        start = time.perf_counter()
        model.train()
        model.on_epoch_start(epoch)
        totals, n_batches = {}, 0
        for batch in _batches(model, data, batch_size, generator, device):
            terms = model.loss(batch)
            optimizer.zero_grad(set_to_none=True)
            terms["loss"].backward()
            optimizer.step()
            for name, value in terms.items():
                totals[name] = totals.get(name, 0.0) + value.detach()
            n_batches += 1
        record = {"epoch": epoch, **{name: float(total) / max(n_batches, 1) for name, total in totals.items()}}
        record["train_seconds"] = time.perf_counter() - start
        eval_start = time.perf_counter()
        if eval_every and (epoch % eval_every == 0 or epoch == epochs):
            scores = evaluate(model, data, device)
            record.update({f"{eval_split}/{name}": value for name, value in scores.items() if name != "n_users"})
            value = record[history.key]
            if history.improves(value):
                history.best, history.best_epoch, stale = value, epoch, 0
                best_state = {name: tensor.detach().clone() for name, tensor in model.state_dict().items()}
            else:
                stale += 1
        record["eval_seconds"] = time.perf_counter() - eval_start
        record["seconds"] = record["train_seconds"] + record["eval_seconds"]
        history.records.append(record)
        bar.set_postfix({key: f"{record[key]:.4f}" for key in ("loss", history.key) if key in record})
        stop_requested = [bool(callback(model, record)) for callback in callbacks or ()]
        if any(stop_requested) or (patience and stale >= patience):
            break
    bar.close()
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return history
