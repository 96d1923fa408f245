"""Image features: CLIP through open_clip, torchvision's ImageNet CNNs, and a weight-free offline descriptor.

- :class:`ClipImageEncoder`: the CLIP image tower (and text tower, used by Multi-KG4Rec) from
  ``open_clip`` (the ``clip`` extra), imported when the encoder is created.
- :class:`TorchvisionImageEncoder`: an ImageNet classifier of ``torchvision.models`` by model id
  (``"resnet18"``: GNNMR's visual features), its classification head removed, so each image is
  the pooled penultimate layer (512-d for ResNet-18); imported when the encoder is created.
- :class:`OfflineImageEncoder`: colour histograms, a gradient-orientation histogram and a coarse
  colour layout. It needs no weights and is deterministic, but it only sees colour and texture:
  it is much weaker than CLIP and says nothing about what an image shows.

:func:`encode_images` picks one (``backend="auto"``: CLIP when it loads, else offline) and
caches the result by content.
"""
from __future__ import annotations

import importlib.util
import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..data.recdata import DataError
from ..profiles import resolve_device
from .cache import FeatureCache, content_key
from .text import check_texts

__all__ = ["load_images", "OfflineImageEncoder", "ClipImageEncoder", "TorchvisionImageEncoder", "encode_images",
           "MISSING_GREY"]

MISSING_GREY = 128  # pixel value of the image that stands in for a missing one
_EDGE_THRESHOLD = 0.02  # Sobel magnitude (intensities in [0, 1]) below which a pixel has no orientation


def _is_missing(item: Any) -> bool:
    return item is None or (isinstance(item, float) and math.isnan(item)) or (isinstance(item, str) and not item)


def _check_array(images: Any) -> np.ndarray:
    if isinstance(images, torch.Tensor):
        images = images.cpu().numpy()
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        raise DataError(f"an image array must be uint8 [N, H, W, 3]; got {images.dtype} {tuple(images.shape)}")
    return images


