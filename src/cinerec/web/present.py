"""Turn store rows and service results into response schemas."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.orm import Session

from cinerec.experiments.report import Comparison, ExperimentReport
from cinerec.service.experiments import ExperimentInfo
from cinerec.service.feed import FeedPage
from cinerec.service.members import PublicProfile
from cinerec.service.recommender import RecommendationList
from cinerec.service.reviews import AudienceInsights
from cinerec.service.social import (
    FriendRating,
    ListSummary,
    ListView,
    MemberCard,
    NotificationPage,
    ShareView,
)
from cinerec.service.social_signals import Suggestion
from cinerec.store.models import Movie, Rating, Review, User
from cinerec.store.repos import movies as movie_repo
from cinerec.web.schemas import (
    AccountOut,
    ComparisonOut,
    CupedOut,
    ExperimentOut,
    ExperimentReportOut,
    ExperimentTagOut,
    FeedItemOut,
    FeedListOut,
    FeedOut,
    FeedReviewOut,
    FeedShareOut,
    FriendRatingOut,
    InsightsOut,
    KeywordOut,
    ListDetailOut,
    ListEntryOut,
    ListSummaryOut,
    MemberOut,
    MemberReviewOut,
    MovieOut,
    NotificationListOut,
    NotificationOut,
    NotificationsOut,
    PeekOut,
    PeekTestOut,
    PublicProfileOut,
    RatedMovieOut,
    ReasonOut,
    RecommendationOut,
    RecommendationsOut,
    ReviewOut,
    SharedFilmOut,
    ShareOut,
    SuggestedMemberOut,
    VariantReportOut,
    VariantSpecOut,
)


def movie_out(movie: Movie, n_ratings: int = 0, mean: float | None = None) -> MovieOut:
    """A :class:`MovieOut` from a model row and its aggregates."""
    return MovieOut(
        id=movie.id, title=movie.title, year=movie.year, genres=[g.name for g in movie.genres],
        imdb_id=movie.imdb_id, tmdb_id=movie.tmdb_id, poster_url=movie.poster_url, n_ratings=n_ratings,
        mean_rating=round(mean, 3) if mean is not None else None,
    )


def recommendations_out(session: Session, recs: RecommendationList) -> RecommendationsOut:
    """Hydrate a service result with movie details and rating aggregates (one query for all movies)."""
    ids = [r.movie_id for r in recs.items]
    ids += [x["movie_id"] for r in recs.items for x in r.reasons if x.get("movie_id") is not None]
    rows = movie_repo.rows_by_ids(session, ids)
    data = []
    for r in recs.items:
        row = rows.get(r.movie_id)
        if row is None:  # deleted since the model was trained
            continue
        reasons = [ReasonOut(**x, movie_title=rows[x["movie_id"]].movie.title if x.get("movie_id") in rows else None)
                   for x in r.reasons]
        data.append(RecommendationOut(movie=movie_out(row.movie, row.n_ratings, row.mean_rating), score=round(r.score, 5),
                                      reasons=reasons))
    experiment = ExperimentTagOut(name=recs.experiment[0], variant=recs.experiment[1]) if recs.experiment else None
    return RecommendationsOut(model_version=recs.model_version, algo=recs.algo, strategy=recs.strategy, data=data,
                              count=len(data), experiment=experiment)


def review_out(review: Review, author: str) -> ReviewOut:
    """A :class:`ReviewOut` from a review row and its author's name."""
    return ReviewOut(id=review.id, movie_id=review.movie_id, author=author, text=review.text,
                     language=review.language, sentiment=review.sentiment, created_at=review.created_at,
                     like_count=review.like_count or 0)


def insights_out(movie_id: int, ins: AudienceInsights) -> InsightsOut:
    """An :class:`InsightsOut` from the service's audience insights."""
    s = ins.summary

    def kws(pol: str) -> list[KeywordOut]:
        return [KeywordOut(term=t, weight=w) for t, w in ins.keywords.get(pol, [])]

    return InsightsOut(movie_id=movie_id, n_reviews=s.n_reviews, n_scored=s.n_scored, mean_sentiment=s.mean,
                       positive_share=s.positive, negative_share=s.negative, keywords=kws("all"),
                       positive_keywords=kws("positive"), negative_keywords=kws("negative"))


