"""The one rule for an uploaded file's name: it is stored beside the job, in columns of 255 characters."""

MOST_NAME_CHARS = 255


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot be kept as an upload's name, or None.

    Checked before anything is stored: SQLite would keep a longer name, PostgreSQL would refuse it
    after the file itself had been saved.
    """
    if len(name) > MOST_NAME_CHARS:
        return f"the file name is {len(name):,} characters long; rename the file to at most {MOST_NAME_CHARS}"
    return None
