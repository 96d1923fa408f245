"""LIME on the alignment score: probability mapping, determinism and word-group shares (issue 8)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

pytest.importorskip("lime")

from mmrec_lite.explain.lime_text import AlignmentExplainer, alignment_probabilities, word_group_shares  # noqa: E402

VOCAB = ["gasket", "compatible", "oem", "good", "great", "the", "is"]


def bag_of_words(texts):
    """A transparent encoder: word counts over VOCAB."""
    return torch.tensor([[text.lower().split().count(w) for w in VOCAB] for text in texts], dtype=torch.float32)


def test_alignment_probabilities_map_cosine_to_two_classes():
    probs = alignment_probabilities(torch.tensor([-1.0, 0.0, 0.5, 1.0, 1.2]))
    np.testing.assert_allclose(probs[:, 1], [0.0, 0.5, 0.75, 1.0, 1.0])
    np.testing.assert_allclose(probs.sum(1), 1.0)


def test_lime_finds_the_words_the_target_points_at_and_is_deterministic():
    target = torch.zeros(len(VOCAB))
    target[VOCAB.index("gasket")] = 1.0
    target[VOCAB.index("compatible")] = 1.0
    explainer = AlignmentExplainer(bag_of_words, num_samples=300, num_features=5, random_state=3)
    text = "the gasket is compatible good great"
    first = explainer.explain(text, target)
    assert first == explainer.explain(text, target)
    weights = dict(first)
    assert {w for w, _ in sorted(first, key=lambda x: -x[1])[:2]} == {"gasket", "compatible"}
    assert weights["gasket"] > 0 and weights.get("good", 0.0) < weights["gasket"]
    # the classifier LIME sees: cosine of the bag of words with the target, mapped to [0, 1]
    probs = explainer.classifier(target)(["gasket compatible", "good great"])
    np.testing.assert_allclose(probs[:, 1], [1.0, 0.5], atol=1e-6)


def test_word_group_shares_by_hand():
    explanations = pd.DataFrame({"review": [0, 0, 0, 1, 1], "word": ["Gasket", "good", "the", "great", "oem"],
                                 "weight": [0.6, -0.2, 0.2, 0.1, 0.3]})
    shares = word_group_shares(explanations, {"objective": ["gasket", "oem"], "sentiment": ["good", "great"]})
    np.testing.assert_allclose(shares.loc[0].to_numpy(), [0.6, 0.2, 0.2])
    np.testing.assert_allclose(shares.loc[1].to_numpy(), [0.75, 0.25, 0.0])
    assert list(shares.columns) == ["objective", "sentiment", "other"]
