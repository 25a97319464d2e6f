"""Operators who log in to the console, and their API tokens."""

import hashlib
import secrets
from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import Boolean, DateTime, ForeignKey, Integer, String
from sqlalchemy import false as sa_false
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from webapp.extensions import db
from webapp.models.jobs import utcnow

# Each role may do what the roles before it may: a viewer reads, an operator runs jobs, an admin
# manages operators, tokens, schedules, the sandbox and the workers.
VIEWER, OPERATOR, ADMIN = "viewer", "operator", "admin"
ROLES = (VIEWER, OPERATOR, ADMIN)


class Operator(UserMixin, db.Model):
    """A person allowed to run jobs; the password is stored only as a salted hash."""

    __tablename__ = "operators"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    # Sessions carry the version they were issued under; logout and a new password move it on.
    session_version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    role: Mapped[str] = mapped_column(String(16), default=VIEWER, server_default=VIEWER)
    # Set for a password someone else chose (the first admin's, a reset): changed at the next login.
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())

    def set_password(self, password: str) -> None:
        """Store a hash of ``password``; sessions issued under the old one stop working."""
        self.password_hash = generate_password_hash(password)
        self.end_sessions()

    def end_sessions(self) -> None:
        """Invalidate every session cookie issued to this operator so far (the next login issues new ones)."""
        self.session_version = (self.session_version or 0) + 1

    def check_password(self, password: str) -> bool:
        """True when ``password`` matches the stored hash."""
        return check_password_hash(self.password_hash, password)

    @property
    def is_active(self) -> bool:  # type: ignore[override]
        """Flask-Login refuses inactive operators."""
        return self.active

    def has_role(self, role: str) -> bool:
        """True when this operator's role is ``role`` or one above it."""
        return self.role in ROLES and ROLES.index(self.role) >= ROLES.index(role)


def hash_token(token: str) -> str:
    """SHA-256 of an API token: tokens are random, so no salt or slow hash is needed."""
    return hashlib.sha256(token.encode()).hexdigest()


class ApiToken(db.Model):
    """A bearer token for the JSON API; only its hash is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    operator_id: Mapped[int] = mapped_column(ForeignKey("operators.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(80), default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime)
    last_used_from: Mapped[str | None] = mapped_column(String(64))

    operator = relationship("Operator")

    @staticmethod
    def issue(operator: Operator, name: str = "", expires_at: datetime | None = None) -> tuple["ApiToken", str]:
        """Create a token row for ``operator``; return it with the clear token (shown once)."""
        token = secrets.token_urlsafe(32)
        return ApiToken(operator=operator, token_hash=hash_token(token), name=name, expires_at=expires_at), token

    def refusal(self, now: datetime) -> str | None:
        """Why this token cannot be used at ``now``, or None when it can."""
        if self.revoked_at is not None:
            return "This API token was revoked."
        if self.expires_at is not None and self.expires_at <= now:
            return "This API token has expired."
        return None
