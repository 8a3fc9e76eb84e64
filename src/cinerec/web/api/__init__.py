"""The JSON API under ``/api/v1``."""

from fastapi import APIRouter

from cinerec.web.api import explore, models, movies

router = APIRouter(prefix="/api/v1")
router.include_router(movies.router)
router.include_router(models.router)
router.include_router(explore.router)

__all__ = ["router"]
