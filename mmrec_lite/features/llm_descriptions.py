"""Item and user descriptions written from text: what SCALE (Eq. 1-2) calls *profiles*.

The module is named for the descriptions so that "profile" keeps one meaning in the package:
the run profiles of :mod:`mmrec_lite.profiles`. GLEM-Rec reads the same text.

SCALE asks an LLM for an item profile ``F_i = LLM(P_I, T_i)`` (Eq. 1) from the item's text
``T_i`` and a user profile ``F_u = LLM(P_U, {I_i : i in N_u})`` (Eq. 2) from the metadata and
the user's reviews of the items the user interacted with. The profiles are then encoded by a
text encoder. Two generators produce them:

- :class:`TemplateProfileGenerator` (offline default): deterministic text assembled from the item
  fields, and for users from counted categories, frequent informative words and rating habits;
- :class:`HFProfileGenerator`: an instruction-tuned causal LM from Hugging Face prompted with
  :data:`ITEM_PROMPT` / :data:`USER_PROMPT` (``pip install 'mmrec_lite[llm]'``; a GPU helps).

:func:`build_item_prompt` and :func:`build_user_prompt` give the exact prompt text of one item or
user, so a chapter can show what the LLM reads.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch

from ..data.recdata import DataError, MissingFieldError, RecData
from ..profiles import resolve_device
from .text import check_texts, dtype_keyword, load_pretrained

__all__ = ["ITEM_PROMPT", "USER_PROMPT", "ItemRecord", "UserHistory", "item_records", "user_histories",
           "build_item_prompt", "build_user_prompt", "TemplateProfileGenerator", "HFProfileGenerator",
           "item_profiles", "user_profiles"]

# P_I of SCALE Eq. 1 (the course's wording).
ITEM_PROMPT = (
    "You are helping a recommender system understand its catalogue. Below is the information available "
    "about one item. Write a profile of the item in at most 80 words: what it is, its genre or category, "
    "its main themes, features or selling points, and the kind of person who would enjoy it. Use only the "
    "information given. Answer with the profile alone, in plain prose, without a preamble."
)
# P_U of SCALE Eq. 2 (the course's wording).
USER_PROMPT = (
    "You are helping a recommender system understand one of its users. Below are the items this user "
    "interacted with, most recent first, each with its categories, a short description, and the user's "
    "rating and review when there is one. Infer the user's tastes. Write a profile of the user in at most "
    "80 words: the categories and themes they prefer, the qualities they value or dislike, and how "
    "generously they rate. Use only the information given. Answer with the profile alone, in plain prose, "
    "without a preamble."
)

_TITLE_FIELDS = ("title", "name")
_KEYWORD_FIELDS = ("keywords", "tags")
_PROSE_FIELDS = ("description", "overview", "tagline", "summary", "plot")  # joined as they are
_PROMPT_DESCRIPTION_WORDS = 300     # description words shown in an item prompt
_HISTORY_DESCRIPTION_WORDS = 25     # description words per item in a user prompt
_REVIEW_WORDS = 60                  # review words per item in a user prompt


def _text(value) -> str:
    """A text cell as a stripped string; ``""`` for None or NaN."""
    return value.strip() if isinstance(value, str) else ""


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _clip_words(text: str, n: int) -> str:
    words = text.split()
    return " ".join(words[:n]) + (" ..." if len(words) > n else "")


@dataclass(frozen=True)
class ItemRecord:
    """The text of one item (``T_i`` in SCALE Eq. 1); ``item_id`` is its raw id."""

    title: str
    description: str = ""
    categories: tuple[str, ...] = ()
    keywords: str = ""
    item_id: str = ""

    @property
    def label(self) -> str:
        """The title, or ``item <raw id>`` for an item without one."""
        return self.title or f"item {self.item_id}"


@dataclass(frozen=True)
class UserHistory:
    """What SCALE Eq. 2 reads about one user: item ids (most recent first), the user's ratings of
    them (``None`` for implicit feedback) and reviews (``""`` where the user wrote none)."""

    items: tuple[int, ...]
    ratings: tuple[float, ...] | None
    reviews: tuple[str, ...]


def item_records(data: RecData) -> list[ItemRecord]:
    """One :class:`ItemRecord` per item from ``item_text`` and ``item_categories``.

    The title is the ``title`` (or ``name``) field, keywords the ``keywords`` (or ``tags``)
    field. The description joins the prose fields (description, overview, tagline, summary,
    plot) as they are, then every other field as ``"Field: value."`` (e.g. ``Cast: ...``).
    Items without a title are shown as ``item <raw id>`` (:attr:`ItemRecord.label`).
    """
    if data.item_text is None and data.item_categories is None:
        raise MissingFieldError(f"dataset {data.name!r} has neither item_text nor item_categories: "
                                "profiles need some item text")
    text = data.item_text or {}
    title_field = next((f for f in _TITLE_FIELDS if f in text), None)
    keyword_field = next((f for f in _KEYWORD_FIELDS if f in text), None)
    prose_fields = [f for f in text if f in _PROSE_FIELDS]
    labelled_fields = [f for f in text if f not in (title_field, keyword_field, *_PROSE_FIELDS)]
    records = []
    for i in range(data.n_items):
        parts = [_text(text[f][i]) for f in prose_fields]
        parts += [f"{f.replace('_', ' ').capitalize()}: {_text(text[f][i]).rstrip('.')}." for f in labelled_fields
                  if _text(text[f][i])]
        description = " ".join(p for p in parts if p)
        records.append(ItemRecord(
            title=_text(text[title_field][i]) if title_field else "",
            description=description,
            categories=tuple(data.item_categories[i]) if data.item_categories is not None else (),
            keywords=_text(text[keyword_field][i]) if keyword_field else "",
            item_id=str(data.item_ids[i]),
        ))
    return records


def user_histories(data: RecData, max_items: int = 20) -> list[UserHistory]:
    """Each user's ``max_items`` most recent interactions (training split when the data is split).

    Reviews are joined on (user, item) for those interactions only, so a split's held-out
    reviews never leak into a profile.
    """
    if max_items < 1:
        raise ValueError(f"max_items must be positive, got {max_items}")
    part = data.train if data.splits is not None else data.interactions
    user, item = part.user.numpy(), part.item.numpy()
    order = np.lexsort((-part.timestamp.numpy(), user))          # by user, newest first
    user, item, rating = user[order], item[order], part.rating.numpy()[order]
    counts = np.bincount(user, minlength=data.n_users)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    keep = np.arange(len(user)) - starts[user] < max_items
    user, item, rating = user[keep], item[keep], rating[keep]
    reviews = _reviews_of(data, user, item)
    implicit = data.implicit or len(rating) == 0 or bool(np.all(rating == rating[0]))
    bounds = np.cumsum(np.bincount(user, minlength=data.n_users))[:-1]
    return [UserHistory(items=tuple(i.tolist()), ratings=None if implicit else tuple(r.tolist()),
                        reviews=tuple(t.tolist()))
            for i, r, t in zip(np.split(item, bounds), np.split(rating, bounds), np.split(reviews, bounds))]


def _reviews_of(data: RecData, user: np.ndarray, item: np.ndarray) -> np.ndarray:
    """The review text of each (user, item) pair; ``""`` where none (several reviews are joined)."""
    if data.reviews is None:
        return np.full(len(user), "", dtype=object)
    missing = {"user", "item", "text"} - set(data.reviews.columns)
    if missing:
        raise DataError(f"{data.name}: reviews table lacks columns {sorted(missing)}")
    reviews = data.reviews[["user", "item", "text"]]
    texts = reviews["text"].fillna("").astype(str)
    joined = texts.groupby([reviews["user"], reviews["item"]], sort=False).agg(" ".join)
    pairs = pd.MultiIndex.from_arrays([user, item])
    return joined.reindex(pairs).fillna("").to_numpy(dtype=object)


def build_item_prompt(item: ItemRecord) -> str:
    """The full prompt of SCALE Eq. 1 for one item: :data:`ITEM_PROMPT` followed by ``T_i``."""
    lines = [ITEM_PROMPT, "", f"Title: {item.label}"]
    if item.categories:
        lines.append(f"Categories: {', '.join(item.categories)}")
    if item.keywords:
        lines.append(f"Keywords: {item.keywords}")
    if item.description:
        lines.append(f"Description: {_clip_words(item.description, _PROMPT_DESCRIPTION_WORDS)}")
    return "\n".join(lines)


def build_user_prompt(history: UserHistory, items: Sequence[ItemRecord]) -> str:
    """The full prompt of SCALE Eq. 2 for one user: :data:`USER_PROMPT` followed by one line per
    interacted item (title, categories, short description, rating, review)."""
    lines = [USER_PROMPT, "", "Items (most recent first):"]
    if not history.items:
        lines.append("(none)")
    for n, (i, review) in enumerate(zip(history.items, history.reviews), start=1):
        record = items[i]
        parts = [record.label]
        if record.categories:
            parts.append(f"categories: {', '.join(record.categories)}")
        if record.description:
            parts.append(f"about: {_clip_words(record.description, _HISTORY_DESCRIPTION_WORDS)}")
        if history.ratings is not None:
            parts.append(f"rated {history.ratings[n - 1]:g}")
        if review:
            parts.append(f'review: "{_clip_words(review, _REVIEW_WORDS)}"')
        lines.append(f"{n}. " + " | ".join(parts))
    return "\n".join(lines)


class ProfileGenerator(Protocol):
    """What :func:`item_profiles` and :func:`user_profiles` need from a generator."""

    def describe_items(self, items: Sequence[ItemRecord]) -> list[str]: ...

    def describe_users(self, histories: Sequence[UserHistory], items: Sequence[ItemRecord]) -> list[str]: ...


def _ranked(matrix: sp.csr_matrix, row: int, names: np.ndarray, k: int) -> list[tuple[str, float]]:
    """The ``k`` largest entries of one sparse row as (name, value), ties broken by column order."""
    lo, hi = matrix.indptr[row], matrix.indptr[row + 1]
    counts, columns = matrix.data[lo:hi], matrix.indices[lo:hi]
    best = np.lexsort((columns, -counts))[:k]
    return [(names[columns[j]], float(counts[j])) for j in best]


class TemplateProfileGenerator:
    """Deterministic profiles without an LLM (the offline stand-in for SCALE Eq. 1-2).

    Item: title, categories, keywords and the first ``description_words`` words of the
    description. User: categories of the interacted items counted (most frequent first), the
    most frequent informative words of those items' texts and of the user's reviews (seen at
    least twice, English stop words removed, counts weighted by inverse document frequency so
    that words found in every text weigh little), and the rating behaviour (mean, range,
    highest-rated titles).
    """

    def __init__(self, n_categories: int = 5, n_words: int = 8, description_words: int = 60):
        self.n_categories = n_categories
        self.n_words = n_words
        self.description_words = description_words

    def __repr__(self) -> str:
        return f"TemplateProfileGenerator(n_categories={self.n_categories}, n_words={self.n_words})"

    def describe_items(self, items: Sequence[ItemRecord]) -> list[str]:
        profiles = []
        for item in items:
            parts = [item.label.rstrip(".") + "."]
            if item.categories:
                parts.append(f"Categories: {', '.join(item.categories)}.")
            if item.keywords:
                parts.append(f"Keywords: {item.keywords}.")
            if item.description:
                parts.append(_clip_words(item.description, self.description_words))
            profiles.append(" ".join(parts))
        return profiles

    def describe_users(self, histories: Sequence[UserHistory], items: Sequence[ItemRecord]) -> list[str]:
        from sklearn.feature_extraction.text import CountVectorizer

        lengths = np.array([len(h.items) for h in histories])
        rows = np.repeat(np.arange(len(histories)), lengths)
        columns = np.fromiter((i for h in histories for i in h.items), dtype=np.int64, count=int(lengths.sum()))
        picked = sp.csr_matrix((np.ones(len(rows)), (rows, columns)), shape=(len(histories), len(items)))

        category_names = np.array(sorted({c for item in items for c in item.categories}), dtype=object)
        category_index = {c: j for j, c in enumerate(category_names)}
        item_rows = np.repeat(np.arange(len(items)), [len(item.categories) for item in items])
        item_cats = [category_index[c] for item in items for c in item.categories]
        item_category = sp.csr_matrix((np.ones(len(item_rows)), (item_rows, item_cats)),
                                      shape=(len(items), len(category_names)))
        user_category = (picked @ item_category).tocsr()

        item_texts = [" ".join((item.title, item.keywords, item.description)) for item in items]
        review_texts = [r for h in histories for r in h.reviews]
        vectoriser = CountVectorizer(stop_words="english", token_pattern=r"(?u)\b[^\W\d_]{3,}\b")
        try:
            counts = vectoriser.fit_transform(item_texts + review_texts).tocsr()
            words = vectoriser.get_feature_names_out().astype(object)
        except ValueError:  # no informative word anywhere
            counts, words = sp.csr_matrix((len(item_texts) + len(review_texts), 0)), np.array([], dtype=object)
        by_review = sp.csr_matrix((np.ones(len(rows)), (rows, np.arange(len(rows)))), shape=(len(histories), len(rows)))
        document_frequency = np.asarray((counts > 0).sum(0)).ravel()
        idf = np.log((1 + counts.shape[0]) / (1 + document_frequency)) + 1  # boilerplate words weigh little
        user_counts = (picked @ counts[:len(items)] + by_review @ counts[len(items):]).tocsr()
        user_counts.data[user_counts.data < 2] = 0                        # frequent: seen at least twice
        user_counts.eliminate_zeros()
        user_words = user_counts.multiply(idf).tocsr()

        profiles = []
        for u, history in enumerate(histories):
            if not history.items:
                profiles.append("No interactions recorded yet.")
                continue
            parts = [f"Interacted with {_count(len(history.items), 'item')}."]
            top_categories = _ranked(user_category, u, category_names, self.n_categories)
            if top_categories:
                parts.append("Favourite categories: " + ", ".join(f"{c} ({n:g})" for c, n in top_categories) + ".")
            top_words = _ranked(user_words, u, words, self.n_words)
            if top_words:
                parts.append("Frequent words in their items and reviews: " + ", ".join(w for w, _ in top_words) + ".")
            if history.ratings is not None:
                parts.append(self._rating_sentence(history, items))
            profiles.append(" ".join(parts))
        return profiles

    @staticmethod
    def _rating_sentence(history: UserHistory, items: Sequence[ItemRecord]) -> str:
        ratings = np.asarray(history.ratings)
        best = np.argsort(-ratings, kind="stable")[:3]
        liked = ", ".join(f"{items[history.items[j]].label} ({ratings[j]:g})" for j in best)
        return (f"Average rating {ratings.mean():.1f} over {_count(len(ratings), 'rating')} (lowest {ratings.min():g}, "
                f"highest {ratings.max():g}); rated highest: {liked}.")


class HFProfileGenerator:
    """Profiles written by a Hugging Face causal LM (SCALE Eq. 1-2), greedy decoding.

    The prompt goes through the tokenizer's chat template when it has one (instruction-tuned
    models), else it is followed by ``"Profile:"``. Prompts are batched longest first with left
    padding; only the newly generated tokens are returned. ``transformers`` is imported when the
    model is loaded (first call); a 3B model wants a GPU (``dtype`` defaults to bf16/fp16 there).
    """

    def __init__(self, model_name: str = "meta-llama/Llama-3.2-3B-Instruct", max_new_tokens: int = 128,
                 device: str | torch.device = "auto", batch_size: int = 8, dtype: torch.dtype | None = None):
        self.model_name = str(model_name)
        self.max_new_tokens = max_new_tokens
        self.device = resolve_device(device)
        self.batch_size = batch_size
        if dtype is None and self.device.type == "cuda":
            dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        self.dtype = dtype or torch.float32
        self._tokenizer = None
        self._model = None

    def __repr__(self) -> str:
        return f"HFProfileGenerator({self.model_name!r}, max_new_tokens={self.max_new_tokens}, device={str(self.device)!r})"

    def load(self) -> "HFProfileGenerator":
        if self._model is not None:
            return self
        from transformers import AutoModelForCausalLM, AutoTokenizer
        tokenizer = load_pretrained(AutoTokenizer, self.model_name)
        tokenizer.padding_side = "left"                  # generation continues from the right end
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token or tokenizer.convert_ids_to_tokens(0)
        model = load_pretrained(AutoModelForCausalLM, self.model_name, **{dtype_keyword(): self.dtype})
        self._tokenizer, self._model = tokenizer, model.to(self.device).eval()
        return self

    @property
    def uses_chat_template(self) -> bool:
        return bool(getattr(self.load()._tokenizer, "chat_template", None))

    def chat_text(self, prompt: str) -> str:
        """The exact text the model reads for ``prompt``."""
        if self.uses_chat_template:
            return self._tokenizer.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False,
                                                       add_generation_prompt=True)
        return f"{prompt}\n\nProfile:"

    def generate(self, prompts: Sequence[str]) -> list[str]:
        """One generated text per prompt (whitespace-stripped)."""
        prompts = check_texts(prompts, "prompts")
        texts = [self.chat_text(p) for p in prompts]
        outputs = [""] * len(texts)
        order = np.argsort([-len(t) for t in texts], kind="stable")
        tokenizer, model = self._tokenizer, self._model
        with torch.inference_mode():
            for start in range(0, len(texts), self.batch_size):
                rows = order[start:start + self.batch_size]
                batch = tokenizer([texts[i] for i in rows], return_tensors="pt", padding=True,
                                  add_special_tokens=not self.uses_chat_template).to(self.device)
                generated = model.generate(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                                           max_new_tokens=self.max_new_tokens, do_sample=False,
                                           pad_token_id=tokenizer.pad_token_id)
                new_tokens = generated[:, batch["input_ids"].shape[1]:]
                for i, text in zip(rows, tokenizer.batch_decode(new_tokens, skip_special_tokens=True)):
                    outputs[i] = text.strip()
        return outputs

    def describe_items(self, items: Sequence[ItemRecord]) -> list[str]:
        return self.generate([build_item_prompt(item) for item in items])

    def describe_users(self, histories: Sequence[UserHistory], items: Sequence[ItemRecord]) -> list[str]:
        return self.generate([build_user_prompt(history, items) for history in histories])


def item_profiles(data: RecData, generator: ProfileGenerator | None = None) -> list[str]:
    """``F_i`` of SCALE Eq. 1 for every item (template generator by default)."""
    return (generator or TemplateProfileGenerator()).describe_items(item_records(data))


def user_profiles(data: RecData, generator: ProfileGenerator | None = None, max_items: int = 20) -> list[str]:
    """``F_u`` of SCALE Eq. 2 for every user from their ``max_items`` most recent training
    interactions (all interactions when the data is not split) and reviews."""
    return (generator or TemplateProfileGenerator()).describe_users(user_histories(data, max_items), item_records(data))
