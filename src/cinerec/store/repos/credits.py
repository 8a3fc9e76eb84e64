"""Who made a film: its directors and top-billed cast (from HetRec or the TMDB enrichment)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from cinerec.store.models import Credit, Person


@dataclass(frozen=True)
class FilmCredits:
    """A film's people.

    Attributes:
        directors: director names in import order.
        cast: ``(name, character)`` pairs in billing order (character may be ``None``).
    """

    directors: list[str]
    cast: list[tuple[str, str | None]]


def for_movie(session: Session, movie_id: int, *, max_cast: int = 12) -> FilmCredits:
    """The directors and the first ``max_cast`` cast members of a film (empty lists when unknown)."""
    rows = session.execute(select(Credit.role, Credit.character, Person.name).join(Person, Person.id == Credit.person_id)
                           .where(Credit.movie_id == movie_id)
                           .order_by(Credit.role, Credit.order.asc().nulls_last(), Credit.id))
    directors: list[str] = []
    cast: list[tuple[str, str | None]] = []
    for role, character, name in rows:
        if role == "director" and name not in directors:
            directors.append(str(name))
        elif role == "cast" and len(cast) < max_cast:
            cast.append((str(name), character))
    return FilmCredits(directors, cast)
