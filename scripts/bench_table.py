"""The benchmark table: one row per figure, with its ratio to the baseline measured in the same run."""

Row = tuple[str, str, str, str]  # (what was measured, figure, ratio to the baseline, notes and goal)


def verdict(met: bool) -> str:
    """How a goal reads in the table."""
    return "met" if met else "MISSED"


def print_rows(title: str, rows: list[Row]) -> None:
    """Print one section of the table, aligned."""
    print(title, flush=True)
    width = max(len(row[0]) for row in rows)
    for name, figure, ratio, note in rows:
        print(f"  {name:<{width}}  {figure:>14}  {ratio:>7}  {note}", flush=True)
