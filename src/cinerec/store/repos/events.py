"""The events log: one row per member action (and, for experiments, per impression)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from cinerec.store.models import Event

#: Kinds a member action writes (the table's check constraint allows these and more).
MEMBER_KINDS = ("rate", "review", "watchlist", "watched")
#: Kinds a member's social action writes; ``object_id`` names the review, share, list or member acted on.
SOCIAL_KINDS = ("share", "list", "like_review", "like_list", "follow")


def record(session: Session, user_id: int, kind: str, *, movie_id: int | None = None, value: float | None = None,
           object_id: int | None = None, when: datetime | None = None, experiment: str | None = None,
           variant: str | None = None, model_version: str | None = None, position: int | None = None) -> None:
    """Append one event in the caller's transaction.

    Args:
        kind: ``rate`` (value = new rating, ``None`` when removed), ``review``
            (value = sentiment, ``None`` when deleted), ``watchlist`` and
            ``watched`` (value 1 when set, 0 when removed), a social kind of
            :data:`SOCIAL_KINDS` (value 1 set/created/changed, 0 removed), or
            an experiment kind.
        object_id: the review, share, list or followed member acted on.
        experiment, variant, model_version, position: for a ``click``, the
            experiment and variant the member is in and where the film was listed.
    """
    ev = Event(user_id=user_id, movie_id=movie_id, kind=kind, value=value, object_id=object_id, experiment=experiment,
               variant=variant, model_version=model_version, position=position)
    if when is not None:
        ev.created_at = when
    session.add(ev)
