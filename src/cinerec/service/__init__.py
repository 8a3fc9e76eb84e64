"""Serving: the versioned model registry, training jobs and the live recommender."""