def _resize(images: np.ndarray, size: int) -> np.ndarray:
    """Centre-crop each image to a square, then resize it to ``size`` x ``size`` (antialiased)."""
    h, w = images.shape[1:3]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    x = torch.from_numpy(np.ascontiguousarray(images[:, top:top + side, left:left + side])).permute(0, 3, 1, 2)
    x = F.interpolate(x.float(), size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return x.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()


def load_images(items: Sequence[Any] | np.ndarray | torch.Tensor, size: int = 224) -> tuple[np.ndarray, np.ndarray]:
    """Images as one uint8 array ``[N, size, size, 3]`` and a bool mask ``[N]`` of those present.

    ``items`` is a uint8 array ``[N, H, W, 3]`` or a list whose entries are image paths or uint8
    arrays ``[H, W, 3]``; images are centre-cropped and resized to ``size`` x ``size`` when needed.
    ``None``, ``""``, NaN or a path that does not exist marks a missing image: it becomes a plain
    grey image and ``False`` in the mask. A file that exists but cannot be decoded raises
    :class:`~mmrec_lite.data.DataError` naming it.
    """
    if isinstance(items, (np.ndarray, torch.Tensor)):
        images = _check_array(items)
        if images.shape[1:3] != (size, size):
            images = _resize(images, size)
        return images, np.ones(len(images), dtype=bool)
    from PIL import Image, ImageOps, UnidentifiedImageError

    items = list(items)
    images = np.full((len(items), size, size, 3), MISSING_GREY, dtype=np.uint8)
    present = np.zeros(len(items), dtype=bool)
    for index, item in enumerate(items):
        if isinstance(item, (np.ndarray, torch.Tensor)):
            images[index] = load_images(torch.as_tensor(item)[None], size)[0][0]
            present[index] = True
            continue
        if _is_missing(item) or not Path(item).expanduser().is_file():
            continue
        path = Path(item).expanduser()
        try:
            with Image.open(path) as img:
                fitted = ImageOps.fit(img.convert("RGB"), (size, size), method=Image.Resampling.BICUBIC)
        except (OSError, UnidentifiedImageError) as err:
            raise DataError(f"cannot read image {path} (item {index}): {err}") from err
        images[index] = np.asarray(fitted)
        present[index] = True
    return images, present


def _histogram(bins: torch.Tensor, n_bins: int, weights: torch.Tensor | None = None) -> torch.Tensor:
    """Per-image histogram ``[B, n_bins]`` of bin indices ``[B, P]``, optionally weighted."""
    weights = torch.ones_like(bins, dtype=torch.float32) if weights is None else weights
    return torch.zeros(bins.shape[0], n_bins, device=bins.device).scatter_add_(1, bins, weights)


def _quantise(values: torch.Tensor, n_bins: int) -> torch.Tensor:
    """Values in [0, 1] -> bin indices 0 .. n_bins-1."""
    return (values * n_bins).long().clamp(0, n_bins - 1)


class OfflineImageEncoder:
    """A weight-free, deterministic image descriptor (164-d, L2-normalised).

    Five blocks, each L2-normalised before the whole vector is:

    - RGB joint histogram, 4 x 4 x 4 bins (64);
    - hue histogram, 12 bins, each pixel weighted by its chroma so greys do not vote (12);
    - saturation and value histograms, 4 bins each (8);
    - gradient-orientation histogram: 8 unsigned orientations x 2 x 2 image quadrants,
      weighted by Sobel gradient magnitude, ignoring near-flat pixels (32);
    - colour layout: mean RGB of a 4 x 4 grid (48).

    It captures colour and coarse texture only, so it is much weaker than CLIP; use it when
    open_clip or its weights are unavailable. Computed in torch over whole batches; images larger
    than ``work_size`` are first area-averaged to ``work_size`` x ``work_size``.
    """

    dim = 164
    version = "offline-v1"  # part of the cache key: bump when the descriptor changes

    def __init__(self, device: str | torch.device = "auto", batch_size: int = 64, work_size: int = 112):
        self.device = resolve_device(device)
        self.batch_size = batch_size
        self.work_size = work_size

    def __repr__(self) -> str:
        return f"OfflineImageEncoder(device={str(self.device)!r})"

    def encode(self, images: Sequence[Any] | np.ndarray | torch.Tensor) -> torch.Tensor:
        """Float32 CPU tensor ``[N, 164]``; ``images`` as accepted by :func:`load_images`."""
        array = _check_array(images) if isinstance(images, (np.ndarray, torch.Tensor)) else load_images(images)[0]
        out = torch.zeros(len(array), self.dim)
        with torch.inference_mode():
            for start in range(0, len(array), self.batch_size):
                batch = torch.from_numpy(array[start:start + self.batch_size]).to(self.device)
                out[start:start + len(batch)] = self._describe(batch).cpu()
        return out

    def _describe(self, batch: torch.Tensor) -> torch.Tensor:
        x = batch.permute(0, 3, 1, 2).float() / 255.0                     # [B, 3, H, W]
        if max(x.shape[2:]) > self.work_size:                             # area-average large images
            x = F.adaptive_avg_pool2d(x, self.work_size)
        layout = F.adaptive_avg_pool2d(x, 4).flatten(1)
        blocks = [*_colour_histograms(x), _orientation_histogram(x), layout]
        return F.normalize(torch.cat([F.normalize(block, dim=1) for block in blocks], 1), dim=1)


def _colour_histograms(x: torch.Tensor) -> list[torch.Tensor]:
    """RGB joint (64), chroma-weighted hue (12) and saturation + value (8) histograms of ``x [B, 3, H, W]``."""
    r, g, b = x[:, 0].flatten(1), x[:, 1].flatten(1), x[:, 2].flatten(1)
    rgb = _histogram(_quantise(r, 4) * 16 + _quantise(g, 4) * 4 + _quantise(b, 4), 64)
    value = x.amax(1).flatten(1)
    chroma = value - x.amin(1).flatten(1)
    saturation = chroma / value.clamp(min=1e-8)                           # 0 for black pixels
    safe = chroma.clamp(min=1e-8)
    hue = torch.where(value == r, ((g - b) / safe) % 6,
                      torch.where(value == g, (b - r) / safe + 2, (r - g) / safe + 4)) / 6.0
    sat_val = torch.cat([_histogram(_quantise(saturation, 4), 4), _histogram(_quantise(value, 4), 4)], 1)
    return [rgb, _histogram(_quantise(hue, 12), 12, chroma), sat_val]


def _orientation_histogram(x: torch.Tensor) -> torch.Tensor:
    """8 unsigned Sobel orientations x 4 image quadrants (32), weighted by gradient magnitude."""
    h, w = x.shape[2:]
    grey = (0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]).unsqueeze(1)
    sobel = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]], device=x.device)
    grad = F.conv2d(F.pad(grey, (1, 1, 1, 1), mode="replicate"), torch.stack([sobel, sobel.T]).unsqueeze(1))
    magnitude = grad.pow(2).sum(1).flatten(1).sqrt()
    magnitude = magnitude * (magnitude > _EDGE_THRESHOLD)                 # flat regions do not vote
    angle = torch.atan2(grad[:, 1], grad[:, 0]).remainder(math.pi).flatten(1) / math.pi
    rows = (torch.arange(h, device=x.device) >= h / 2).long()
    cols = (torch.arange(w, device=x.device) >= w / 2).long()
    quadrant = (rows[:, None] * 2 + cols[None, :]).reshape(1, -1)
    return _histogram(quadrant * 8 + _quantise(angle, 8), 32, magnitude)


