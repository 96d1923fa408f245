"""LIME on review–embedding alignment (SymCERE's analysis of which review words anchor the alignment).

The "classifier" LIME explains is the alignment of a review with a graph embedding: the review is
encoded, projected into the graph space and compared by cosine with the target (its item's or
user's graph embedding); the cosine is mapped to ``s = (cos + 1) / 2 ∈ [0, 1]`` and returned as the
two class probabilities ``[1 − s, s]`` ("misaligned", "aligned"). LIME (Ribeiro et al. 2016,
``lime.lime_text.LimeTextExplainer``, fixed ``random_state``) removes words at random, fits a
local linear model to the change of ``s`` and reports one weight per word: positive = the word
raises the alignment.
"""
from __future__ import annotations

from typing import Callable, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["alignment_probabilities", "AlignmentExplainer", "word_group_shares"]


def alignment_probabilities(cosine: Tensor) -> np.ndarray:
    """``[n, 2]`` float64 rows ``[1 − s, s]`` with ``s = (cos + 1) / 2`` clipped to ``[0, 1]``."""
    s = ((cosine.detach().double().cpu() + 1) / 2).clamp(0.0, 1.0).numpy()
    return np.stack([1 - s, s], axis=1)


class AlignmentExplainer:
    """Explain ``s(review, target)`` with LIME.

    ``encode(texts) -> [n, d_text]`` (e.g. ``TextEncoder(cache=False).encode``: LIME's perturbed
    texts are not worth caching); ``project(x) -> [n, d]`` maps text embeddings to the graph space
    (e.g. a trained SymCERE's ``projection``; identity by default). ``num_samples`` perturbed
    texts per review, ``num_features`` words reported, ``random_state`` fixes LIME's sampling.
    """

    def __init__(self, encode: Callable[[list[str]], Tensor], project: Callable[[Tensor], Tensor] | None = None,
                 num_samples: int = 200, num_features: int = 10, random_state: int = 0):
        from lime.lime_text import LimeTextExplainer
        self.encode, self.project = encode, project or (lambda x: x)
        self.num_samples, self.num_features, self.random_state = num_samples, num_features, random_state
        self._explainer_class = LimeTextExplainer

    def classifier(self, target: Tensor) -> Callable[[Sequence[str]], np.ndarray]:
        """The function LIME calls: texts → ``[n, 2]`` alignment probabilities against ``target``."""
        goal = F.normalize(target.detach().float().reshape(1, -1), dim=1)

        def predict(texts: Sequence[str]) -> np.ndarray:
            with torch.no_grad():
                z = F.normalize(self.project(self.encode(list(texts)).float().to(goal.device)), dim=1)
            return alignment_probabilities((z @ goal.T).squeeze(1))
        return predict

    def explain(self, text: str, target: Tensor) -> list[tuple[str, float]]:
        """``(word, weight)`` pairs for the "aligned" class, largest ``|weight|`` first."""
        explainer = self._explainer_class(class_names=["misaligned", "aligned"], random_state=self.random_state)
        explanation = explainer.explain_instance(text, self.classifier(target), labels=(1,),
                                                 num_features=self.num_features, num_samples=self.num_samples)
        return explanation.as_list(label=1)

    def explain_many(self, texts: Sequence[str], targets: Tensor) -> pd.DataFrame:
        """One row per (review, word): ``review`` (position in ``texts``), ``word``, ``weight``."""
        rows = [(n, word, weight) for n, (text, target) in enumerate(zip(texts, targets))
                for word, weight in self.explain(text, target)]
        return pd.DataFrame(rows, columns=["review", "word", "weight"])


def word_group_shares(explanations: pd.DataFrame, groups: Mapping[str, Iterable[str]]) -> pd.DataFrame:
    """Per review, the share of its total ``|weight|`` carried by each word group (case-insensitive);
    words in no group count as ``"other"``. Rows: reviews; columns: the groups and ``"other"``."""
    lookup = {word.lower(): name for name, words in groups.items() for word in words}
    frame = explanations.assign(group=explanations["word"].str.lower().map(lookup).fillna("other"),
                                magnitude=explanations["weight"].abs())
    totals = frame.pivot_table(index="review", columns="group", values="magnitude", aggfunc="sum", fill_value=0.0)
    totals = totals.reindex(columns=[*groups, "other"], fill_value=0.0)
    return totals.div(totals.sum(axis=1).replace(0.0, np.nan), axis=0).fillna(0.0)
