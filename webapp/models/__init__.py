"""Typed SQLAlchemy models: the SQL log (jobs, records, task runs), operators, ERP tables."""

from webapp.models.erp import PurchaseOrder, PurchaseOrderLine
from webapp.models.jobs import (
    ACTIVE_JOB_STATUSES,
    JOB_STATUSES,
    RECORD_STATES,
    TERMINAL_JOB_STATUSES,
    TERMINAL_RECORD_STATES,
    Job,
    JobRecord,
    JobStatus,
    OutboxMessage,
    RecordState,
    TaskRun,
    utcnow,
)
from webapp.models.operators import ApiToken, Operator
from webapp.models.sandbox import SandboxSettings

__all__ = [
    "ACTIVE_JOB_STATUSES",
    "JOB_STATUSES",
    "RECORD_STATES",
    "TERMINAL_JOB_STATUSES",
    "TERMINAL_RECORD_STATES",
    "ApiToken",
    "Job",
    "JobRecord",
    "JobStatus",
    "Operator",
    "OutboxMessage",
    "PurchaseOrder",
    "PurchaseOrderLine",
    "RecordState",
    "SandboxSettings",
    "TaskRun",
    "utcnow",
]
