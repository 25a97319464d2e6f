"""Typed SQLAlchemy models: the SQL log (jobs, records, task runs), operators, ERP tables, schedules."""

from webapp.models.audit import AuditEvent
from webapp.models.erp import Component, Product, PurchaseOrder, PurchaseOrderLine, SalesOrder, SalesOrderLine
from webapp.models.jobs import (
    ACTIVE_JOB_STATUSES,
    JOB_STATUSES,
    RECORD_STATES,
    TERMINAL_JOB_STATUSES,
    TERMINAL_RECORD_STATES,
    Job,
    JobKeyList,
    JobRecord,
    JobStateCount,
    JobStatus,
    OutboxMessage,
    RecordState,
    TaskRun,
    locked_job,
    utcnow,
)
from webapp.models.ledger import LedgerChunk, ReconTransactionChunk, SettlementState
from webapp.models.operators import ApiToken, Operator
from webapp.models.reconciliation import ReconImport
from webapp.models.rounds import JobRound
from webapp.models.sandbox import SandboxSettings
from webapp.models.schedules import Schedule, ScheduleRun
from webapp.models.storage import StoredFile, StoredFileChunk

__all__ = [
    "ACTIVE_JOB_STATUSES",
    "JOB_STATUSES",
    "RECORD_STATES",
    "TERMINAL_JOB_STATUSES",
    "TERMINAL_RECORD_STATES",
    "ApiToken",
    "AuditEvent",
    "Component",
    "Job",
    "JobKeyList",
    "JobRecord",
    "JobRound",
    "JobStateCount",
    "JobStatus",
    "LedgerChunk",
    "Operator",
    "OutboxMessage",
    "Product",
    "PurchaseOrder",
    "PurchaseOrderLine",
    "ReconImport",
    "ReconTransactionChunk",
    "RecordState",
    "SalesOrder",
    "SalesOrderLine",
    "SandboxSettings",
    "Schedule",
    "ScheduleRun",
    "SettlementState",
    "StoredFile",
    "StoredFileChunk",
    "TaskRun",
    "locked_job",
    "utcnow",
]
