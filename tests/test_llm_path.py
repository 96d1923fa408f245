"""SCALE's generative path (Eq. 1-2) end to end: a tiny random causal LM, built here offline, writes
the item and user descriptions; they are encoded and SCALE builds its graphs and trains on them."""
import pytest
import torch

transformers = pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")

from mmrec_lite.data import make_synthetic, split_random                      # noqa: E402
from mmrec_lite.features import (HFProfileGenerator, TextEncoder, build_item_prompt, item_profiles,  # noqa: E402
                                 item_records, user_profiles)
from mmrec_lite.graphs.semantic import build_semantic_graphs                  # noqa: E402
from mmrec_lite.models import SCALE                                            # noqa: E402


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory):
    """A 1-layer GPT-2 with random weights and a word-level tokenizer trained on the prompts' words."""
    folder = tmp_path_factory.mktemp("tiny-gpt2")
    data = split_random(make_synthetic(n_users=30, n_items=24, mean_interactions=8, seed=0))
    corpus = [build_item_prompt(r) for r in item_records(data)]
    model = tokenizers.models.WordLevel(unk_token="<unk>")
    tokenizer = tokenizers.Tokenizer(model)
    tokenizer.pre_tokenizer = tokenizers.pre_tokenizers.Whitespace()
    tokenizer.train_from_iterator(corpus, tokenizers.trainers.WordLevelTrainer(special_tokens=["<unk>", "<eos>"]))
    fast = transformers.PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token="<unk>", eos_token="<eos>",
                                                pad_token="<eos>")
    fast.save_pretrained(folder)
    torch.manual_seed(0)
    config = transformers.GPT2Config(vocab_size=len(fast), n_positions=1024, n_embd=16, n_layer=1, n_head=2,
                                     eos_token_id=fast.eos_token_id, bos_token_id=fast.eos_token_id)
    transformers.GPT2LMHeadModel(config).save_pretrained(folder)
    return str(folder), data


def test_generator_loads_by_model_id_and_decodes_only_new_tokens(tiny_lm):
    folder, data = tiny_lm
    generator = HFProfileGenerator(folder, max_new_tokens=6, device="cpu", batch_size=4)
    prompts = [build_item_prompt(r) for r in item_records(data)[:5]]
    outputs = generator.generate(prompts)
    assert len(outputs) == 5 and all(isinstance(o, str) for o in outputs)
    assert not generator.uses_chat_template
    assert generator.chat_text("hi") == "hi\n\nProfile:"
    # greedy decoding is deterministic, and batching (left padding) does not change a prompt's answer
    alone = HFProfileGenerator(folder, max_new_tokens=6, device="cpu", batch_size=1).generate(prompts[:1])
    assert alone[0] == outputs[0] == generator.generate(prompts[:1])[0]
    assert all(1 <= len(o.split()) <= 6 for o in outputs)


def test_generated_descriptions_feed_scale_graph_building_and_training(tiny_lm):
    folder, data = tiny_lm
    generator = HFProfileGenerator(folder, max_new_tokens=8, device="cpu", batch_size=8)
    items, users = item_profiles(data, generator), user_profiles(data, generator, max_items=5)
    assert len(items) == data.n_items and len(users) == data.n_users
    encoder = TextEncoder(max_length=32, device="cpu", cache=False)
    item_text, user_text = encoder.encode(items), encoder.encode(users)
    graphs = build_semantic_graphs(user_text, item_text, None, k_s=10, k_o=3, k_f=3)
    assert graphs.sag["C_UI"].shape == (data.n_users, data.n_items)
    assert graphs.sag["C_I"]._nnz() > 0 and graphs.fsg["G_UI"]._nnz() == 3 * data.n_users
    data.add_features("text", item_text)
    data.add_features("text", user_text, users=True)
    model = SCALE(data, embedding_dim=8, graphs=graphs, combine="or", seed=0)
    batch = {"user": torch.tensor([0, 1, 2]), "pos": torch.tensor([3, 4, 5]), "neg": torch.tensor([6, 7, 8])}
    terms = model.loss(batch)
    terms["loss"].backward()
    assert torch.isfinite(terms["loss"]) and model.user_embedding.weight.grad.abs().sum() > 0
