"""API tokens: issue (the clear token is shown once), name, expire, revoke; each change audited."""

from datetime import datetime

from webapp import audit
from webapp.accounts.operators import AccountError, Actor
from webapp.extensions import db
from webapp.models import ApiToken, Operator, utcnow


def tokens_of(operator: Operator) -> list[ApiToken]:
    """The operator's tokens, newest first (revoked and expired ones too: the page shows why they stopped)."""
    return list(db.session.execute(db.select(ApiToken).filter_by(operator_id=operator.id).order_by(ApiToken.id.desc())).scalars())


def clean_name(name: str) -> str:
    """A token's name, trimmed; refused past 80 characters."""
    name = name.strip()
    if len(name) > 80:
        raise AccountError("A token's name has at most 80 characters.")
    return name


def issue(operator: Operator, name: str, expires_at: datetime | None, actor: Actor) -> tuple[ApiToken, str]:
    """A new token for an active ``operator``; returns the row and the clear token, which is not stored."""
    if not operator.active:
        raise AccountError(f"{operator.username} is deactivated: reactivate them first.")
    if expires_at is not None and expires_at <= utcnow():
        raise AccountError("The expiry must be in the future.")
    row, token = ApiToken.issue(operator, clean_name(name), expires_at)
    db.session.add(row)
    db.session.flush()
    until = f", expires {expires_at:%Y-%m-%d %H:%M} UTC" if expires_at else ""
    audit.record("token_issue", f"API token #{row.id} {row.name!r} issued to {operator.username}{until}", actor=actor)
    db.session.commit()
    return row, token


def find_token(token_id: int) -> ApiToken:
    """The token with this id, or AccountError."""
    row = db.session.get(ApiToken, token_id)
    if row is None:
        raise AccountError(f"There is no API token #{token_id}.")
    return row


def rename(row: ApiToken, name: str, actor: Actor) -> None:
    """Name a token (what it is for, where it is used)."""
    name = clean_name(name)
    audit.record("token_name", f"API token #{row.id} of {row.operator.username} named {name!r} (was {row.name!r})", actor=actor)
    row.name = name
    db.session.commit()


def expire(row: ApiToken, at: datetime | None, actor: Actor) -> None:
    """Make a token stop working at ``at`` (now when None)."""
    at = at or utcnow()
    audit.record("token_expire", f"API token #{row.id} of {row.operator.username} expires {at:%Y-%m-%d %H:%M} UTC", actor=actor)
    row.expires_at = at
    db.session.commit()


def revoke(row: ApiToken, actor: Actor) -> None:
    """Stop a token now, for good (the row stays, so the list shows when it was revoked)."""
    if row.revoked_at is not None:
        return
    row.revoked_at = utcnow()
    audit.record("token_revoke", f"API token #{row.id} {row.name!r} of {row.operator.username} revoked", actor=actor)
    db.session.commit()
