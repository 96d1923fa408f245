"""Features: text encoders (Hugging Face, pooling cls | mean | max), image encoders (CLIP via
open_clip, torchvision's ImageNet CNNs by model id, or a weight-free offline descriptor), LLM / template descriptions of users and items
(SCALE's "profiles", Eq. 1-2, in ``llm_descriptions``), GLEM-Rec's item and user feature matrices
and the content-keyed feature cache. ``transformers``, ``open_clip`` and ``torchvision`` are imported
only when used."""
from .attribute_modalities import attribute_modalities
from .cache import FeatureCache, content_key
from .item_matrix import (FeatureMatrix, item_documents, item_feature_matrix,
                          user_feature_matrix)
from .image import ClipImageEncoder, OfflineImageEncoder, TorchvisionImageEncoder, encode_images, load_images
from .llm_descriptions import (ITEM_PROMPT, USER_PROMPT, HFProfileGenerator, ItemRecord, TemplateProfileGenerator,
                           UserHistory, build_item_prompt, build_user_prompt, item_profiles, item_records,
                           user_histories, user_profiles)
from .text import TextEncoder, default_text_model, pool

__all__ = ["TextEncoder", "pool", "default_text_model", "FeatureCache", "content_key", "OfflineImageEncoder",
           "ClipImageEncoder", "TorchvisionImageEncoder", "encode_images", "load_images", "TemplateProfileGenerator",
           "HFProfileGenerator",
           "item_profiles", "user_profiles", "ITEM_PROMPT", "USER_PROMPT", "build_item_prompt",
           "build_user_prompt", "ItemRecord", "UserHistory", "item_records", "user_histories",
           "FeatureMatrix", "item_documents", "item_feature_matrix", "user_feature_matrix",
           "attribute_modalities"]
