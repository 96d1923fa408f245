"""Loss functions of the five papers: pure functions on tensors, each citing its equation.

Where a paper sums over pairs, these functions average (the usual implementation; it only
rescales the learning rate). Similarities ``s(·,·)`` are cosine similarities unless stated.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["bpr_loss", "info_nce", "relation_alignment_loss", "sincere_loss", "symmetric_sincere_loss", "supcon_loss",
           "diversity_loss", "personalization_loss", "coverage_loss", "l2_regularization",
           "popularity_weighted_mse", "transr_score", "transr_loss", "mutual_learning_kl"]


def _check_rows(name: str, *tensors: Tensor) -> None:
    """Raise unless the tensors are 2-D with the same number of rows and columns."""
    shapes = [tuple(t.shape) for t in tensors]
    if any(len(s) != 2 for s in shapes) or len(set(shapes)) != 1:
        raise ValueError(f"{name}: expected 2-D tensors of one shape, got {shapes}")


def bpr_loss(pos_scores: Tensor, neg_scores: Tensor) -> Tensor:
    """Bayesian Personalised Ranking, ``mean(−log σ(ŷ_ui − ŷ_uj))`` (Rendle et al. 2009; SCALE Eq. 12).

    ``pos_scores`` ``[B]``; ``neg_scores`` ``[B]`` or ``[B, N]`` (N negatives per positive).
    Computed as ``softplus(ŷ_uj − ŷ_ui)``, which is stable for large score gaps.
    """
    if neg_scores.ndim == pos_scores.ndim + 1:
        pos_scores = pos_scores.unsqueeze(-1)
    if pos_scores.shape[0] != neg_scores.shape[0]:
        raise ValueError(f"bpr_loss: {pos_scores.shape[0]} positive and {neg_scores.shape[0]} negative rows")
    return F.softplus(neg_scores - pos_scores).mean()


def info_nce(a: Tensor, b: Tensor, temperature: float) -> Tensor:
    """InfoNCE between two views; row ``i`` of ``a`` matches row ``i`` of ``b`` (SCALE Eq. 8).

    ``L = mean_i −log [exp(s(a_i, b_i)/τ) / Σ_j exp(s(a_i, b_j)/τ)]`` with cosine ``s``: the
    cross-entropy of the ``[B, B]`` similarity logits against the diagonal.
    """
    _check_rows("info_nce", a, b)
    logits = F.normalize(a, dim=1) @ F.normalize(b, dim=1).T / temperature
    return F.cross_entropy(logits, torch.arange(len(a), device=a.device))


def relation_alignment_loss(anchor: Tensor, positive: Tensor, negatives: Tensor, temperature: float) -> Tensor:
    """SCALE relation alignment (Eq. 10), averaged over the positive pairs.

    ``L = mean_{(i,j)∈P} −log [exp(s_ij/τ) / (exp(s_ij/τ) + Σ_{v∈V_i} exp(s_iv/τ))]`` with
    ``anchor``, ``positive`` ``[P, d]`` (the pairs of the OMP graph) and ``negatives``
    ``[P, V, d]`` (``V`` sampled unrelated entities per pair); ``s`` is the cosine similarity.
    """
    _check_rows("relation_alignment_loss", anchor, positive)
    if negatives.ndim != 3 or negatives.shape[0] != anchor.shape[0] or negatives.shape[2] != anchor.shape[1]:
        raise ValueError(f"relation_alignment_loss: negatives must be [{anchor.shape[0]}, V, {anchor.shape[1]}], "
                         f"got {tuple(negatives.shape)}")
    a = F.normalize(anchor, dim=1)
    s_pos = (a * F.normalize(positive, dim=1)).sum(1, keepdim=True)
    s_neg = torch.einsum("pd,pvd->pv", a, F.normalize(negatives, dim=2))
    logits = torch.cat([s_pos, s_neg], dim=1) / temperature
    return F.cross_entropy(logits, torch.zeros(len(a), dtype=torch.long, device=a.device))


def _similarity_logits(name: str, anchors: Tensor, candidates: Tensor, positive_mask: Tensor, temperature: float,
                       normalize: bool) -> tuple[Tensor, Tensor]:
    """Checked ``[B, C]`` logits ``z_a · z_c / τ`` (cosine when ``normalize``) and the bool mask."""
    if anchors.ndim != 2 or candidates.ndim != 2 or anchors.shape[1] != candidates.shape[1]:
        raise ValueError(f"{name}: anchors {tuple(anchors.shape)} and candidates {tuple(candidates.shape)} "
                         "must be [B, d] and [C, d]")
    if positive_mask.shape != (anchors.shape[0], candidates.shape[0]):
        raise ValueError(f"{name}: positive_mask has shape {tuple(positive_mask.shape)}; expected "
                         f"[{anchors.shape[0]}, {candidates.shape[0]}]")
    if normalize:
        anchors, candidates = F.normalize(anchors, dim=1), F.normalize(candidates, dim=1)
    return anchors @ candidates.T / temperature, positive_mask.to(anchors.device).bool()


def _mean_over_positives(pair_loss: Tensor, positive: Tensor) -> Tensor:
    """``mean_{i : |P(i)| ≥ 1} (1/|P(i)|) Σ_{p∈P(i)} pair_loss[i, p]``; 0 (with a graph) without positives."""
    n_positive = positive.sum(1)
    per_anchor = torch.where(positive, pair_loss, 0.0).sum(1) / n_positive.clamp_min(1)
    has_positive = n_positive > 0
    if not has_positive.any():
        return pair_loss.nan_to_num(0.0, 0.0, 0.0).sum() * 0.0
    return per_anchor[has_positive].mean()


def sincere_loss(anchors: Tensor, candidates: Tensor, positive_mask: Tensor, temperature: float,
                 normalize: bool = True) -> Tensor:
    """SINCERE (Feeney & Hughes 2023), the cross-modal term of SymCERE.

    With L2-normalised ``z``, ``s_ij = z_i · z_j / τ``, positives ``P(i)`` (``positive_mask[i]``)
    and negatives ``N(i)`` (every other candidate):
    ``ℓ(i, p) = −s_ip + log(exp(s_ip) + Σ_{n∈N(i)} exp(s_in))`` and
    ``L = mean_{i : |P(i)| ≥ 1} (1/|P(i)|) Σ_{p∈P(i)} ℓ(i, p)``.
    Other positives are absent from the denominator (unlike SupCon) and are not pushed away
    (unlike InfoNCE). ``anchors`` ``[B, d]``, ``candidates`` ``[C, d]``, ``positive_mask``
    ``[B, C]`` bool, any shape (users × items: rows and columns are different sets, so the loss
    is computed row by row, never through the transpose). Anchors without a positive are skipped;
    with none at all the loss is 0. ``normalize=False`` uses raw dot products (the no-L2 ablation).
    """
    logits, positive = _similarity_logits("sincere_loss", anchors, candidates, positive_mask, temperature, normalize)
    has_negative = (~positive).any(1, keepdim=True)
    # rows without negatives get a finite placeholder, then -inf through where(), so no NaN gradient
    negative_logits = logits.masked_fill(positive | ~has_negative, -torch.inf).masked_fill(~has_negative, 0.0)
    negative_lse = torch.where(has_negative, negative_logits.logsumexp(1, keepdim=True), -torch.inf)
    pair_loss = torch.logaddexp(logits, negative_lse) - logits
    return _mean_over_positives(pair_loss, positive)


def symmetric_sincere_loss(x: Tensor, y: Tensor, positive_mask: Tensor, temperature: float,
                           normalize: bool = True) -> Tensor:
    """SymCERE's cross-modal loss: SINCERE in both directions, ``(L(x→y, M) + L(y→x, Mᵀ)) / 2``."""
    return (sincere_loss(x, y, positive_mask, temperature, normalize)
            + sincere_loss(y, x, positive_mask.T, temperature, normalize)) / 2


