"""Reconciliation: Amazon reports to sales orders; the reader, the stored files, the import and the ledger."""
