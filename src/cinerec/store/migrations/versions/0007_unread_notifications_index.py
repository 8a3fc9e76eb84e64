"""index of a member's unread notifications

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 03:15:00

Adds ``ix_notifications_user_unread`` on ``notifications (user_id, read_at,
id)``: the unread count in every page's navigation then reads the member's
unread notices only, instead of walking all their notices (read ones
included) through ``ix_notifications_user_id_id``.
"""
from collections.abc import Sequence

from alembic import op

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.create_index('ix_notifications_user_unread', ['user_id', 'read_at', 'id'], unique=False)


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_index('ix_notifications_user_unread')
