"""What the helper process writes back to the worker: progress frames while it reads, then one result frame.

A progress frame is ``P`` and two counts (rows, bytes); the result frame is ``R``, a size and the
pickled ``Later``. The result is defined here, in a module both processes import, so that it
unpickles as the same class in each.
"""

import struct
from dataclasses import dataclass

from webapp.reconciliation.reader.two_cores.merge import Partial

PROGRESS, RESULT = b"P", b"R"
COUNTS = struct.Struct("<qq")
SIZE = struct.Struct("<q")


@dataclass
class Later:
    """What the helper sends back: its sums, and what tells whether they stand in for reading on."""

    partial: Partial
    saw_us_orders: bool
    first_excluded: int | None
    bytes_read: int
    ascii: bool
    unsure: bool
