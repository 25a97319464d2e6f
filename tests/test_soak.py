"""The short soak: 90 s of mixed jobs under SIGKILLs, a Redis and a PostgreSQL restart; the ledger must hold.

Its one large job (BOM, cancelled when the load stops) runs beside small jobs and cancels of BOM
jobs, so the flow-control and whole-record checks see something. The soak starts its own
PostgreSQL, Redis, sandbox ERP and workers (scripts/soak.py), so it uses none of the session's
fixtures. ``make soak`` runs the long version.
"""

from pathlib import Path

import pytest

from devtools.localpostgres import postgres_bin
from scripts import soak

pytestmark = pytest.mark.soak

SHORT_MINUTES = 1.5
SHORT_RECORDS = 1000  # a 2-core machine makes well over this in 90 s; the long run checks 2,000


def test_short_soak_loses_nothing_and_does_nothing_twice(tmp_path: Path) -> None:
    """Every job and record ends, every ERP effect exists once, no run is left started, unacked is empty;
    no cancelled record wrote, every product is whole, no job sent after its cancel or had more than
    a window still to run in the broker, small jobs ended within their bound beside the large one."""
    if postgres_bin("initdb") is None:
        pytest.fail("initdb not found: install PostgreSQL's server package to run the soak")
    report = soak.soak(SHORT_MINUTES, seed=7, work=tmp_path, min_records=SHORT_RECORDS)
    print(report.text())
    failed = [check.name for check in report.checks if not check.ok]
    assert not failed, report.text()
