"""Multi-KG4Rec's multimodal knowledge graph: a movie KG from item metadata, the two single-modal
graphs, and breadth-first neighbour sequences.

- :func:`movie_knowledge_graph` turns MovieLens-100K + TMDB metadata into typed triples
  ``(movie, relation, attribute)``: genre (MovieLens), production company, production country,
  original language, collection (TMDB) and release decade (MovieLens year). The loader keeps the
  first of repeated TMDB rows; here repeated facts collapse to one triple. Movies whose TMDB title
  disagrees with the MovieLens title (``tmdb_title_agreement < 0.5``, the loader's warning) get no
  TMDB facts: those describe another film. :func:`trusted_tmdb_items` returns the flag.
- :func:`single_modal_features` gives every node of the collaborative KG (entities, then users)
  a visual and a textual feature. Items: poster / overview. Attribute entities: their name as
  text; for the visual graph (the paper leaves it open) the course takes the **mean visual feature
  of the items linked to the attribute**, since a genre or a studio has no picture of its own and
  the mean of its posters is the point of the image space it stands for. Users have no content
  either; by the same rule a user's feature in each graph is the mean of their training items'.
- :func:`bfs_neighbours`: for each source, up to ``n`` nodes in breadth-first order (the source,
  its 1-hop neighbours, then 2-hop, ...), computed for a chunk of sources at once with one sparse
  product per hop (memory ``O(chunk · N)``). Within a hop an optional ``priority`` orders node
  kinds (the model puts attribute entities before users, else a popular movie's sequence would be
  only users); remaining ties are broken by a seeded random order.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from ..data.movielens import TITLE_AGREEMENT_THRESHOLD
from ..data.recdata import DataError, KnowledgeGraph, RecData

__all__ = ["MOVIE_RELATIONS", "trusted_tmdb_items", "movie_knowledge_graph", "attribute_texts", "ModalFeatures",
           "single_modal_features", "bfs_neighbours"]

#: relation name -> (item_meta column or "categories" / "decade", entity prefix, from TMDB)
MOVIE_RELATIONS = {
    "has_genre": ("categories", "genre", False),
    "produced_by": ("tmdb_production_companies", "company", True),
    "produced_in": ("tmdb_production_countries", "country", True),
    "in_language": ("tmdb_original_language", "language", True),
    "in_collection": ("tmdb_collection", "collection", True),
    "released_in": ("decade", "decade", False),
}


def trusted_tmdb_items(data: RecData) -> np.ndarray:
    """Bool ``[n_items]``: the item's TMDB link agrees with its MovieLens title (or there is no TMDB data)."""
    meta = data.item_meta
    if meta is None or "tmdb_title_agreement" not in meta:
        return np.ones(data.n_items, dtype=bool)
    return meta["tmdb_title_agreement"].fillna(1.0).to_numpy() >= TITLE_AGREEMENT_THRESHOLD


def _values(cell) -> list[str]:
    """The attribute values of one metadata cell (a list, a string, or missing)."""
    if isinstance(cell, (list, tuple, np.ndarray)):
        return [str(v).strip() for v in cell if isinstance(v, str) and v.strip()]
    if isinstance(cell, str) and cell.strip():
        return [cell.strip()]
    return []


def _relation_column(data: RecData, source: str) -> list:
    if source == "categories":
        data.require("item_categories")
        return list(data.item_categories)
    if source == "decade":
        years = pd.to_numeric(data.item_meta["year"], errors="coerce")
        return [f"{int(y) // 10 * 10}s" if pd.notna(y) else None for y in years]
    return data.item_meta[source].tolist() if source in data.item_meta else [None] * data.n_items


def movie_knowledge_graph(data: RecData, relations: dict | None = None, min_items: int = 2) -> KnowledgeGraph:
    """The item KG of a MovieLens(+TMDB) dataset: entities ``0..n_items-1`` are the items.

    ``relations`` (default :data:`MOVIE_RELATIONS`) maps a relation name to its metadata source.
    Attribute values shared by fewer than ``min_items`` items are dropped (a value seen once links
    nothing). Movies failing :func:`trusted_tmdb_items` contribute no TMDB facts.
    """
    data.require("item_meta")
    relations = MOVIE_RELATIONS if relations is None else relations
    trusted = trusted_tmdb_items(data)
    rows = []
    for name, (source, prefix, from_tmdb) in relations.items():
        for item, cell in enumerate(_relation_column(data, source)):
            if from_tmdb and not trusted[item]:
                continue
            rows.extend((item, name, f"{prefix}:{value}") for value in _values(cell))
    facts = pd.DataFrame(rows, columns=["item", "relation", "entity"]).drop_duplicates()
    support = facts.groupby("entity")["item"].transform("size")
    facts = facts[support >= min_items]
    relation_names = [name for name in relations if (facts["relation"] == name).any()]
    entity_names = sorted(facts["entity"].unique())
    entity_id = {name: data.n_items + k for k, name in enumerate(entity_names)}
    relation_id = {name: k for k, name in enumerate(relation_names)}
    triples = np.stack([facts["item"].to_numpy(), facts["relation"].map(relation_id).to_numpy(),
                        facts["entity"].map(entity_id).to_numpy()], axis=1).astype(np.int64)
    titles = data.item_text.get("title") if data.item_text else None
    item_names = [str(t) for t in titles] if titles is not None else [str(i) for i in data.item_ids]
    return KnowledgeGraph(torch.as_tensor(triples), item_names + entity_names, relation_names)


