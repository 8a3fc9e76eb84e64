"""experiments and their exposure log

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 08:20:00

Adds ``experiments`` (name, hashing seed, metric, traffic, status with its
life ``draft``/``running``/``stopped``, the variants as a JSON list of
``{name, model_version, weight}``, and when it was created, started and
stopped) and ``experiment_exposures``: one row per member per experiment
(``UNIQUE (experiment_id, user_id)``; the first exposure is kept), with the
variant, model version and the movie ids shown in order, indexed by
``(experiment_id, variant)`` for the per-variant counts and by ``user_id``
for the join with a member's events and the cascade when a member goes.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _ts(name: str, nullable: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    """Apply this revision."""
    op.create_table('experiments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('seed', sa.String(length=64), nullable=False),
    sa.Column('metric', sa.String(length=32), nullable=False),
    sa.Column('traffic', sa.Float(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('variants', sa.JSON(), nullable=False),
    _ts('created_at'), _ts('started_at', nullable=True), _ts('stopped_at', nullable=True),
    sa.CheckConstraint("status IN ('draft', 'running', 'stopped')", name=op.f('ck_experiments_status')),
    sa.CheckConstraint('traffic >= 0 AND traffic <= 1', name=op.f('ck_experiments_traffic')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_experiments')),
    sa.UniqueConstraint('name', name=op.f('uq_experiments_name'))
    )

    op.create_table('experiment_exposures',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('experiment_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('variant', sa.String(length=64), nullable=False),
    sa.Column('model_version', sa.String(length=64), nullable=False),
    sa.Column('items', sa.JSON(), nullable=False),
    _ts('created_at'),
    sa.ForeignKeyConstraint(['experiment_id'], ['experiments.id'],
                            name=op.f('fk_experiment_exposures_experiment_id_experiments'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'],
                            name=op.f('fk_experiment_exposures_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_experiment_exposures')),
    sa.UniqueConstraint('experiment_id', 'user_id', name=op.f('uq_experiment_exposures_experiment_id_user_id'))
    )
    with op.batch_alter_table('experiment_exposures', schema=None) as batch_op:
        batch_op.create_index('ix_experiment_exposures_experiment_variant', ['experiment_id', 'variant'], unique=False)
        batch_op.create_index(batch_op.f('ix_experiment_exposures_user_id'), ['user_id'], unique=False)


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table('experiment_exposures', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_experiment_exposures_user_id'))
        batch_op.drop_index('ix_experiment_exposures_experiment_variant')
    op.drop_table('experiment_exposures')
    op.drop_table('experiments')
