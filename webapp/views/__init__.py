"""Screens: one blueprint module per page of the console (and /metrics)."""
