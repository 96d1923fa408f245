"""Multi-KG4Rec's multimodal KG: the movie KG builder, single-modal features, BFS neighbour order."""
import numpy as np
import pandas as pd
import pytest
import torch

from mmrec_lite.data import DataError, Interactions, RecData
from mmrec_lite.graphs import collaborative_kg
from mmrec_lite.graphs.mmkg import (attribute_texts, bfs_neighbours, movie_knowledge_graph, single_modal_features,
                                    trusted_tmdb_items)


def _movies() -> RecData:
    """4 movies; movie 3 is mislinked to TMDB (agreement 0.1); 'Pixar' is listed twice for movie 0."""
    meta = pd.DataFrame({
        "year": [1995, 1995, 1987, 1999],
        "tmdb_production_companies": [["Pixar", "Pixar"], ["Pixar"], ["Orion"], ["Pixar"]],
        "tmdb_production_countries": [["US"], ["US"], ["UK"], ["US"]],
        "tmdb_original_language": ["en", "en", "en", "fr"],
        "tmdb_collection": ["Toy Story Collection", "", "", "Toy Story Collection"],
        "tmdb_title_agreement": [1.0, 1.0, 0.9, 0.1],
    })
    inter = Interactions.from_arrays([0, 0, 1, 1, 2], [0, 1, 1, 2, 3])
    data = RecData("movies", np.arange(3), np.arange(4), inter, item_meta=meta,
                   item_categories=[["Animation"], ["Animation", "Comedy"], ["Comedy"], ["Drama"]],
                   item_text={"title": ["Toy Story", "A Bug's Life", "RoboCop", "Wrong Film"]})
    return data.with_splits(inter, Interactions.empty(), Interactions.empty())


def test_movie_kg_has_the_expected_facts_and_drops_mislinked_tmdb_facts():
    data = _movies()
    assert trusted_tmdb_items(data).tolist() == [True, True, True, False]
    kg = movie_knowledge_graph(data, min_items=2)
    facts = set(map(tuple, kg.to_frame().to_numpy().tolist()))
    assert facts == {
        ("Toy Story", "has_genre", "genre:Animation"), ("A Bug's Life", "has_genre", "genre:Animation"),
        ("A Bug's Life", "has_genre", "genre:Comedy"), ("RoboCop", "has_genre", "genre:Comedy"),
        ("Toy Story", "produced_by", "company:Pixar"), ("A Bug's Life", "produced_by", "company:Pixar"),
        ("Toy Story", "produced_in", "country:US"), ("A Bug's Life", "produced_in", "country:US"),
        ("Toy Story", "in_language", "language:en"), ("A Bug's Life", "in_language", "language:en"),
        ("RoboCop", "in_language", "language:en"),
        ("Toy Story", "released_in", "decade:1990s"), ("A Bug's Life", "released_in", "decade:1990s"),
        ("Wrong Film", "released_in", "decade:1990s"),
    }  # the duplicate Pixar collapses; singletons (Orion, UK, fr, Drama, 1980s) and movie 3's TMDB facts go
    assert len(kg.triples) == len(facts)
    assert "in_collection" not in kg.relation_names  # only the mislinked movie shared the collection
    assert kg.entity_names[:4] == ["Toy Story", "A Bug's Life", "RoboCop", "Wrong Film"]
    assert attribute_texts(kg, 4)[0] == kg.entity_names[4].replace(":", ": ", 1)


def test_every_relation_of_the_collaborative_kg_has_its_inverse():
    data = _movies()
    data.kg = movie_knowledge_graph(data)
    ckg = collaborative_kg(data)
    n_base = ckg.n_relations // 2
    assert ckg.relation_names[0] == "interact"
    assert ckg.relation_names[n_base:] == [f"rev_{name}" for name in ckg.relation_names[:n_base]]
    forward = ckg.edge_type < n_base
    (head, tail), relation = ckg.edge_index.tolist(), ckg.edge_type.tolist()
    triples = list(zip(head, relation, tail))
    pairs = {triple for triple, is_forward in zip(triples, forward.tolist()) if is_forward}
    inverse = {(t, r - n_base, h) for (h, r, t), is_forward in zip(triples, forward.tolist()) if not is_forward}
    assert pairs == inverse and len(pairs) == int(forward.sum())


