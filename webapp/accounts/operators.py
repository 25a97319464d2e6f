"""Operators: create, role, deactivate and reactivate, passwords; each change audited in its own transaction.

The console keeps at least one active admin: the last one can be neither demoted nor deactivated,
or nobody could manage operators without the CLI.
"""

import re
import secrets

from webapp import audit
from webapp.extensions import db
from webapp.models import ApiToken, Operator, utcnow
from webapp.models.operators import ADMIN, ROLES

PASSWORD_MIN_LENGTH, PASSWORD_MAX_LENGTH = 12, 200
USERNAME = re.compile(r"[A-Za-z0-9._@-]{1,80}")
FIRST_ADMIN = "admin"

Actor = Operator | str  # the operator who acted, or "cli"


class AccountError(Exception):
    """A change refused, with the reason in words for the page or the terminal."""


def password_problem(password: str) -> str | None:
    """What is wrong with ``password`` as a new password, or None."""
    if len(password) < PASSWORD_MIN_LENGTH:
        return f"The password must have at least {PASSWORD_MIN_LENGTH} characters."
    if len(password) > PASSWORD_MAX_LENGTH:
        return f"The password must have at most {PASSWORD_MAX_LENGTH} characters."
    return None


def generated_password() -> str:
    """A random password of 16 characters, for a new operator or a reset (to be changed at first login)."""
    return secrets.token_urlsafe(12)


def find(username: str) -> Operator | None:
    """The operator with this username, if any."""
    return db.session.execute(db.select(Operator).filter_by(username=username)).scalar_one_or_none()


def all_operators() -> list[Operator]:
    """Every operator, by username."""
    return list(db.session.execute(db.select(Operator).order_by(Operator.username)).scalars())


def create(username: str, role: str, password: str, actor: Actor, must_change_password: bool = True) -> Operator:
    """Create an operator with ``role``; unless told otherwise they change ``password`` at first login."""
    if not USERNAME.fullmatch(username):
        raise AccountError("A username is 1 to 80 letters, digits, dots, dashes, underscores or @.")
    if find(username) is not None:
        raise AccountError(f"An operator named {username!r} exists already.")
    check_role(role)
    if problem := password_problem(password):
        raise AccountError(problem)
    operator = Operator(username=username, role=role, must_change_password=must_change_password)
    operator.set_password(password)
    db.session.add(operator)
    audit.record("operator_create", f"operator {username} created with role {role}", actor=actor)
    db.session.commit()
    return operator


def ensure_first_admin() -> str | None:
    """Create the admin 'admin' if there is no operator at all; return its password (to change at first login)."""
    if db.session.execute(db.select(Operator.id).limit(1)).first() is not None:
        return None
    password = generated_password()
    create(FIRST_ADMIN, ADMIN, password, "cli")
    return password


def check_role(role: str) -> None:
    """Refuse a role the console does not know."""
    if role not in ROLES:
        raise AccountError(f"Unknown role {role!r}: one of {', '.join(ROLES)}.")


def keep_an_admin(operator: Operator) -> None:
    """Refuse to take away the last active admin."""
    if operator.role != ADMIN or not operator.active:
        return
    others = db.session.execute(
        db.select(db.func.count()).where(Operator.role == ADMIN, Operator.active.is_(True), Operator.id != operator.id)
    ).scalar_one()
    if others == 0:
        raise AccountError(f"{operator.username} is the last active admin: make another admin first.")


def set_role(operator: Operator, role: str, actor: Actor) -> None:
    """Give ``operator`` another role (at their next request: roles are read with the operator)."""
    check_role(role)
    if role == operator.role:
        return
    if role != ADMIN:
        keep_an_admin(operator)
    audit.record("operator_role", f"operator {operator.username}: role {operator.role} → {role}", actor=actor)
    operator.role = role
    db.session.commit()


def deactivate(operator: Operator, actor: Actor) -> None:
    """Stop ``operator``: their sessions end and their tokens are revoked (a reactivation brings neither back)."""
    if not operator.active:
        return
    keep_an_admin(operator)
    operator.active = False
    operator.end_sessions()
    revoked = db.session.execute(
        db.update(ApiToken).where(ApiToken.operator_id == operator.id, ApiToken.revoked_at.is_(None)).values(revoked_at=utcnow())
    ).rowcount
    audit.record("operator_deactivate", f"operator {operator.username} deactivated; {revoked} API token(s) revoked", actor=actor)
    db.session.commit()


def reactivate(operator: Operator, actor: Actor) -> None:
    """Let ``operator`` log in again (with new tokens: the old ones stay revoked)."""
    if operator.active:
        return
    operator.active = True
    audit.record("operator_reactivate", f"operator {operator.username} reactivated", actor=actor)
    db.session.commit()


def reset_password(operator: Operator, actor: Actor) -> str:
    """Give ``operator`` a new random password, to change at their next login; their sessions end. Returns it."""
    password = generated_password()
    operator.set_password(password)  # ends their sessions
    operator.must_change_password = True
    audit.record("password_reset", f"password of operator {operator.username} reset", actor=actor)
    db.session.commit()
    return password


def change_password(operator: Operator, current: str, new: str) -> None:
    """The operator's own change: the current password is required; every other session of theirs ends."""
    if not operator.check_password(current):
        raise AccountError("The current password is not right.")
    if problem := password_problem(new):
        raise AccountError(problem)
    if new == current:
        raise AccountError("Choose a password other than the current one.")
    operator.set_password(new)
    operator.must_change_password = False
    audit.record("password_change", f"operator {operator.username} changed their password", actor=operator)
    db.session.commit()
