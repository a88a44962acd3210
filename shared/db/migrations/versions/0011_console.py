"""console users, sessions and saved recipient grids

Revision ID: 0011
Revises: 0010

Hand-written; creates exactly shared/db/tables/console.py.
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def _now():
    return sa.text("now()")


def upgrade() -> None:
    op.create_table(
        "console_users",
        sa.Column("id", sa.BigInteger(), autoincrement=True, primary_key=True),
        sa.Column("email", sa.Text(), nullable=False, unique=True),
        sa.Column("role", sa.Text(), server_default="viewer", nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=True),
        sa.Column("oidc_subject", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.Column("last_login_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("role IN ('viewer', 'editor', 'admin')", name="console_role_valid"),
    )
    op.create_table(
        "console_sessions",
        sa.Column("id_hash", sa.Text(), primary_key=True),
        sa.Column("user_id", sa.BigInteger(),
                  sa.ForeignKey("console_users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("csrf", sa.Text(), nullable=False),
        sa.Column("api_key_id", sa.BigInteger(),
                  sa.ForeignKey("api_keys.id", ondelete="SET NULL"), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("console_sessions_expiry", "console_sessions", ["expires_at"])
    op.create_table(
        "console_grids",
        sa.Column("id", sa.BigInteger(), autoincrement=True, primary_key=True),
        sa.Column("api_key_id", sa.BigInteger(),
                  sa.ForeignKey("api_keys.id", ondelete="CASCADE"), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("template_id", sa.BigInteger(), nullable=True),
        sa.Column("columns", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("rows", postgresql.JSONB(), server_default=sa.text("'[]'::jsonb"),
                  nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
    )
    op.create_index("console_grids_name", "console_grids", ["api_key_id", "name"], unique=True)


def downgrade() -> None:
    op.drop_table("console_grids")
    op.drop_table("console_sessions")
    op.drop_table("console_users")
