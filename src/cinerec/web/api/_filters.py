"""The recommendation routes' business-filter query parameters (``genre``, ``year_min``, ``year_max``, ``released``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query
from starlette.concurrency import run_in_threadpool

from cinerec.service import filters
from cinerec.service.filters import RecFilter
from cinerec.web.deps import SessionDep

_LO, _HI = filters.YEAR_RANGE


async def rec_filter(
    session: SessionDep,
    genre: Annotated[list[str] | None, Query(
        description="only films of this genre (case-insensitive, e.g. `comedy`); repeat for any of several "
                    f"(at most {filters.MAX_GENRES}); an unknown genre is a 422 that lists the known ones")] = None,
    year_min: Annotated[int | None, Query(ge=_LO, le=_HI, description="only films from this year on")] = None,
    year_max: Annotated[int | None, Query(ge=_LO, le=_HI, description="only films up to this year (not before year_min)")] = None,
    released: Annotated[bool, Query(
        description="leave out films not released yet: a release date after today, or without one a year after "
                    "the current year; `false` keeps them")] = True,
) -> RecFilter:
    """The validated filter (422 with the reason for a bad value).

    Without genres nothing is read, so it runs in the event loop; genre names
    (a cached read) are matched in the thread pool.
    """
    if genre:
        return await run_in_threadpool(filters.parse_filter, session, genre, year_min, year_max, released)
    return filters.parse_filter(session, None, year_min, year_max, released)


#: A route parameter that is the request's validated :class:`RecFilter`.
RecFilterDep = Annotated[RecFilter, Depends(rec_filter)]