def account_out(user: User) -> AccountOut:
    """The caller's own account (never the password hash)."""
    return AccountOut(id=user.id, username=user.username, email=user.email, display_name=user.display_name,
                      locale=user.locale, is_admin=bool(user.is_admin), created_at=user.created_at)


def rated_out(rating: Rating, movie: Movie) -> RatedMovieOut:
    """A film with a member's rating."""
    return RatedMovieOut(movie=movie_out(movie), rating=rating.value, updated_at=rating.updated_at)


def member_review_out(review: Review, movie: Movie, author: str) -> MemberReviewOut:
    """A review with its film."""
    return MemberReviewOut(review=review_out(review, author), movie=movie_out(movie))


def public_profile_out(p: PublicProfile) -> PublicProfileOut:
    """A member's public profile (only public fields exist on :class:`PublicProfile`)."""
    return PublicProfileOut(username=p.username, display_name=p.display_name, joined=p.joined, n_ratings=p.n_ratings,
                            n_reviews=p.n_reviews, ratings=[rated_out(r, m) for r, m in p.recent_ratings],
                            reviews=[member_review_out(r, m, p.username) for r, m in p.recent_reviews])


# --- sharing ---------------------------------------------------------------------------------------


def member_out(card: MemberCard) -> MemberOut:
    """A member as others see them (no id, email or role)."""
    return MemberOut(username=card.username, display_name=card.display_name)


def list_summary_out(x: ListSummary) -> ListSummaryOut:
    """A list without its films."""
    return ListSummaryOut(id=x.id, owner=member_out(x.owner), title=x.title, description=x.description,
                          public=x.is_public, item_count=x.item_count, like_count=x.like_count,
                          created_at=x.created_at, updated_at=x.updated_at)


def list_detail_out(view: ListView) -> ListDetailOut:
    """A list with its films in order."""
    return ListDetailOut(**list_summary_out(view.summary).model_dump(), liked=view.liked,
                         items=[ListEntryOut(movie=movie_out(e.movie), position=e.position, note=e.note,
                                             added_at=e.added_at) for e in view.items])


def share_out(view: ShareView) -> ShareOut:
    """A share with its public link (``url``) when it has one."""
    return ShareOut(id=view.id, audience="public" if view.audience == "public" else "followers", note=view.note,
                    url=view.url, created_at=view.created_at, revoked_at=view.revoked_at,
                    sharer=member_out(view.sharer), movie=movie_out(view.movie) if view.movie is not None else None,
                    list=list_summary_out(view.list) if view.list is not None else None)


def friend_rating_out(x: FriendRating) -> FriendRatingOut:
    """A followed member's rating of a film."""
    return FriendRatingOut(member=member_out(x.member), rating=x.rating, rated_at=x.rated_at)


def feed_out(page: FeedPage) -> FeedOut:
    """A page of the activity feed."""
    data = []
    for i in page.items:
        share = None
        if i.share is not None:
            share = FeedShareOut(id=i.share.id, note=i.share.note,
                                 audience="public" if i.share.audience == "public" else "followers",
                                 url=f"/s/{i.share.token}" if i.share.token else None)
        data.append(FeedItemOut(
            id=i.id, kind=i.kind, actor=member_out(i.actor), created_at=i.created_at,
            movie=movie_out(i.movie) if i.movie is not None else None, rating=i.rating,
            review=(FeedReviewOut(id=i.review.id, excerpt=i.review.excerpt, like_count=i.review.like_count)
                    if i.review is not None else None),
            share=share, list=FeedListOut(id=i.list.id, title=i.list.title, item_count=i.list.item_count)
            if i.list is not None else None))
    return FeedOut(data=data, next_cursor=page.next_cursor)


