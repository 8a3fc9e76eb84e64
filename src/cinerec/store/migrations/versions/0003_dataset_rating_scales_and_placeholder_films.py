"""dataset rating scales and placeholder films

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 23:50:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add ``rating_scales``, ``movies.is_placeholder`` and ``ratings.source_value``."""
    op.create_table('rating_scales',
    sa.Column('source', sa.String(length=64), nullable=False),
    sa.Column('low', sa.Float(), nullable=False),
    sa.Column('high', sa.Float(), nullable=False),
    sa.Column('step', sa.Float(), nullable=True),
    sa.Column('mapping', sa.String(length=16), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("mapping IN ('identity', 'linear')", name=op.f('ck_rating_scales_mapping')),
    sa.CheckConstraint('high >= low', name=op.f('ck_rating_scales_bounds')),
    sa.PrimaryKeyConstraint('source', name=op.f('pk_rating_scales'))
    )
    with op.batch_alter_table('movies', schema=None) as batch_op:
        batch_op.add_column(sa.Column('is_placeholder', sa.Boolean(), server_default=sa.false(), nullable=False))
    with op.batch_alter_table('ratings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('source_value', sa.Float(), nullable=True))


def downgrade() -> None:
    """Drop ``ratings.source_value``, ``movies.is_placeholder`` and ``rating_scales``."""
    with op.batch_alter_table('ratings', schema=None) as batch_op:
        batch_op.drop_column('source_value')
    with op.batch_alter_table('movies', schema=None) as batch_op:
        batch_op.drop_column('is_placeholder')
    op.drop_table('rating_scales')
