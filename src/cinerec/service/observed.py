"""The recommender service as a server runs it: with its Prometheus metrics.

:class:`ObservedRecommenderService` is a :class:`RecommenderService` that
also counts each list it serves by strategy and algorithm
(``cinerec_recommendations_total``), marks the version it has loaded
(``cinerec_model_active``) and exports its list cache's hits and misses under
``cache="recommendations"``. Scoring, caching and swapping are the parent's,
unchanged; libraries and tests that want no metrics use the parent.
"""

from __future__ import annotations

from typing import Any

from cinerec.service import metrics
from cinerec.service.recommender import RecommendationList, RecommenderService


class ObservedRecommenderService(RecommenderService):
    """A :class:`RecommenderService` that records what it serves in :mod:`cinerec.service.metrics`.

    Takes the same arguments as :class:`RecommenderService`.
    """

    #: The ``cache`` label of the recommendation-list cache's hit and miss counters.
    CACHE_NAME = "recommendations"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cache.count_as(self.CACHE_NAME)

    def refresh(self, *args: Any, **kwargs: Any) -> bool:
        """Load the active version if it changed (see the parent) and mark the loaded one in the metrics."""
        swapped = super().refresh(*args, **kwargs)
        if swapped:
            live = self.live
            metrics.set_active_model(live.version, live.algo)
        return swapped

    def recommend(self, *args: Any, **kwargs: Any) -> RecommendationList:
        """Recommendations as the parent makes them, counted by strategy and algorithm."""
        result = super().recommend(*args, **kwargs)
        metrics.record_recommendation(result.strategy, result.algo)
        # the loaded version may have come in through ``live`` (first request), not ``refresh``
        metrics.set_active_model(result.model_version, result.algo)
        return result
