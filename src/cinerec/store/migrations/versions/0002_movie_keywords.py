"""movie keywords from reviews

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 03:20:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table('movie_keywords',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('movie_id', sa.Integer(), nullable=False),
    sa.Column('polarity', sa.String(length=8), nullable=False),
    sa.Column('term', sa.String(length=100), nullable=False),
    sa.Column('weight', sa.Float(), nullable=False),
    sa.CheckConstraint("polarity IN ('all', 'positive', 'negative')", name=op.f('ck_movie_keywords_polarity')),
    sa.ForeignKeyConstraint(['movie_id'], ['movies.id'], name=op.f('fk_movie_keywords_movie_id_movies'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_movie_keywords')),
    sa.UniqueConstraint('movie_id', 'polarity', 'term', name=op.f('uq_movie_keywords_movie_id_polarity_term'))
    )
    with op.batch_alter_table('movie_keywords', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_movie_keywords_movie_id'), ['movie_id'], unique=False)


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table('movie_keywords', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_movie_keywords_movie_id'))
    op.drop_table('movie_keywords')
