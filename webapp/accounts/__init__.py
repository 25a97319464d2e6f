"""Operator accounts: roles, passwords and API tokens, each change audited (the admin page and the CLI share it)."""
