"""identity links and manual decisions, tags and tag rules, link runs; verified contact points

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def _pair_columns():
    return [
        sa.Column('a_platform', sa.String(length=32), nullable=False),
        sa.Column('a_platform_id', sa.String(length=512), nullable=False),
        sa.Column('b_platform', sa.String(length=32), nullable=False),
        sa.Column('b_platform_id', sa.String(length=512), nullable=False),
    ]


def _pair_fks(table):
    return [
        sa.ForeignKeyConstraint(['a_platform', 'a_platform_id'], ['profiles.platform', 'profiles.platform_id'], name=op.f(f'fk_{table}_a_platform_profiles'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['b_platform', 'b_platform_id'], ['profiles.platform', 'profiles.platform_id'], name=op.f(f'fk_{table}_b_platform_profiles'), ondelete='CASCADE'),
    ]


def upgrade() -> None:
    op.create_table('identity_links',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    *_pair_columns(),
    sa.Column('evidence', sa.String(length=32), nullable=False),
    sa.Column('matched', sa.Text(), nullable=False),
    sa.Column('confidence', sa.Float(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    *_pair_fks('identity_links'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_identity_links')),
    sa.UniqueConstraint('a_platform', 'a_platform_id', 'b_platform', 'b_platform_id', 'evidence', name=op.f('uq_identity_links_a_platform_a_platform_id_b_platform_b_platform_id_evidence'))
    )
    op.create_index('ix_identity_links_b', 'identity_links', ['b_platform', 'b_platform_id'], unique=False)
    op.create_table('identity_decisions',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    *_pair_columns(),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    *_pair_fks('identity_decisions'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_identity_decisions')),
    sa.UniqueConstraint('a_platform', 'a_platform_id', 'b_platform', 'b_platform_id', name=op.f('uq_identity_decisions_a_platform_a_platform_id_b_platform_b_platform_id'))
    )
    op.create_table('person_tags',
    sa.Column('person_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('tag', sa.String(length=64), nullable=False),
    sa.Column('source', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['person_id'], ['persons.id'], name=op.f('fk_person_tags_person_id_persons'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('person_id', 'tag', name=op.f('pk_person_tags'))
    )
    op.create_table('tag_rules',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tag', sa.String(length=64), nullable=False),
    sa.Column('platform', sa.String(length=32), nullable=True),
    sa.Column('account_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=16), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_tag_rules_account_id_accounts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tag_rules'))
    )
    op.create_table('link_runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=False),
    sa.Column('finished_at', sa.DateTime(), nullable=True),
    sa.Column('profiles_read', sa.BigInteger(), nullable=False),
    sa.Column('persons', sa.BigInteger(), nullable=False),
    sa.Column('links', sa.BigInteger(), nullable=False),
    sa.Column('refused', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_link_runs'))
    )
    op.add_column('contact_points', sa.Column('verified', sa.Boolean(), nullable=True))
    op.create_index('ix_contact_points_kind_value', 'contact_points', ['kind', 'value'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_contact_points_kind_value', table_name='contact_points')
    with op.batch_alter_table('contact_points', schema=None) as batch_op:
        batch_op.drop_column('verified')
    op.drop_table('link_runs')
    op.drop_table('tag_rules')
    op.drop_table('person_tags')
    op.drop_table('identity_decisions')
    op.drop_index('ix_identity_links_b', table_name='identity_links')
    op.drop_table('identity_links')
