"""Multi-KG4Rec: one training epoch at MovieLens-100K size, and memory against the number of triples.

Data: MovieLens-100K + TMDB from ``MMREC_DATA`` with the chapter's KG
(:func:`~mmrec_lite.graphs.mmkg.movie_knowledge_graph`) when it is there, else the synthetic
generator at the full profile's size; features are random (encoders are timed elsewhere), of
CLIP's width (512). The model uses the full profile's sizes (3 blocks × 8 heads, layers 64/32/16,
16 neighbours). It prints the seconds of the KG phase (TransR pass + attention refresh) and of the
CF phase (the ``fit()`` batches) of one epoch; the propagation's forward + backward on the whole
collaborative KG in the edge-list form the library used before (one ``index_add_`` of weighted
messages per layer) against the attention matrix of :func:`attention_adjacency` it uses now (one
sparse product per layer), with their ratio measured in the same run; then the memory that one forward pass of the
attention and propagation keeps for its backward (the bytes of every tensor autograd saves) on
graphs of T, 2T and 4T random triples over the same nodes: the ratios should stay close to 1, 2, 4
(memory linear in the triples). ``--memory-only`` skips the epoch. Usage::

    python benchmarks/bench_multi_kg4rec.py [--device cuda] [--threads 1] [--batch-size 4096] [--memory-only]
"""
from __future__ import annotations

import argparse
import dataclasses
import time
import warnings

import torch

from mmrec_lite.data import load_dataset
import torch.nn.functional as F

from mmrec_lite.graphs import KnowledgeAwarePropagation
from mmrec_lite.graphs.kg_propagation import attention_adjacency
from mmrec_lite.graphs.mmkg import ModalFeatures, movie_knowledge_graph
from mmrec_lite.models.multi_kg4rec import MultiKG4Rec
from mmrec_lite.profiles import PROFILES, data_root, resolve_device
from mmrec_lite.training import fit


def dataset():
    if (data_root() / "ml-100k" / "u.data").exists():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            data = load_dataset("ml-100k", profile="full")
        return dataclasses.replace(data, kg=movie_knowledge_graph(data))
    return load_dataset("synthetic", profile="full")


def epoch_seconds(data, device, batch_size: int) -> tuple[float, float, int]:
    hp = PROFILES["full"].for_chapter("multi_kg4rec")
    n_nodes = data.kg.n_entities + data.n_users
    g = torch.Generator().manual_seed(0)
    features = ModalFeatures(torch.randn(n_nodes, 512, generator=g), torch.randn(n_nodes, 512, generator=g))
    model = MultiKG4Rec(data, features, **hp["model"], seed=0).to(device)
    start = time.perf_counter()
    model.on_epoch_start(0)
    kg_phase = time.perf_counter() - start
    start = time.perf_counter()
    fit(model, data, epochs=1, batch_size=batch_size, learning_rate=1e-3, eval_every=None, device=device,
        progress=False)
    cf_phase = time.perf_counter() - start - kg_phase  # fit() runs on_epoch_start once more
    return kg_phase, cf_phase, model


def edge_list_propagation(module: KnowledgeAwarePropagation, x, edge_index, weight):
    """The edge-list form (before): e_N(h) = Σ_t π̃(h, r, t) e_t as one ``index_add_`` per layer."""
    head, tail = edge_index
    layers, layer = [x], x
    for sum_layer, product_layer in zip(module.sum_layers, module.product_layers):
        neighbourhood = torch.zeros_like(layer).index_add_(0, head, layer.index_select(0, tail) * weight[:, None])
        layer = F.normalize(F.leaky_relu(sum_layer(layer + neighbourhood), 0.2)
                            + F.leaky_relu(product_layer(layer * neighbourhood), 0.2), dim=1)
        layers.append(layer)
    return torch.cat(layers, dim=1)


def propagation_seconds(model: MultiKG4Rec, device, repeats: int = 3) -> tuple[float, float]:
    """Best-of-``repeats`` forward + backward seconds of one graph's propagation, edge list vs CSR."""
    module = next(iter(model.propagation.values()))
    x = torch.randn(model.n_nodes, module.sum_layers[0].in_features, device=device, requires_grad=True)
    with torch.no_grad():
        weight = module.attention(x, model.edge_index, model.edge_type)
    adjacency = attention_adjacency(model.edge_index, weight, model.n_nodes)

    def best(step):
        times = []
        for _ in range(repeats):
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            step().sum().backward()
            if device.type == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - start)
        return min(times)

    return (best(lambda: edge_list_propagation(module, x, model.edge_index, weight)),
            best(lambda: module.propagate(x, adjacency)))


def propagation_memory(n_nodes: int, n_triples: int, device) -> float:
    """MiB of the tensors autograd saves in one forward pass with ``n_triples`` random triples."""
    g = torch.Generator().manual_seed(1)
    edge_index = torch.randint(n_nodes, (2, n_triples), generator=g).to(device)
    edge_type = torch.randint(20, (n_triples,), generator=g).to(device)
    module = KnowledgeAwarePropagation(20, 64, (64, 32, 16), 64).to(device)
    x = torch.randn(n_nodes, 64, device=device, requires_grad=True)
    saved = []

    def pack(tensor):
        saved.append(tensor.numel() * tensor.element_size())
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        output = module(x, edge_index, module.attention(x, edge_index, edge_type))
    output.sum().backward()
    return sum(saved) / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=4096)
    parser.add_argument("--memory-only", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    data = dataset()
    n_nodes, n_edges = data.kg.n_entities + data.n_users, 2 * (len(data.train) + len(data.kg.triples))
    print(f"{data.name}: {data.n_users} users, {data.n_items} items, {len(data.train)} training pairs, "
          f"{n_edges} directed CKG edges, device {device}, {args.threads} thread(s)")
    if not args.memory_only:
        kg_phase, cf_phase, model = epoch_seconds(data, device, args.batch_size)
        print(f"one epoch: KG phase {kg_phase:.1f} s + CF phase {cf_phase:.1f} s (batch {args.batch_size}) "
              f"= {kg_phase + cf_phase:.1f} s")
        before, now = propagation_seconds(model, device)
        print(f"propagation forward + backward, one graph, {model.edge_index.shape[1]} edges: edge-list index_add_ "
              f"(before) {before:.3f} s, CSR attention matrix (now) {now:.3f} s: {before / now:.1f}x faster")
    sizes = [n_edges, 2 * n_edges, 4 * n_edges]
    memory = [propagation_memory(n_nodes, t, device) for t in sizes]
    for t, mib in zip(sizes, memory):
        print(f"saved for backward, {t:>8} triples: {mib:7.1f} MiB  (ratio {mib / memory[0]:.2f}, "
              f"triples ratio {t / sizes[0]:.0f})")


if __name__ == "__main__":
    main()
