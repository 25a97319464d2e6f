"""Reconciliation of Amazon reports with the ERP."""
