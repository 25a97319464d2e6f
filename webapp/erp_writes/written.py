"""What an ERP write did for a record, or why the record cannot be written."""

from dataclasses import dataclass


class Unwritable(Exception):
    """The record lacks what its write needs, so nothing was written; the message says what, in words."""


@dataclass(frozen=True)
class Written:
    """What one ERP write made: its id in the ERP, and whether the record is now whole there."""

    erp_ref: str | None
    whole: bool = True  # False: writes of the record are still to come (a product before its components)
    note: str | None = None  # why nothing was written, kept as the record's error
