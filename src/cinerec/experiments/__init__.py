"""Experiments: A/B assignment (GrowthBook-compatible hashing) and statistics; pure, no SQL."""
