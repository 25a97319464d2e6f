"""A count with its noun, singular or plural as the count asks ("1 message", "2 messages")."""


def noun_for(count: int, singular: str, plural: str | None = None) -> str:
    """The noun a count takes: ``singular`` for exactly one, else ``plural`` (default: singular + "s")."""
    return singular if count == 1 else plural or singular + "s"


def counted(count: int, singular: str, plural: str | None = None) -> str:
    """``count`` (with thousands separators) and its noun: pages and messages never say "1 messages"."""
    return f"{count:,} {noun_for(count, singular, plural)}"
