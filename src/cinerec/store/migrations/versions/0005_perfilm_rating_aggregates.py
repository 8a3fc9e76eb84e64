"""per-film rating aggregates

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 23:50:00

Adds ``movie_stats`` (count, sum and half-star histogram of each film's
ratings) and fills it from the ratings already stored, one row per film.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BINS = [f"stars_{b:02d}" for b in range(5, 51, 5)]


def _bin_case(i: int) -> str:
    """SQL counting the ratings of half-star bin ``i`` (1 = 0.5 stars ... 10 = 5 stars)."""
    low = "" if i == 1 else f"r.value > {(i - 1) / 2} AND "
    return f"SUM(CASE WHEN {low}r.value <= {i / 2} THEN 1 ELSE 0 END)"


def upgrade() -> None:
    """Apply this revision."""
    op.create_table('movie_stats',
    sa.Column('movie_id', sa.Integer(), nullable=False),
    sa.Column('n_ratings', sa.Integer(), nullable=False),
    sa.Column('rating_sum', sa.Float(), nullable=False),
    *[sa.Column(name, sa.Integer(), nullable=False) for name in BINS],
    sa.ForeignKeyConstraint(['movie_id'], ['movies.id'], name=op.f('fk_movie_stats_movie_id_movies'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('movie_id', name=op.f('pk_movie_stats'))
    )
    with op.batch_alter_table('movie_stats', schema=None) as batch_op:
        batch_op.create_index('ix_movie_stats_n_ratings', ['n_ratings'], unique=False)
    bins = ", ".join(_bin_case(i) for i in range(1, 11))
    op.execute(
        f"INSERT INTO movie_stats (movie_id, n_ratings, rating_sum, {', '.join(BINS)}) "
        f"SELECT m.id, COUNT(r.id), COALESCE(SUM(r.value), 0), {bins} "
        "FROM movies m LEFT JOIN ratings r ON r.movie_id = m.id GROUP BY m.id"
    )


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table('movie_stats', schema=None) as batch_op:
        batch_op.drop_index('ix_movie_stats_n_ratings')
    op.drop_table('movie_stats')
