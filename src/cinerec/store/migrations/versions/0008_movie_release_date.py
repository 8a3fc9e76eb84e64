"""films' release date

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 07:00:00

Adds the nullable ``movies.release_date`` (a date), filled by the metadata
imports that have one (the TMDB 5000 CSV, the TMDB API). Recommendations
leave out films not released yet by it (and, for films without one, by a
year after the current one).
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table('movies', schema=None) as batch_op:
        batch_op.add_column(sa.Column('release_date', sa.Date(), nullable=True))


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table('movies', schema=None) as batch_op:
        batch_op.drop_column('release_date')
