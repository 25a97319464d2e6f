"""Tools for local runs, tests, benchmarks and the soak: private servers, worker processes, waits.

Never imported by the product (webapp/, tasks/): scripts/ and tests/ share them.
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent  # the project's directory