def supcon_loss(anchors: Tensor, candidates: Tensor, positive_mask: Tensor, temperature: float,
                normalize: bool = True) -> Tensor:
    """Supervised contrastive loss (Khosla et al. 2020, ``L^sup_out``), the baseline SINCERE revisits.

    ``ℓ(i, p) = −s_ip + log Σ_{c} exp(s_ic)`` over **every** candidate ``c``: the other positives
    of ``i`` sit in the denominator and are pushed away. Same shapes, masking of anchors without a
    positive and mean as :func:`sincere_loss`.
    """
    logits, positive = _similarity_logits("supcon_loss", anchors, candidates, positive_mask, temperature, normalize)
    return _mean_over_positives(logits.logsumexp(1, keepdim=True) - logits, positive)


def diversity_loss(item_emb: Tensor) -> Tensor:
    """GLEM-Rec diversity loss: mean cosine similarity over ordered pairs ``i ≠ j`` (Sec. 2.5.2).

    ``L = 1/(N(N−1)) Σ_i Σ_{j≠i} cos(e_i, e_j)``, computed in ``O(N·d)`` from the normalised
    rows ``ê``: ``Σ_{i≠j} ê_i·ê_j = ||Σ_i ê_i||² − Σ_i ||ê_i||²`` (the last sum is ``N`` unless
    a row is zero, whose cosines count as 0).
    """
    if item_emb.ndim != 2 or len(item_emb) < 2:
        raise ValueError(f"diversity_loss needs [N >= 2, d] embeddings, got {tuple(item_emb.shape)}")
    unit = F.normalize(item_emb, dim=1)
    n = len(unit)
    return (unit.sum(0).square().sum() - unit.square().sum()) / (n * (n - 1))


