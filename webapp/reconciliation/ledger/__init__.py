"""The sales ledger: every report transaction reaches the ERP once, whichever file brings it."""