def test_single_modal_features_use_item_means_for_attributes_and_users():
    data = _movies()
    kg = movie_knowledge_graph(data)
    visual = torch.arange(8, dtype=torch.float32).view(4, 2)
    text = torch.ones(4, 3) * torch.arange(4).view(4, 1)
    names = torch.full((kg.n_entities - 4, 3), 7.0)
    feats = single_modal_features(kg, data, visual, text, names)
    assert feats.visual.shape == (kg.n_entities + 3, 2) and feats.text.shape == (kg.n_entities + 3, 3)
    comedy = kg.entity_names.index("genre:Comedy")
    torch.testing.assert_close(feats.visual[comedy], (visual[1] + visual[2]) / 2)
    torch.testing.assert_close(feats.text[comedy], torch.full((3,), 7.0))
    user_1 = kg.n_entities + 1  # user 1 watched movies 1 and 2
    torch.testing.assert_close(feats.visual[user_1], (visual[1] + visual[2]) / 2)
    torch.testing.assert_close(feats.text[user_1], (text[1] + text[2]) / 2)
    with pytest.raises(DataError, match="attribute rows"):
        single_modal_features(kg, data, visual, text, names[:1])


def test_bfs_orders_neighbours_by_hop_distance_on_a_hand_made_graph():
    #   0 - 1 - 3 - 5        0's hops: 1, 2 at 1; 3, 4 at 2; 5 at 3; 6 unreachable
    #    \ 2 - 4             1's hops: 0, 3 at 1; 2, 5 at 2; 4 at 3
    edge_index = torch.tensor([[0, 0, 1, 2, 3], [1, 2, 3, 4, 5]])
    nodes, hops = bfs_neighbours(edge_index, 7, torch.tensor([0, 1, 6]), n_neighbours=7, max_hops=3)
    assert hops[0].tolist() == [0, 1, 1, 2, 2, 3, -1]
    assert nodes[0, 0] == 0 and set(nodes[0, 1:3].tolist()) == {1, 2} and set(nodes[0, 3:5].tolist()) == {3, 4}
    assert nodes[0, 5] == 5 and nodes[0, 6] == -1
    assert hops[1].tolist() == [0, 1, 1, 2, 2, 3, -1] and set(nodes[1, 1:3].tolist()) == {0, 3}
    assert nodes[2].tolist() == [6, -1, -1, -1, -1, -1, -1]  # isolated node: itself, then padding
    short, short_hops = bfs_neighbours(edge_index, 7, torch.tensor([0]), n_neighbours=4, max_hops=1)
    assert short_hops.tolist() == [[0, 1, 1, -1]]
    # priority puts node 2 before node 1 within hop 1, whatever the random tie-break
    priority = torch.tensor([0, 1, 0, 0, 0, 0, 0])
    ordered, _ = bfs_neighbours(edge_index, 7, torch.tensor([0]), n_neighbours=3, max_hops=1, priority=priority)
    assert ordered.tolist() == [[0, 2, 1]]


def test_bfs_chunks_agree_with_one_pass():
    torch.manual_seed(0)
    edge_index = torch.randint(40, (2, 80))
    sources = torch.arange(40)
    whole = bfs_neighbours(edge_index, 40, sources, 10, chunk=1024)
    chunked = bfs_neighbours(edge_index, 40, sources, 10, chunk=7)
    assert torch.equal(whole[0], chunked[0]) and torch.equal(whole[1], chunked[1])
    assert (whole[1][:, 1:] >= whole[1][:, :-1]).logical_or(whole[1][:, 1:] == -1).all()  # sorted by hop
