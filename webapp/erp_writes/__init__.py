"""Writing what a record fetched into the ERP tables: every write idempotent on its natural keys."""
