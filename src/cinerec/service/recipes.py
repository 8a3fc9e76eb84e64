"""Named training recipes shared by the demo and the retraining worker (no heavy imports: the CLI loads this at start)."""

from __future__ import annotations

from typing import Any

#: The demo's model: collaborative ALS fused with content; short profiles ranked by content alone.
#: ``cinerec demo`` trains it, and ``cinerec worker`` does with ``CINEREC_RETRAIN_ALGO=hybrid`` or with no active model.
#: One inner fold (the library default is two): the demo and every worker retrain pay for it, and with two members
#: the one-standard-error rule already keeps implicit ALS alone unless content clearly helps.
DEMO_HYBRID: dict[str, Any] = {"members": "implicit-als,content-knn", "switch_below": 5, "validation_folds": 1}
