"""Graphs: the normalised user–item adjacency, edge pruning, kNN similarity graphs, PyG
``HeteroData`` builders, knowledge-graph utilities, batched OMP and SCALE's semantic graphs. Everything takes and returns torch tensors
on any device; PyG is imported only by :func:`to_hetero_data`."""
from .adjacency import (bipartite_edge_index, dense_rows, normalized_adjacency, sparse_matrix,
                        symmetric_spmm, to_csr, transposed_spmm, unique_pairs)
from .hetero import to_hetero_data
from .kg import CollaborativeKG, collaborative_kg, kg_edge_index
from .kg_propagation import KnowledgeAwarePropagation, knowledge_attention
from .knn import cosine_topk, knn_adjacency, knn_cross, knn_graph
from .omp import omp, omp_candidates, subspace_graph
from .pruning import degree_sensitive_pruning, pruned_adjacency, uniform_edge_pruning
from .semantic import SemanticGraphs, build_semantic_graphs, combine_graphs, normalize_graph

__all__ = ["normalized_adjacency", "bipartite_edge_index", "symmetric_spmm", "transposed_spmm", "sparse_matrix", "to_csr",
           "dense_rows", "unique_pairs", "degree_sensitive_pruning", "pruned_adjacency", "uniform_edge_pruning", "knn_graph",
           "knn_cross", "knn_adjacency", "cosine_topk", "to_hetero_data", "kg_edge_index", "collaborative_kg",
           "CollaborativeKG", "omp", "omp_candidates", "subspace_graph", "SemanticGraphs", "build_semantic_graphs",
           "combine_graphs", "normalize_graph", "knowledge_attention", "KnowledgeAwarePropagation"]