class ClipImageEncoder:
    """CLIP image and text towers from ``open_clip`` (``pip install 'mmrec_lite[clip]'``).

    ``encode`` takes what :func:`load_images` takes and returns L2-normalised CPU features
    ``[N, d]`` (512 for ViT-B-32); ``encode_texts`` embeds texts into the same space.
    Mixed precision (fp16 autocast) is used on CUDA.
    """

    def __init__(self, model: str = "ViT-B-32", pretrained: str = "openai", device: str | torch.device = "auto",
                 batch_size: int = 64):
        try:
            import open_clip
        except ImportError as err:
            raise ImportError(
                "ClipImageEncoder needs open_clip and a torchvision built for this torch: use Colab (the set-up "
                "cell installs them) or a CUDA torch (book/troubleshooting.md), or encode_images(..., backend='offline') "
                f"[import failed with: {err}]") from err
        self.model_name, self.pretrained = model, pretrained
        self.device = resolve_device(device)
        self.batch_size = batch_size
        self.model = open_clip.create_model_and_transforms(model, pretrained=pretrained, device=self.device)[0].eval()
        self.tokenizer = open_clip.get_tokenizer(model)
        visual = self.model.visual
        size = visual.image_size
        self.image_size = int(size[0] if isinstance(size, (tuple, list)) else size)
        mean, std = getattr(visual, "image_mean", None), getattr(visual, "image_std", None)
        mean = open_clip.OPENAI_DATASET_MEAN if mean is None else mean
        std = open_clip.OPENAI_DATASET_STD if std is None else std
        self.mean = torch.as_tensor(mean, dtype=torch.float32, device=self.device).view(1, 3, 1, 1)
        self.std = torch.as_tensor(std, dtype=torch.float32, device=self.device).view(1, 3, 1, 1)

    def __repr__(self) -> str:
        return f"ClipImageEncoder({self.model_name!r}, pretrained={self.pretrained!r}, device={str(self.device)!r})"

    def _autocast(self):
        return torch.autocast(self.device.type, dtype=torch.float16, enabled=self.device.type == "cuda")

    def encode(self, images: Sequence[Any] | np.ndarray | torch.Tensor) -> torch.Tensor:
        with self._autocast():
            return _network_features(images, self.image_size, self.mean, self.std, self.model.encode_image,
                                     self.batch_size, self.device, self.model.visual.output_dim)

    def encode_texts(self, texts: Sequence[str]) -> torch.Tensor:
        """CLIP text-tower features ``[N, d]``, L2-normalised, in the image features' space."""
        texts = check_texts(texts)
        parts = []
        with torch.inference_mode(), self._autocast():
            for start in range(0, len(texts), self.batch_size):
                tokens = self.tokenizer(texts[start:start + self.batch_size]).to(self.device)
                parts.append(self.model.encode_text(tokens).float().cpu())
        return F.normalize(torch.cat(parts), dim=1) if parts else torch.zeros(0, self.model.visual.output_dim)


