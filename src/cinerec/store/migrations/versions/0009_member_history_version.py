"""members' history version

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 07:30:00

Adds ``users.history_version``, a counter raised in the same transaction as
every change a member makes to what their recommendations come from (a
rating set or removed, a film marked watched or wanted or unmarked, a follow
or unfollow, which decides whose shares they see). Servers key
their cached recommendation lists by it: a member's write makes every server
process compute a fresh list at once, with no cross-process messages.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('history_version', sa.Integer(), nullable=False, server_default='0'))


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('history_version')
