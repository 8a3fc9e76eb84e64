"""Engine-side data: vocabularies, interactions, item features, readers and splits.

This package never imports :mod:`cinerec.store` or :mod:`cinerec.web`.
"""

from cinerec.data.interactions import Interactions
from cinerec.data.vocab import Vocabulary

__all__ = ["Interactions", "Vocabulary"]
