"""The sandbox ERP: a deterministic, optionally flaky ERP API served by this app."""