def notifications_out(page: NotificationPage) -> NotificationsOut:
    """A page of notices with the unread count."""
    data = [NotificationOut(id=n.id, kind=n.kind, actor=member_out(n.actor),  # type: ignore[arg-type]
                            created_at=n.created_at, read=n.read,
                            movie=movie_out(n.movie) if n.movie is not None else None, review_id=n.review_id,
                            list=NotificationListOut(id=n.list.id, title=n.list.title) if n.list is not None else None,
                            share_id=n.share_id, share_url=f"/s/{n.share_token}" if n.share_token else None)
            for n in page.items]
    return NotificationsOut(data=data, unread=page.unread, next_cursor=page.next_cursor)


def suggestion_out(x: Suggestion) -> SuggestedMemberOut:
    """A member with the caller's taste, with a few films both loved."""
    return SuggestedMemberOut(member=member_out(x.member), shared_likes=x.shared_likes,
                              examples=[SharedFilmOut(id=f.movie_id, title=f.title, year=f.year) for f in x.examples],
                              followers=x.followers, score=x.score)


def experiment_out(info: ExperimentInfo, serving: bool) -> ExperimentOut:
    """An :class:`ExperimentOut` from the service's record."""
    return ExperimentOut(name=info.name, status=info.status, metric=info.metric, traffic=info.traffic,  # type: ignore[arg-type]
                         variants=[VariantSpecOut(name=v.name, model_version=v.model_version, weight=v.weight,
                                                  diversity=v.diversity) for v in info.variants],
                         guardrails=list(info.guardrails), min_sample=info.min_sample,  # type: ignore[arg-type]
                         window_days=info.window_days, created_at=info.created_at, started_at=info.started_at,
                         stopped_at=info.stopped_at, serving=serving)


def _comparison_out(c: Comparison) -> ComparisonOut:
    return ComparisonOut(metric=c.metric, variant=c.variant, control=c.control, test=c.test,  # type: ignore[arg-type]
                         control_value=c.control_value, value=c.value, abs_lift=c.abs_lift, abs_ci=c.abs_ci,
                         rel_lift=c.rel_lift, rel_ci=c.rel_ci, p_value=c.p_value, sequential_p=c.sequential_p,
                         decision=c.decision)


def report_out(r: ExperimentReport) -> ExperimentReportOut:
    """An :class:`ExperimentReportOut` from an experiment's report."""
    cfg = r.config
    variants = [VariantReportOut(name=v.name, model_version=v.model_version, weight=v.weight, users=v.users,
                                 impressions=v.impressions, clicks=v.clicks, ctr=v.ctr, click_rate=v.rates["click"],
                                 rating_rate=v.rates["rate"], watchlist=v.rates["watchlist"],
                                 share_rate=v.rates["share"], rating=v.mean_rating, rating_members=v.rating_members)
                for v in r.variants]
    return ExperimentReportOut(
        name=cfg.name, status=cfg.status, metric=cfg.metric, traffic=cfg.traffic,  # type: ignore[arg-type]
        started_at=cfg.started_at, stopped_at=cfg.stopped_at, window_days=cfg.window.total_seconds() / 86400,
        users=r.users, variants=variants, srm_p_value=r.srm.p_value if r.srm else None, srm_flagged=r.srm_flagged,
        hidden_reason=r.hidden_reason, ready=r.ready, min_sample=cfg.min_sample, alpha=r.alpha, mde=r.mde,
        sample_size_per_variant=r.sample_size, sample_size_sequential=r.sample_size_sequential, comparisons=[_comparison_out(c) for c in r.primary],
        guardrails=[_comparison_out(c) for c in r.guardrails], harmed_guardrails=r.harmed_guardrails,
        cuped=[CupedOut(variant=c.variant, effect=c.result.effect, ci=c.ci, raw_effect=c.result.raw_effect,
                        variance_reduction=c.result.variance_reduction) for c in r.cuped],
        series=[PeekOut(day=p.day, at=datetime.fromtimestamp(p.at, UTC), variant=p.variant, users=p.users,
                        conversions=p.conversions, value=p.value, low=p.low, high=p.high) for p in r.series],
        tests=[PeekTestOut(day=t.day, variant=t.variant, p_value=t.p_value, sequential_p=t.sequential_p)
               for t in r.tests])
