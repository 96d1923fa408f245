"""Recommenders, one per file, all following :class:`~mmrec_lite.models.base.Recommender`:
baselines (Popularity, ItemKNN, UserKNN, MF, BPRMF, NCF), graph baselines (LightGCN, VBPR,
FREEDOM, LATTICE, LGMRec) and the papers' models (GLEMRec, SCALE, MultiKG4Rec, GNNMR with its baselines GAT, MMGCN, EarlyFusionGAT;
SymCERE with the review-text-only ReviewText)."""
from .base import EmbeddingRecommender, Recommender
from .bprmf import BPRMF
from .cke import CKE
from .early_fusion_gat import EarlyFusionGAT
from .freedom import FREEDOM
from .gat import GAT
from .gnnmr import GNNMR
from .glem_rec import GLEMRec
from .itemknn import ItemKNN
from .kgat import KGAT
from .kgcn import KGCN
from .lattice import LATTICE
from .lgmrec import LGMRec
from .lightgcn import LightGCN
from .mf import MF
from .mkgat import MKGAT
from .multi_kg4rec import MultiKG4Rec
from .mmgcn import MMGCN
from .ncf import NCF
from .popularity import Popularity
from .rating_baselines import BiasBaseline, GlobalMean, MetadataRidge, UserMean
from .review_text import ReviewText
from .scale import SCALE
from .symcere import SymCERE
from .userknn import UserKNN
from .vbpr import VBPR

__all__ = ["Recommender", "EmbeddingRecommender", "Popularity", "ItemKNN", "UserKNN", "MF", "BPRMF", "NCF", "LightGCN",
           "VBPR", "FREEDOM", "LATTICE", "LGMRec", "GLEMRec", "SCALE",
           "GAT", "MMGCN", "EarlyFusionGAT", "GNNMR", "CKE", "KGAT", "MKGAT", "KGCN", "MultiKG4Rec",
           "GlobalMean", "UserMean", "BiasBaseline", "MetadataRidge", "SymCERE", "ReviewText"]