def personalization_loss(u_liked: Tensor, e_liked: Tensor, u_disliked: Tensor, e_disliked: Tensor) -> Tensor:
    """GLEM-Rec personalisation loss (Sec. 2.5.2).

    ``L = (1 − mean_{(u,i)∈H} cos(u_u, e_i)) + max(0, mean_{(u,j)∈L} cos(u_u, e_j))`` where row
    ``r`` of ``u_liked`` / ``e_liked`` is a user and an item the user liked (``H``), likewise for
    the disliked pairs (``L``). An empty set contributes nothing (its term is 0).
    """
    _check_rows("personalization_loss (liked)", u_liked, e_liked)
    _check_rows("personalization_loss (disliked)", u_disliked, e_disliked)
    liked_term = (1 - F.cosine_similarity(u_liked, e_liked, dim=1).mean()) if len(u_liked) else u_liked.sum() * 0.0
    disliked_term = (F.cosine_similarity(u_disliked, e_disliked, dim=1).mean().clamp_min(0.0) if len(u_disliked)
                     else u_disliked.sum() * 0.0)
    return liked_term + disliked_term


def coverage_loss(item_emb: Tensor) -> Tensor:
    """GLEM-Rec coverage loss: ``σ({||e_i||₂ : i ∈ I})``, the standard deviation of the row norms (Sec. 2.5.2).

    Population standard deviation (divides by ``N``); the variance is floored at ``1e-12`` so that
    the gradient stays finite when every norm is equal.
    """
    if item_emb.ndim != 2 or len(item_emb) == 0:
        raise ValueError(f"coverage_loss needs [N >= 1, d] embeddings, got {tuple(item_emb.shape)}")
    norms = item_emb.norm(dim=1)
    return norms.var(correction=0).clamp_min(1e-12).sqrt()


REG_STYLES = ("squared", "mmrec")


def l2_regularization(*tensors: Tensor, style: str = "squared") -> Tensor:
    """Weight decay on the embeddings of a batch, in one of two conventions.

    - ``style="squared"`` (LightGCN's paper and RecBole): ``Σ_t ||t||_F² / (2B)``;
    - ``style="mmrec"`` (MMRec's ``EmbLoss``): ``Σ_t ||t||_F / B`` — the Frobenius norm of each
      batch matrix, *not squared*, so one ``reg_weight`` means a different model in each style
      (MMRec's configs assume this one).

    ``B`` is the number of rows of the first tensor (the batch size), so the penalty does not
    grow with the batch; pass the layer-0 embeddings of the batch's users, positives and negatives.
    """
    if not tensors:
        raise ValueError("l2_regularization needs at least one tensor")
    if style == "squared":
        return sum(t.square().sum() for t in tensors) / 2 / tensors[0].shape[0]
    if style == "mmrec":
        return sum(torch.linalg.vector_norm(t) for t in tensors) / tensors[0].shape[0]
    raise ValueError(f"unknown reg_style {style!r}; choose one of {REG_STYLES}")


