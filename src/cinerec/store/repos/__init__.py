"""Query functions over the store, one module per aggregate."""
