"""Run profiles, device choice, seeding and environment overrides.

Every notebook names a ``PROFILE`` in its ``parameters`` cell:

- ``"smoke"``: tiny synthetic data, one or two epochs, small dimensions (what CI runs; each
  chapter in at most 90 s on two CPU cores);
- ``"full"``: the paper's data and hyper-parameters (GPU recommended);
- ``"auto"``: real data when it is cached or downloadable, else the synthetic set, with a banner.

Environment variables override the notebook: ``MMREC_PROFILE``, ``MMREC_DATA`` (the data cache
root, read-only is fine), ``MMREC_CACHE`` (where computed features are cached), ``MMREC_OFFLINE``
(never touch the network), ``MMREC_DEVICE``. The defaults of each
profile live here, not in the notebooks.
"""
from __future__ import annotations

import os
import random
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = ["Profile", "get_profile", "resolve_device", "seed_everything", "data_root", "cache_root", "is_offline",
           "PROFILES"]


@dataclass(frozen=True)
class Profile:
    """Defaults shared by every chapter; ``chapter`` holds per-chapter overrides."""

    name: str
    synthetic: dict[str, int]          # keyword arguments of data.make_synthetic
    epochs: int
    embedding_dim: int
    batch_size: int
    learning_rate: float
    patience: int                      # early stopping, in evaluations
    eval_every: int                    # evaluate every N epochs
    eval_batch_users: int
    text_batch_size: int
    chapter: dict[str, dict[str, Any]] = field(default_factory=dict)

    def for_chapter(self, key: str, **overrides) -> dict[str, Any]:
        """The hyper-parameters of one chapter under this profile, with explicit overrides."""
        out = {"epochs": self.epochs, "embedding_dim": self.embedding_dim, "batch_size": self.batch_size,
               "learning_rate": self.learning_rate, "patience": self.patience, "eval_every": self.eval_every}
        out.update(self.chapter.get(key, {}))
        out.update(overrides)
        return out


