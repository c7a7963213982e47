"""initial schema: accounts, profiles, snapshots and their staging, relationships as intervals, persons, contact points

Revision ID: 0001
Revises: 
Create Date: 2026-11-23
"""
from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('accounts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('platform', sa.String(length=32), nullable=False),
    sa.Column('handle', sa.String(length=255), nullable=False),
    sa.Column('platform_id', sa.String(length=255), nullable=True),
    sa.Column('label', sa.String(length=255), nullable=True),
    sa.Column('tags', sa.JSON(), nullable=False),
    sa.Column('token_env', sa.String(length=255), nullable=True),
    sa.Column('server', sa.String(length=1024), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('status_since', sa.DateTime(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_accounts')),
    sa.UniqueConstraint('label', name=op.f('uq_accounts_label')),
    sa.UniqueConstraint('platform', 'handle', name=op.f('uq_accounts_platform_handle'))
    )
    op.create_table('persons',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('name', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_persons'))
    )
    op.create_table('profiles',
    sa.Column('platform', sa.String(length=32), nullable=False),
    sa.Column('platform_id', sa.String(length=512), nullable=False),
    sa.Column('handle', sa.String(length=512), nullable=True),
    sa.Column('display_name', sa.Text(), nullable=True),
    sa.Column('url', sa.Text(), nullable=True),
    sa.Column('bio', sa.Text(), nullable=True),
    sa.Column('website', sa.Text(), nullable=True),
    sa.Column('followers_count', sa.BigInteger(), nullable=True),
    sa.Column('following_count', sa.BigInteger(), nullable=True),
    sa.Column('data', sa.Text(), nullable=True),
    sa.Column('person_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('first_seen_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['person_id'], ['persons.id'], name=op.f('fk_profiles_person_id_persons'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('platform', 'platform_id', name=op.f('pk_profiles')),
    sqlite_with_rowid=False
    )
    with op.batch_alter_table('profiles', schema=None) as batch_op:
        batch_op.create_index('ix_profiles_person_id', ['person_id'], unique=False, sqlite_where=sa.text('person_id IS NOT NULL'), postgresql_where=sa.text('person_id IS NOT NULL'))

    op.create_table('snapshots',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('source', sa.String(length=1024), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=False),
    sa.Column('finished_at', sa.DateTime(), nullable=True),
    sa.Column('as_of', sa.DateTime(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=True),
    sa.Column('cursor', sa.Text(), nullable=True),
    sa.Column('pages', sa.Integer(), nullable=False),
    sa.Column('received', sa.BigInteger(), nullable=False),
    sa.Column('count', sa.BigInteger(), nullable=True),
    sa.Column('gained', sa.BigInteger(), nullable=True),
    sa.Column('lost', sa.BigInteger(), nullable=True),
    sa.Column('bad_records', sa.Integer(), nullable=False),
    sa.Column('content_hash', sa.String(length=64), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_snapshots_account_id_accounts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_snapshots'))
    )
    with op.batch_alter_table('snapshots', schema=None) as batch_op:
        batch_op.create_index('ix_snapshots_account_kind', ['account_id', 'kind', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_snapshots_content_hash'), ['content_hash'], unique=False)

    op.create_table('contact_points',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('person_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('platform', sa.String(length=32), nullable=True),
    sa.Column('platform_id', sa.String(length=512), nullable=True),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('consent', sa.String(length=16), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['person_id'], ['persons.id'], name=op.f('fk_contact_points_person_id_persons'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['platform', 'platform_id'], ['profiles.platform', 'profiles.platform_id'], name=op.f('fk_contact_points_platform_profiles'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_contact_points')),
    sa.UniqueConstraint('platform', 'platform_id', 'kind', 'value', name=op.f('uq_contact_points_platform_platform_id_kind_value'))
    )
    with op.batch_alter_table('contact_points', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_contact_points_person_id'), ['person_id'], unique=False)

    op.create_table('relationships',
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('platform_id', sa.String(length=512), nullable=False),
    sa.Column('since_snapshot_id', sa.Integer(), nullable=False),
    sa.Column('platform', sa.String(length=32), nullable=False),
    sa.Column('until_snapshot_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_relationships_account_id_accounts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['platform', 'platform_id'], ['profiles.platform', 'profiles.platform_id'], name=op.f('fk_relationships_platform_profiles'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['since_snapshot_id'], ['snapshots.id'], name=op.f('fk_relationships_since_snapshot_id_snapshots')),
    sa.ForeignKeyConstraint(['until_snapshot_id'], ['snapshots.id'], name=op.f('fk_relationships_until_snapshot_id_snapshots')),
    sa.PrimaryKeyConstraint('account_id', 'kind', 'platform_id', 'since_snapshot_id', name=op.f('pk_relationships')),
    sqlite_with_rowid=False
    )
    with op.batch_alter_table('relationships', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_relationships_since_snapshot_id'), ['since_snapshot_id'], unique=False)
        batch_op.create_index('ix_relationships_until_snapshot_id', ['until_snapshot_id'], unique=False, sqlite_where=sa.text('until_snapshot_id IS NOT NULL'), postgresql_where=sa.text('until_snapshot_id IS NOT NULL'))
        batch_op.create_index('uq_relationships_current', ['account_id', 'kind', 'platform_id'], unique=True, sqlite_where=sa.text('until_snapshot_id IS NULL'), postgresql_where=sa.text('until_snapshot_id IS NULL'))

    op.create_table('snapshot_items',
    sa.Column('snapshot_id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('platform_id', sa.String(length=512), nullable=False),
    sa.Column('handle', sa.String(length=512), nullable=True),
    sa.Column('display_name', sa.Text(), nullable=True),
    sa.Column('url', sa.Text(), nullable=True),
    sa.Column('bio', sa.Text(), nullable=True),
    sa.Column('website', sa.Text(), nullable=True),
    sa.Column('followers_count', sa.BigInteger(), nullable=True),
    sa.Column('following_count', sa.BigInteger(), nullable=True),
    sa.Column('data', sa.Text(), nullable=True),
    sa.Column('contacts', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['snapshot_id'], ['snapshots.id'], name=op.f('fk_snapshot_items_snapshot_id_snapshots'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('snapshot_id', 'seq', name=op.f('pk_snapshot_items')),
    sqlite_with_rowid=False
    )


def downgrade() -> None:
    op.drop_table('snapshot_items')
    with op.batch_alter_table('relationships', schema=None) as batch_op:
        batch_op.drop_index('uq_relationships_current', sqlite_where=sa.text('until_snapshot_id IS NULL'), postgresql_where=sa.text('until_snapshot_id IS NULL'))
        batch_op.drop_index('ix_relationships_until_snapshot_id', sqlite_where=sa.text('until_snapshot_id IS NOT NULL'), postgresql_where=sa.text('until_snapshot_id IS NOT NULL'))
        batch_op.drop_index(batch_op.f('ix_relationships_since_snapshot_id'))

    op.drop_table('relationships')
    with op.batch_alter_table('contact_points', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_contact_points_person_id'))

    op.drop_table('contact_points')
    with op.batch_alter_table('snapshots', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_snapshots_content_hash'))
        batch_op.drop_index('ix_snapshots_account_kind')

    op.drop_table('snapshots')
    with op.batch_alter_table('profiles', schema=None) as batch_op:
        batch_op.drop_index('ix_profiles_person_id', sqlite_where=sa.text('person_id IS NOT NULL'), postgresql_where=sa.text('person_id IS NOT NULL'))

    op.drop_table('profiles')
    op.drop_table('persons')
    op.drop_table('accounts')
