"""suppression list; staged records that are not members (unsubscribed readers, vCards)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('suppressions',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.Column('reason', sa.String(length=64), nullable=False),
    sa.Column('source', sa.Text(), nullable=True),
    sa.Column('account_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_suppressions_account_id_accounts'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_suppressions')),
    sa.UniqueConstraint('kind', 'value', name=op.f('uq_suppressions_kind_value'))
    )
    # ADD COLUMN of a nullable column without a default: no table rewrite on either database.
    op.add_column('snapshot_items', sa.Column('member', sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('snapshot_items', schema=None) as batch_op:
        batch_op.drop_column('member')
    op.drop_table('suppressions')