def attribute_texts(kg: KnowledgeGraph, n_items: int) -> list[str]:
    """The text a text encoder reads for each attribute entity: ``"genre:Horror"`` → ``"genre: Horror"``."""
    return [name.replace(":", ": ", 1) for name in kg.entity_names[n_items:]]


@dataclass(frozen=True)
class ModalFeatures:
    """Visual and textual features of every node of the collaborative KG (entities, then users):
    ``visual`` ``[n_nodes, d_v]`` and ``text`` ``[n_nodes, d_t]``."""

    visual: Tensor
    text: Tensor


def _mean_rows(features: Tensor, group: Tensor, member: Tensor, n_groups: int) -> Tensor:
    """Row ``g`` = the mean of ``features[member[j]]`` over the ``j`` with ``group[j] == g`` (0 if none)."""
    sums = torch.zeros(n_groups, features.shape[1]).index_add_(0, group, features[member])
    return sums / torch.bincount(group, minlength=n_groups).clamp_min(1).unsqueeze(1)


def single_modal_features(kg: KnowledgeGraph, data: RecData, item_visual: Tensor, item_text: Tensor,
                          entity_text: Tensor) -> ModalFeatures:
    """Node features of the visual and the textual graph (see the module docstring for the choices).

    ``item_visual`` ``[n_items, d_v]`` and ``item_text`` ``[n_items, d_t]`` are the item features;
    ``entity_text`` ``[n_entities - n_items, d_t]`` encodes the attribute entities' names. An
    attribute's visual feature is the mean visual feature of its items; a user's features are the
    means over the user's training items.
    """
    n_items, n_attributes = data.n_items, kg.n_entities - data.n_items
    if len(item_visual) != n_items or len(item_text) != n_items or len(entity_text) != n_attributes:
        raise DataError(f"single_modal_features: expected {n_items} item and {n_attributes} attribute rows, got "
                        f"{len(item_visual)} visual, {len(item_text)} text and {len(entity_text)} attribute rows")
    item_visual, item_text = item_visual.float().cpu(), item_text.float().cpu()
    head, _, tail = kg.triples.long().T
    linked = (head < n_items) & (tail >= n_items)
    attribute, item = tail[linked] - n_items, head[linked]
    user, user_item = data.train.user.long(), data.train.item.long()
    visual = torch.cat([item_visual, _mean_rows(item_visual, attribute, item, n_attributes),
                        _mean_rows(item_visual, user, user_item, data.n_users)])
    text = torch.cat([item_text, entity_text.float().cpu(), _mean_rows(item_text, user, user_item, data.n_users)])
    return ModalFeatures(visual, text)


def bfs_neighbours(edge_index: Tensor, n_nodes: int, sources: Tensor, n_neighbours: int, max_hops: int = 3,
                   priority: Tensor | None = None, seed: int = 0, chunk: int = 1024) -> tuple[Tensor, Tensor]:
    """Breadth-first neighbour sequences: ``(nodes [S, n], hops [S, n])``, padded with ``-1``.

    Position 0 is the source itself (hop 0), followed by its 1-hop neighbours, then 2-hop ones, ...
    up to ``max_hops`` (the graph is treated as undirected). Within a hop, nodes of lower
    ``priority`` (``[n_nodes]`` non-negative ints) come first, then a random permutation of the
    nodes drawn once from ``seed`` decides.
    """
    if n_neighbours < 1 or max_hops < 0:
        raise ValueError(f"bfs_neighbours needs n_neighbours >= 1 and max_hops >= 0, got {n_neighbours}, {max_hops}")
    device = edge_index.device
    both = torch.cat([edge_index, edge_index.flip(0)], dim=1)
    adjacency = torch.sparse_coo_tensor(both, torch.ones(both.shape[1], device=device), (n_nodes, n_nodes),
                                        check_invariants=True).coalesce()
    generator = torch.Generator().manual_seed(seed)
    tiebreak = torch.randperm(n_nodes, generator=generator).to(device)
    priority = torch.zeros(n_nodes, dtype=torch.long) if priority is None else priority.long()
    n_levels = int(priority.max()) + 1
    tiebreak = tiebreak + priority.to(device) * n_nodes
    nodes_out, hops_out = [], []
    for start in range(0, len(sources), chunk):
        block = sources[start:start + chunk].to(device)
        hop = torch.full((len(block), n_nodes), max_hops + 1, dtype=torch.long, device=device)
        frontier = torch.zeros(len(block), n_nodes, device=device)
        frontier[torch.arange(len(block), device=device), block] = 1.0
        hop[frontier.bool()] = 0
        for distance in range(1, max_hops + 1):
            reached = torch.sparse.mm(adjacency, frontier.T).T > 0
            new = reached & (hop > max_hops)
            hop[new] = distance
            frontier = new.float()
        key = hop * (n_levels * n_nodes) + tiebreak.unsqueeze(0)
        order = key.topk(min(n_neighbours, n_nodes), dim=1, largest=False).indices
        chosen_hop = hop.gather(1, order)
        unreached = chosen_hop > max_hops
        nodes_out.append(order.masked_fill(unreached, -1))
        hops_out.append(chosen_hop.masked_fill(unreached, -1))
    nodes, hops = torch.cat(nodes_out), torch.cat(hops_out)
    if nodes.shape[1] < n_neighbours:
        pad = torch.full((len(nodes), n_neighbours - nodes.shape[1]), -1, dtype=torch.long, device=device)
        nodes, hops = torch.cat([nodes, pad], 1), torch.cat([hops, pad], 1)
    return nodes, hops
