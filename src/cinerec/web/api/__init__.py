"""The JSON API under ``/api/v1``."""

from fastapi import APIRouter

from cinerec.web.api import admin, auth, explore, me, members, models, movies, users

router = APIRouter(prefix="/api/v1")
router.include_router(movies.router)
router.include_router(models.router)
router.include_router(explore.router)
router.include_router(auth.router)
router.include_router(users.router)
router.include_router(me.router)
router.include_router(members.router)
router.include_router(admin.router)

__all__ = ["router"]
