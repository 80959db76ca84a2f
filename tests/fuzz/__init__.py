"""Fuzz tests (issue 8): generated hostile inputs through the real kernel, importer and HTTP API."""
from collections import Counter

TALLY: dict[str, Counter[str]] = {}  # outcome buckets per fuzz target, printed at the end of the run