PROFILES: dict[str, Profile] = {
    "smoke": Profile(
        name="smoke",
        synthetic=dict(n_users=300, n_items=200, n_topics=6, mean_interactions=24),
        epochs=3, embedding_dim=32, batch_size=1024, learning_rate=5e-3, patience=3, eval_every=1,
        eval_batch_users=512, text_batch_size=64,
        chapter={"foundations": {"epochs": 10, "by_dataset": {"ml-100k": {"epochs": 60, "patience": 10}}, "n_seeds": 1,
                                 "reg_grid": [1e-3, 1e-1]},
                 "glem_rec": {"epochs": 6, "n_layers": 2, "batch_size": 1024, "learning_rate": 1e-2, "n_seeds": 1,
                              "text_max_length": 64, "cold_item_share": 0.2,
                              "model": {"item_stats": True, "contrastive_pairs": 256},
                              "tuned": {"popularity_weight_power": 0.0, "lambda_diversity": 2.0,
                                        "lambda_personalization": 0.07, "lambda_coverage": 2.0},
                              "baseline": {"epochs": 8, "batch_size": 1024, "learning_rate": 1e-2, "patience": 3},
                              "sweep": {"epochs": 2, "grid": {"lambda_diversity": [0.0, 200.0, 2000.0]}}},
                 "symcere": {"epochs": 8, "batch_size": 512, "learning_rate": 1e-2, "patience": 3,
                             "datasets": ["synthetic"], "seeds": [0], "model": {"rank_temperature": 0.1},
                             "text_model": None, "text_max_length": 48,
                             "synthetic": dict(n_users=150, n_items=100, n_topics=6, mean_interactions=16),
                             "releases": {"Musical_Instruments": 2014, "All_Beauty": 2018},
                             "lime": {"reviews": 6, "num_samples": 48, "num_features": 6}},
                 "gnnmr": {"epochs": 8, "batch_size": 1024, "learning_rate": 1e-2, "embedding_dim": 32, "eval_every": 2,
                           "mutual_weight": 1.0, "n_seeds": 1, "sweep_epochs": 4, "dims": [16, 64],
                           "mutual_weights": [0.1, 2.0], "text_model": None, "image_backend": "offline"},
                 "scale": {"epochs": 8, "sweep_epochs": 4, "batch_size": 2048, "learning_rate": 1e-2, "n_seeds": 1,
                           "text_model": None, "text_max_length": 64,
                           "grid": {"k_o": [2, 10], "lambda_s": [1e-2, 1e-1], "lambda_r": [1e-2, 5e-2],
                                    "n_negatives": [1, 4], "layers_interaction": [1, 2], "layers_semantic": [1, 2]}},
                 "multi_kg4rec": {"epochs": 2, "batch_size": 1024, "learning_rate": 5e-3, "n_seeds": 1,
                                  "image_backend": "offline", "text_max_length": 32,
                                  "model": {"embedding_dim": 32, "n_blocks": 1, "n_heads": 4, "ffn_dim": 64,
                                            "n_neighbours": 8, "layer_dims": (32, 16), "reg_weight": 1e-5,
                                            "kg_batch_size": 8192, "kg_learning_rate": 5e-3}},
                 "kg_baselines": {"epochs": 2, "batch_size": 1024, "learning_rate": 5e-3,
                                  "CKE": {"embedding_dim": 32, "relation_dim": 32},
                                  "KGAT": {"embedding_dim": 32, "dims": (32, 16), "relation_dim": 32,
                                           "kg_batch_size": 8192, "kg_learning_rate": 5e-3},
                                  "MKGAT": {"embedding_dim": 32, "dims": (32, 16)},
                                  "KGCN": {"embedding_dim": 16, "n_hops": 1, "n_neighbours": 4}}},
    ),
    "full": Profile(
        name="full",
        synthetic=dict(n_users=2000, n_items=1500, n_topics=12, mean_interactions=40),
        epochs=300, embedding_dim=64, batch_size=2048, learning_rate=1e-3, patience=20, eval_every=1,
        eval_batch_users=4096, text_batch_size=128,
        chapter={"foundations": {"n_seeds": 3, "reg_grid": [1e-4, 1e-3, 1e-2, 1e-1]},
                 "glem_rec": {"epochs": 60, "n_layers": 2, "batch_size": 8192, "learning_rate": 3e-3, "patience": 8,
                              "n_seeds": 3,
                              "text_max_length": 128, "cold_item_share": 0.1,
                              "model": {"item_stats": True},
                              "tuned": {"popularity_weight_power": 0.0, "lambda_diversity": 2.0,
                                        "lambda_personalization": 0.07, "lambda_coverage": 2.0},
                              "baseline": {"epochs": 200, "batch_size": 2048, "learning_rate": 1e-3, "patience": 10},
                              "sweep": {"epochs": 10, "grid": {"lambda_diversity": [0.0, 200.0, 2000.0],
                                                               "lambda_personalization": [0.0, 7.0, 70.0],
                                                               "lambda_coverage": [0.0, 200.0, 2000.0]}}},
                 "symcere": {"epochs": 100, "batch_size": 256, "learning_rate": 1e-3, "patience": 10,
                             "datasets": ["Musical_Instruments", "All_Beauty", "synthetic"], "seeds": [0, 1, 2],
                             "model": {"rank_temperature": 0.1}, "text_model": None, "text_max_length": 128,
                             "synthetic": dict(n_users=300, n_items=200, n_topics=6, mean_interactions=24),
                             "releases": {"Musical_Instruments": 2014, "All_Beauty": 2018},
                             "lime": {"reviews": 30, "num_samples": 150, "num_features": 8}},
                 "gnnmr": {"epochs": 8, "batch_size": 8192, "learning_rate": 1e-2, "embedding_dim": 32, "eval_every": 4,
                           "patience": None, "mutual_weight": 1.0, "n_seeds": 5, "sweep_epochs": 8,
                           "dims": [16, 32, 64, 128, 256, 512], "mutual_weights": [0.1, 0.5, 1.0, 2.0],
                           "text_model": None, "image_backend": "auto"},
                 "scale": {"epochs": 1000, "patience": 21, "sweep_epochs": 300, "batch_size": 2048,
                           "learning_rate": 1e-3, "n_seeds": 3,
                           "text_model": "facebook/contriever", "text_max_length": 128,
                           "grid": {"k_o": [2, 5, 10, 12, 15], "lambda_s": [1e-5, 1e-4, 1e-3, 1e-2, 1e-1],
                                    "lambda_r": [1e-5, 1e-4, 1e-3, 1e-2, 5e-2, 1e-1], "n_negatives": [1, 2, 4, 8],
                                    "layers_interaction": [1, 2, 3, 4, 5], "layers_semantic": [1, 2, 3]}},
                 "multi_kg4rec": {"epochs": 12, "batch_size": 4096, "learning_rate": 5e-3, "patience": 3, "n_seeds": 3,
                                  "image_backend": "auto", "text_max_length": 128,
                                  "model": {"embedding_dim": 64, "n_blocks": 3, "n_heads": 8, "ffn_dim": 128,
                                            "n_neighbours": 16, "layer_dims": (64, 32, 16), "reg_weight": 1e-5,
                                            "kg_batch_size": 16384, "kg_learning_rate": 5e-3}},
                 "kg_baselines": {"epochs": 40, "batch_size": 4096, "learning_rate": 5e-3, "patience": 3,
                                  "eval_every": 5,
                                  "CKE": {"embedding_dim": 64, "relation_dim": 64},
                                  "KGAT": {"embedding_dim": 64, "dims": (64, 32, 16), "relation_dim": 64,
                                           "kg_batch_size": 16384, "kg_learning_rate": 5e-3},
                                  "MKGAT": {"embedding_dim": 64, "dims": (64, 32, 16)},
                                  "KGCN": {"embedding_dim": 32, "n_hops": 2, "n_neighbours": 4}}},
    ),
}
PROFILES["auto"] = replace(PROFILES["full"], name="auto")


