"""The web site and JSON API (FastAPI). Build it with :func:`create_app`."""

from cinerec.web.app import create_app

__all__ = ["create_app"]
