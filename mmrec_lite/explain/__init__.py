"""Explanations: GLEM-Rec's explainable recommendation generator (:mod:`.glem`) and LIME on
review–embedding alignment for SymCERE (:mod:`.lime_text`)."""
from .glem import (KINDS, Explanation, ExplanationGenerator, LLMRenderer, Recommendation, TemplateRenderer,
                   format_card, item_titles)
from .lime_text import AlignmentExplainer, alignment_probabilities, word_group_shares

__all__ = ["Explanation", "Recommendation", "ExplanationGenerator", "TemplateRenderer", "LLMRenderer",
           "item_titles", "format_card", "KINDS",
           "AlignmentExplainer", "alignment_probabilities", "word_group_shares"]