def get_profile(name: str | None = None) -> Profile:
    """The profile named by ``MMREC_PROFILE`` if set, else ``name`` (default ``"smoke"``)."""
    chosen = os.environ.get("MMREC_PROFILE") or name or "smoke"
    if chosen not in PROFILES:
        raise ValueError(f"unknown profile {chosen!r}; choose one of {sorted(PROFILES)}")
    return PROFILES[chosen]


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """``"auto"`` -> cuda, else mps, else cpu. ``MMREC_DEVICE`` overrides ``"auto"``."""
    if device is None or str(device) == "auto":
        device = os.environ.get("MMREC_DEVICE", "auto")
    if str(device) == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    return torch.device(device)


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch (CPU and CUDA); return a CPU generator seeded the same."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    return torch.Generator().manual_seed(seed)


def data_root() -> Path:
    """The data cache: ``MMREC_DATA`` if set, else ``~/.cache/mmrec_lite``."""
    return Path(os.environ.get("MMREC_DATA") or Path.home() / ".cache" / "mmrec_lite").expanduser()


def cache_root() -> Path:
    """Where computed artefacts (encoded features) are cached: ``MMREC_CACHE`` if set, else
    ``~/.cache/mmrec_lite``. Kept apart from :func:`data_root`, which may be a read-only folder."""
    return Path(os.environ.get("MMREC_CACHE") or Path.home() / ".cache" / "mmrec_lite").expanduser()


def is_offline() -> bool:
    """True when ``MMREC_OFFLINE`` (or ``HF_HUB_OFFLINE``) is set to a true value."""
    return any(os.environ.get(v, "").lower() in {"1", "true", "yes"} for v in ("MMREC_OFFLINE", "HF_HUB_OFFLINE"))