class TorchvisionImageEncoder:
    """The penultimate layer of a ``torchvision.models`` ImageNet classifier (``model``: its id,
    e.g. ``"resnet18"``, ``"resnet50"``; ``weights``: ``"DEFAULT"`` or a weight enum name).

    The classification head (``fc`` or the last layer of ``classifier``) is replaced by the identity,
    so ``encode`` returns the globally pooled features, L2-normalised, on the CPU. Images are centre
    cropped, resized to 224 and normalised with the ImageNet mean and standard deviation (the
    preprocessing these weights were trained with). Needs a torchvision built for the installed
    torch; the weights download on first use (torchvision's cache).
    """

    image_size = 224
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)

    def __init__(self, model: str = "resnet18", weights: str = "DEFAULT", device: str | torch.device = "auto",
                 batch_size: int = 64):
        try:
            import torchvision
        except Exception as err:  # a torchvision built for another torch fails with RuntimeError, not ImportError
            raise ImportError(
                f"TorchvisionImageEncoder({model!r}) needs a torchvision built for this torch: use Colab or a CUDA "
                "torch (book/troubleshooting.md), or encode_images(..., backend='offline') "
                f"[import failed with: {type(err).__name__}: {err}]") from err
        if model not in torchvision.models.list_models(module=torchvision.models):
            raise ValueError(f"unknown torchvision image model {model!r}; e.g. 'resnet18', 'resnet50'")
        self.model_name, self.weights = model, weights
        self.device = resolve_device(device)
        self.batch_size = batch_size
        network = torchvision.models.get_model(model, weights=weights)
        self.dim = _drop_head(network, model)
        self.model = network.eval().to(self.device)
        self._mean = torch.tensor(self.mean, device=self.device).view(1, 3, 1, 1)
        self._std = torch.tensor(self.std, device=self.device).view(1, 3, 1, 1)

    def __repr__(self) -> str:
        return f"TorchvisionImageEncoder({self.model_name!r}, weights={self.weights!r}, device={str(self.device)!r})"

    def encode(self, images: Sequence[Any] | np.ndarray | torch.Tensor) -> torch.Tensor:
        return _network_features(images, self.image_size, self._mean, self._std, lambda x: self.model(x).flatten(1),
                                 self.batch_size, self.device, self.dim)


def _network_features(images, size: int, mean: torch.Tensor, std: torch.Tensor, forward, batch_size: int,
                      device: torch.device, dim: int) -> torch.Tensor:
    """``forward`` over ``images`` resized to ``size`` and normalised with ``mean`` / ``std``
    ``[1, 3, 1, 1]``, ``batch_size`` at a time on ``device``; L2-normalised CPU features ``[N, dim]``."""
    array, _ = load_images(images, size=size)
    parts = []
    with torch.inference_mode():
        for start in range(0, len(array), batch_size):
            x = torch.from_numpy(array[start:start + batch_size]).to(device)
            parts.append(forward((x.permute(0, 3, 1, 2).float() / 255.0 - mean) / std).float().cpu())
    return F.normalize(torch.cat(parts), dim=1) if parts else torch.zeros(0, dim)


