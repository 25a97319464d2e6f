"""The sandbox ERP: a deterministic, optionally flaky ERP API, run as a process of its own (app.py)."""
