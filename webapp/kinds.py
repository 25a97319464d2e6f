"""The kinds of job Celeriac runs: their labels, record keys and the steps of each record."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Step:
    """One task of a record's chain, as the job page shows it."""

    task_name: str
    label: str


@dataclass(frozen=True)
class JobKind:
    """What the pages and the API need to know about a kind of job."""

    name: str
    label: str
    key_label: str
    steps: tuple[Step, ...]


PURCHASE_ORDERS = JobKind(
    name="purchase_orders",
    label="Purchase orders",
    key_label="PO number",
    steps=(Step("tasks.workflows.fetch_po", "fetch"), Step("tasks.workflows.make_po", "make PO")),
)

KINDS: dict[str, JobKind] = {kind.name: kind for kind in (PURCHASE_ORDERS,)}

DISPATCH_TASK = "tasks.workflows.dispatch_job"