def _drop_head(network: torch.nn.Module, name: str) -> int:
    """Replace the classification layer by the identity; return the feature size it received."""
    if isinstance(getattr(network, "fc", None), torch.nn.Linear):
        dim, network.fc = network.fc.in_features, torch.nn.Identity()
        return dim
    classifier = getattr(network, "classifier", None)
    if isinstance(classifier, torch.nn.Sequential) and isinstance(classifier[-1], torch.nn.Linear):
        dim, classifier[-1] = classifier[-1].in_features, torch.nn.Identity()
        return dim
    raise ValueError(f"{name}: no `fc` or `classifier[-1]` linear head to remove; choose a ResNet-, VGG-, "
                     "EfficientNet- or MobileNet-style model")


BACKENDS = ("auto", "clip", "torchvision", "offline")


def encode_images(images: Sequence[Any] | np.ndarray | torch.Tensor, backend: str = "auto",
                  device: str | torch.device = "auto", batch_size: int = 64, cache_dir: str | Path | None = None,
                  cache: bool = True, model: str | None = None) -> torch.Tensor:
    """Image features ``[N, d]`` (float32, CPU, L2-normalised), cached by content.

    ``backend``: ``"clip"`` (``model``, default ViT-B-32, OpenAI weights), ``"torchvision"``
    (:class:`TorchvisionImageEncoder`, ``model`` default ``"resnet18"``), ``"offline"``
    (:class:`OfflineImageEncoder`) or ``"auto"``: CLIP when open_clip imports and its weights
    load, else offline, with a printed note. ``images`` is a uint8 array ``[N, H, W, 3]`` or a list of paths (``None`` = missing;
    missing images are encoded as plain grey images and counted in a printed note).
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown image backend {backend!r}; choose one of {BACKENDS}")
    if isinstance(images, (np.ndarray, torch.Tensor)):
        array = _check_array(images)
        present = np.ones(len(array), dtype=bool)
    else:
        array, present = load_images(images)
    if not present.all():
        print(f"note: {int((~present).sum())} of {len(array)} images are missing; they are encoded as plain grey images")
    store = FeatureCache(cache_dir) if cache else None
    chosen = backend
    if backend == "auto":
        chosen = "clip" if importlib.util.find_spec("open_clip") is not None else "offline"
        if chosen == "offline":
            print("note: open_clip is not installed; using the offline image descriptor (weaker than CLIP). "
                  "CLIP needs open_clip and a torchvision built for this torch: it works in Colab (the set-up "
                  "cell installs it) or beside a CUDA torch; PyPI's torchvision breaks the CPU torch of "
                  "`make venv` (book/troubleshooting.md).")
    if chosen == "torchvision":
        name = model or "resnet18"
        return _cached(store, content_key("image", "torchvision", name, "DEFAULT", array), (len(array), None),
                       lambda: TorchvisionImageEncoder(name, device=device, batch_size=batch_size).encode(array))
    if chosen == "clip":
        name = model or "ViT-B-32"
        try:
            return _cached(store, content_key("image", "clip", name, "openai", array), (len(array), None),
                           lambda: ClipImageEncoder(name, device=device, batch_size=batch_size).encode(array))
        except Exception as err:
            if backend == "clip":
                raise
            print(f"note: CLIP could not be loaded ({type(err).__name__}: {err}); using the offline image "
                  "descriptor (weaker than CLIP).")
    return _cached(store, content_key("image", OfflineImageEncoder.version, array),
                   (len(array), OfflineImageEncoder.dim),
                   lambda: OfflineImageEncoder(device=device, batch_size=batch_size).encode(array))


def _cached(store: FeatureCache | None, key: str, shape: tuple, compute) -> torch.Tensor:
    """``store[key]`` when it is a finite float32 matrix of ``shape`` (``None``: any size), else
    ``compute()``, stored under ``key``."""
    hit = store.get(key, shape=shape, dtype=torch.float32) if store is not None else None
    if hit is None:
        hit = compute()
        if store is not None:
            store.put(key, hit)
    return hit
