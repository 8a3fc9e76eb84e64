"""sharing: lists, likes, blocks, notifications, shares of lists, revocable links, event objects

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 02:40:00

Adds ``movie_lists``/``list_items`` (ordered lists with a note per film),
``review_likes``/``list_likes`` (with ``like_count`` kept on reviews and
lists), ``blocks`` and ``notifications``; lets a share name a list instead
of a film and be revoked; gives ``events`` an ``object_id`` (the review,
share, list or member acted on), the social kinds, and a ``(user_id, id)``
index for the feed's cursor.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OLD = ("impression", "click", "rate", "review", "share", "watchlist", "watched")
_NEW = (*_OLD, "list", "like_review", "like_list", "follow")


def _kinds(kinds: tuple[str, ...]) -> str:
    return "kind IN (" + ", ".join(f"'{k}'" for k in kinds) + ")"


def _ts(name: str, nullable: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    """Apply this revision."""
    op.create_table('movie_lists',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('is_public', sa.Boolean(), nullable=False),
    sa.Column('item_count', sa.Integer(), server_default='0', nullable=False),
    sa.Column('like_count', sa.Integer(), server_default='0', nullable=False),
    _ts('created_at'), _ts('updated_at'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_movie_lists_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_movie_lists'))
    )
    with op.batch_alter_table('movie_lists', schema=None) as batch_op:
        batch_op.create_index('ix_movie_lists_public_updated', ['is_public', 'updated_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_movie_lists_user_id'), ['user_id'], unique=False)

    op.create_table('list_items',
    sa.Column('list_id', sa.Integer(), nullable=False),
    sa.Column('movie_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    _ts('added_at'),
    sa.ForeignKeyConstraint(['list_id'], ['movie_lists.id'], name=op.f('fk_list_items_list_id_movie_lists'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['movie_id'], ['movies.id'], name=op.f('fk_list_items_movie_id_movies'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('list_id', 'movie_id', name=op.f('pk_list_items'))
    )
    with op.batch_alter_table('list_items', schema=None) as batch_op:
        batch_op.create_index('ix_list_items_list_position', ['list_id', 'position'], unique=False)
        batch_op.create_index(batch_op.f('ix_list_items_movie_id'), ['movie_id'], unique=False)

    op.create_table('review_likes',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('review_id', sa.Integer(), nullable=False),
    _ts('created_at'),
    sa.ForeignKeyConstraint(['review_id'], ['reviews.id'], name=op.f('fk_review_likes_review_id_reviews'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_review_likes_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', 'review_id', name=op.f('pk_review_likes'))
    )
    with op.batch_alter_table('review_likes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_review_likes_review_id'), ['review_id'], unique=False)

    op.create_table('list_likes',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('list_id', sa.Integer(), nullable=False),
    _ts('created_at'),
    sa.ForeignKeyConstraint(['list_id'], ['movie_lists.id'], name=op.f('fk_list_likes_list_id_movie_lists'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_list_likes_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', 'list_id', name=op.f('pk_list_likes'))
    )
    with op.batch_alter_table('list_likes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_list_likes_list_id'), ['list_id'], unique=False)

    op.create_table('blocks',
    sa.Column('blocker_id', sa.Integer(), nullable=False),
    sa.Column('blocked_id', sa.Integer(), nullable=False),
    _ts('created_at'),
    sa.CheckConstraint('blocker_id != blocked_id', name=op.f('ck_blocks_not_self')),
    sa.ForeignKeyConstraint(['blocked_id'], ['users.id'], name=op.f('fk_blocks_blocked_id_users'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['blocker_id'], ['users.id'], name=op.f('fk_blocks_blocker_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('blocker_id', 'blocked_id', name=op.f('pk_blocks'))
    )
    with op.batch_alter_table('blocks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_blocks_blocked_id'), ['blocked_id'], unique=False)

    with op.batch_alter_table('reviews', schema=None) as batch_op:
        batch_op.add_column(sa.Column('like_count', sa.Integer(), server_default='0', nullable=False))

    with op.batch_alter_table('shares', schema=None) as batch_op:
        batch_op.add_column(sa.Column('list_id', sa.Integer(), nullable=True))
        batch_op.add_column(_ts('revoked_at', nullable=True))
        batch_op.alter_column('movie_id', existing_type=sa.Integer(), nullable=True)
        batch_op.create_index(batch_op.f('ix_shares_list_id'), ['list_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_shares_list_id_movie_lists'), 'movie_lists', ['list_id'], ['id'],
                                    ondelete='CASCADE')
        batch_op.create_check_constraint(op.f('ck_shares_one_target'),
                                         sa.text('(movie_id IS NULL) <> (list_id IS NULL)'))

    op.create_table('notifications',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('review_id', sa.Integer(), nullable=True),
    sa.Column('list_id', sa.Integer(), nullable=True),
    sa.Column('share_id', sa.Integer(), nullable=True),
    _ts('created_at'), _ts('read_at', nullable=True),
    sa.CheckConstraint("kind IN ('follow', 'like_review', 'like_list', 'share')", name=op.f('ck_notifications_kind')),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_notifications_actor_id_users'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['list_id'], ['movie_lists.id'], name=op.f('fk_notifications_list_id_movie_lists'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['review_id'], ['reviews.id'], name=op.f('fk_notifications_review_id_reviews'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['share_id'], ['shares.id'], name=op.f('fk_notifications_share_id_shares'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_notifications_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notifications'))
    )
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notifications_actor_id'), ['actor_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_notifications_list_id'), ['list_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_notifications_review_id'), ['review_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_notifications_share_id'), ['share_id'], unique=False)
        batch_op.create_index('ix_notifications_user_id_id', ['user_id', 'id'], unique=False)

    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('object_id', sa.Integer(), nullable=True))
        batch_op.drop_constraint(op.f('ck_events_kind'), type_='check')
        batch_op.create_check_constraint(op.f('ck_events_kind'), sa.text(_kinds(_NEW)))
        batch_op.create_index('ix_events_user_id_id', ['user_id', 'id'], unique=False)


def downgrade() -> None:
    """Revert this revision (social events, list shares and everything social are dropped)."""
    op.execute(sa.text("DELETE FROM events WHERE kind IN ('list', 'like_review', 'like_list', 'follow')"))
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_index('ix_events_user_id_id')
        batch_op.drop_constraint(op.f('ck_events_kind'), type_='check')
        batch_op.create_check_constraint(op.f('ck_events_kind'), sa.text(_kinds(_OLD)))
        batch_op.drop_column('object_id')

    with op.batch_alter_table('notifications', schema=None) as batch_op:
        for name in ('ix_notifications_user_id_id', 'ix_notifications_share_id', 'ix_notifications_review_id',
                     'ix_notifications_list_id', 'ix_notifications_actor_id'):
            batch_op.drop_index(name)
    op.drop_table('notifications')

    op.execute(sa.text("DELETE FROM shares WHERE movie_id IS NULL"))
    with op.batch_alter_table('shares', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_shares_one_target'), type_='check')
        batch_op.drop_constraint(batch_op.f('fk_shares_list_id_movie_lists'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_shares_list_id'))
        batch_op.alter_column('movie_id', existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column('revoked_at')
        batch_op.drop_column('list_id')

    with op.batch_alter_table('reviews', schema=None) as batch_op:
        batch_op.drop_column('like_count')

    with op.batch_alter_table('blocks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_blocks_blocked_id'))
    op.drop_table('blocks')
    with op.batch_alter_table('list_likes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_list_likes_list_id'))
    op.drop_table('list_likes')
    with op.batch_alter_table('review_likes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_review_likes_review_id'))
    op.drop_table('review_likes')
    with op.batch_alter_table('list_items', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_list_items_movie_id'))
        batch_op.drop_index('ix_list_items_list_position')
    op.drop_table('list_items')
    with op.batch_alter_table('movie_lists', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_movie_lists_user_id'))
        batch_op.drop_index('ix_movie_lists_public_updated')
    op.drop_table('movie_lists')
