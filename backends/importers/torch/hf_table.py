"""``HF_FUNCTIONS`` (joined into ``tables.py``'s ``FUNCTION_TABLE``): the functions the Hugging Face rewrites
put in the exported graph that torch itself does not have.

* ``hf_attention.causal_sdpa``: attention with a key-padding mask and
  ``is_causal`` together (a decoder given an ``attention_mask``), the same
  arguments as ATen's ``scaled_dot_product_attention``, so the op tier's
  attention converter reads it: one IR ``ScaledDotProductAttention`` with
  ``causal=True`` and the mask.
"""

from __future__ import annotations

from typing import Callable

from .aten_compute import attention
from .hf_attention import causal_sdpa

HF_FUNCTIONS: dict[Callable, Callable] = {causal_sdpa: attention}
