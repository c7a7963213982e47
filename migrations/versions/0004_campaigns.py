"""invite campaigns and their messages (SPEC §8)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""
import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('campaigns',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('template', sa.Text(), nullable=False),
    sa.Column('link', sa.Text(), nullable=True),
    sa.Column('target', sa.String(length=1024), nullable=False),
    sa.Column('filters', sa.JSON(), nullable=False),
    sa.Column('sender', sa.String(length=512), nullable=True),
    sa.Column('account_id', sa.Integer(), nullable=True),
    sa.Column('budget_key', sa.String(length=512), nullable=False),
    sa.Column('per_day', sa.Integer(), nullable=False),
    sa.Column('per_hour', sa.Integer(), nullable=False),
    sa.Column('min_interval', sa.Float(), nullable=False),
    sa.Column('settings', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('pause_reason', sa.Text(), nullable=True),
    sa.Column('paused_at', sa.DateTime(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_campaigns_account_id_accounts'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_campaigns')),
    sa.UniqueConstraint('name', name=op.f('uq_campaigns_name'))
    )
    op.create_index(op.f('ix_campaigns_target'), 'campaigns', ['target'], unique=False)
    op.create_table('campaign_messages',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.BigInteger(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('recipient', sa.Text(), nullable=True),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('address', sa.String(length=1024), nullable=False),
    sa.Column('platform_id', sa.String(length=512), nullable=True),
    sa.Column('reach', sa.BigInteger(), nullable=True),
    sa.Column('ref', sa.String(length=32), nullable=False),
    sa.Column('idempotency_key', sa.String(length=64), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('variant', sa.Integer(), nullable=True),
    sa.Column('text', sa.Text(), nullable=True),
    sa.Column('provider_id', sa.String(length=512), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('planned_at', sa.DateTime(), nullable=False),
    sa.Column('claimed_at', sa.DateTime(), nullable=True),
    sa.Column('finished_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_campaign_messages_campaign_id_campaigns'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_campaign_messages')),
    sa.UniqueConstraint('campaign_id', 'address', name=op.f('uq_campaign_messages_campaign_id_address')),
    sa.UniqueConstraint('campaign_id', 'person_id', name=op.f('uq_campaign_messages_campaign_id_person_id')),
    sa.UniqueConstraint('ref', name=op.f('uq_campaign_messages_ref'))
    )
    op.create_index('ix_campaign_messages_campaign_id_state', 'campaign_messages', ['campaign_id', 'state', 'seq'], unique=False)
    op.create_index('ix_campaign_messages_claimed_at', 'campaign_messages', ['claimed_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_campaign_messages_claimed_at', table_name='campaign_messages')
    op.drop_index('ix_campaign_messages_campaign_id_state', table_name='campaign_messages')
    op.drop_table('campaign_messages')
    op.drop_index(op.f('ix_campaigns_target'), table_name='campaigns')
    op.drop_table('campaigns')