def popularity_weighted_mse(pred: Tensor, target: Tensor, item_counts: Tensor,
                            max_count: float | None = None) -> Tensor:
    """GLEM-Rec popularity-weighted rating loss (Sec. 2.5.2).

    ``L = 1/|E| Σ_{(u,i)∈E} ω_i (r_ui − r̂_ui)²`` with ``ω_i = max_j count_j / count_i``.
    ``item_counts`` ``[E]`` holds the training count of each pair's item. ``max_count`` is
    ``max_j count_j`` over the catalogue; pass it (``data.item_popularity().max()``) for the
    paper's weights, else the largest count in ``item_counts`` is used. Counts below 1 are
    treated as 1 (unseen items get the largest weight). The sum is divided by ``|E|``, as in the
    paper, not by ``Σ ω``: rare items weigh up to ``max_count`` times more than the most popular.
    """
    if not (pred.shape == target.shape == item_counts.shape) or pred.ndim != 1:
        raise ValueError(f"popularity_weighted_mse: pred {tuple(pred.shape)}, target {tuple(target.shape)} and "
                         f"item_counts {tuple(item_counts.shape)} must be the same 1-D shape")
    counts = item_counts.to(pred.device).float().clamp_min(1.0)
    top = counts.max() if max_count is None else torch.as_tensor(float(max_count), device=pred.device)
    return ((top / counts) * (pred - target.to(pred.dtype)).square()).mean()


def transr_score(head: Tensor, relation: Tensor, tail: Tensor, projection: Tensor) -> Tensor:
    """TransR plausibility ``g(h, r, t) = ||W_r e_h + e_r − W_r e_t||²₂`` (KGAT Eq. 1; Multi-KG4Rec).

    ``head``, ``tail`` ``[T, d]`` entity embeddings; ``relation`` ``[T, k]``; ``projection``
    ``[T, k, d]`` is each triple's ``W_r``. Returns ``[T]``; lower means more plausible.
    """
    if head.shape != tail.shape or projection.shape != (head.shape[0], relation.shape[1], head.shape[1]):
        raise ValueError(f"transr_score: head {tuple(head.shape)}, relation {tuple(relation.shape)}, tail "
                         f"{tuple(tail.shape)} and projection {tuple(projection.shape)} must be [T, d], [T, k], "
                         "[T, d] and [T, k, d]")
    translated = torch.bmm(projection, (head - tail).unsqueeze(-1)).squeeze(-1) + relation
    return translated.square().sum(-1)


def transr_loss(pos_score: Tensor, neg_score: Tensor) -> Tensor:
    """TransR's pairwise ranking loss ``mean(−log σ(g(h, r, t') − g(h, r, t)))`` (KGAT Eq. 2).

    ``pos_score`` are the scores of true triples, ``neg_score`` those of triples with a corrupted
    tail; lower scores are better, so the loss pushes ``g`` of true triples below the corrupted ones.
    """
    if pos_score.shape != neg_score.shape:
        raise ValueError(f"transr_loss: {tuple(pos_score.shape)} positive and {tuple(neg_score.shape)} negative scores")
    return F.softplus(pos_score - neg_score).mean()


def mutual_learning_kl(student_scores: Tensor, teacher_scores: Tensor, temperature: float = 1.0) -> Tensor:
    """Deep mutual learning term of GNNMR (Eq. 8): ``mean_rows KL(p_teacher || p_student)``.

    ``student_scores``, ``teacher_scores`` ``[B, C]``: the scores of each row's candidate list
    (GNNMR: a user's positive and sampled negatives). Each row becomes a distribution
    ``p = softmax(s / T)``; the KL ``Σ_c p_t log(p_t / p_s)`` is averaged over rows
    (``batchmean``). The teacher is detached: the term never sends it a gradient.
    """
    _check_rows("mutual_learning_kl", student_scores, teacher_scores)
    if temperature <= 0:
        raise ValueError(f"mutual_learning_kl: temperature must be positive, got {temperature}")
    log_student = F.log_softmax(student_scores / temperature, dim=1)
    log_teacher = F.log_softmax(teacher_scores.detach() / temperature, dim=1)
    return F.kl_div(log_student, log_teacher, reduction="batchmean", log_target=True)
