"""experiment settings: guardrail metrics, minimum sample, attribution window

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 09:50:00

Adds to ``experiments``: ``guardrails`` (a JSON list of metrics that must not
get worse), ``min_sample`` (members per variant before a decision is shown;
``NULL``: none) and ``window_days`` (how long after a member's first exposure
an outcome on a recommended film is attributed to it; 7 days by default).
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table('experiments') as batch:
        batch.add_column(sa.Column('guardrails', sa.JSON(), nullable=False, server_default='[]'))
        batch.add_column(sa.Column('min_sample', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('window_days', sa.Float(), nullable=False, server_default='7'))
        batch.create_check_constraint('window_days', 'window_days > 0 AND window_days <= 90')


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table('experiments') as batch:
        batch.drop_constraint('window_days', type_='check')
        batch.drop_column('window_days')
        batch.drop_column('min_sample')
        batch.drop_column('guardrails')
