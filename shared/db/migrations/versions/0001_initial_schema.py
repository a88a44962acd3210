"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-22 18:01:07.191242
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('api_keys',
    sa.Column('id', sa.BigInteger(), autoincrement=True, nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('key_hash', sa.Text(), nullable=False),
    sa.Column('key_prefix', sa.Text(), nullable=False),
    sa.Column('allowed_domains', postgresql.ARRAY(sa.Text()), server_default='{}', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('key_hash')
    )
    op.create_table('contents',
    sa.Column('id', sa.BigInteger(), autoincrement=True, nullable=False),
    sa.Column('api_key_id', sa.BigInteger(), nullable=False),
    sa.Column('subject', sa.Text(), nullable=False),
    sa.Column('html', sa.Text(), nullable=False),
    sa.Column('text', sa.Text(), nullable=True),
    sa.Column('reply_to', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['api_key_id'], ['api_keys.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('messages',
    sa.Column('id', sa.BigInteger(), autoincrement=True, nullable=False),
    sa.Column('api_key_id', sa.BigInteger(), nullable=False),
    sa.Column('content_id', sa.BigInteger(), nullable=False),
    sa.Column('topic_id', sa.Text(), nullable=False),
    sa.Column('from_addr', sa.Text(), nullable=False),
    sa.Column('to_addr', sa.Text(), nullable=False),
    sa.Column('state', sa.Text(), server_default='created', nullable=False),
    sa.Column('scheduled_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('attempts', sa.Integer(), server_default='0', nullable=False),
    sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('worker_id', sa.Text(), nullable=True),
    sa.Column('provider_message_id', sa.Text(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("state IN ('created', 'queued', 'sending', 'sent', 'delivered', 'bounced', 'complained', 'failed', 'unknown', 'cancelled', 'suppressed')", name='state_valid'),
    sa.ForeignKeyConstraint(['api_key_id'], ['api_keys.id'], ),
    sa.ForeignKeyConstraint(['content_id'], ['contents.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('messages_due', 'messages', ['due_at'], unique=False, postgresql_where=sa.text("state IN ('created', 'queued')"))
    op.create_index('messages_lease', 'messages', ['lease_until'], unique=False, postgresql_where=sa.text("state = 'sending'"))
    op.create_index('messages_provider_id', 'messages', ['provider_message_id'], unique=False)
    op.create_index('messages_sent_at', 'messages', ['api_key_id', 'sent_at'], unique=False, postgresql_where=sa.text('sent_at IS NOT NULL'))
    op.create_index('messages_topic', 'messages', ['api_key_id', 'topic_id', 'state'], unique=False)
    op.create_table('events',
    sa.Column('id', sa.BigInteger(), autoincrement=True, nullable=False),
    sa.Column('message_id', sa.BigInteger(), nullable=True),
    sa.Column('type', sa.Text(), nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('provider_message_id', sa.Text(), nullable=True),
    sa.Column('sns_message_id', sa.Text(), nullable=True),
    sa.Column('payload', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.ForeignKeyConstraint(['message_id'], ['messages.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('sns_message_id')
    )
    op.create_index('events_message', 'events', ['message_id', 'type'], unique=False)


def downgrade() -> None:
    op.drop_index('events_message', table_name='events')
    op.drop_table('events')
    op.drop_index('messages_topic', table_name='messages')
    op.drop_index('messages_sent_at', table_name='messages', postgresql_where=sa.text('sent_at IS NOT NULL'))
    op.drop_index('messages_provider_id', table_name='messages')
    op.drop_index('messages_lease', table_name='messages', postgresql_where=sa.text("state = 'sending'"))
    op.drop_index('messages_due', table_name='messages', postgresql_where=sa.text("state IN ('created', 'queued')"))
    op.drop_table('messages')
    op.drop_table('contents')
    op.drop_table('api_keys')
