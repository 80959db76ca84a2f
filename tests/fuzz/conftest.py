from typing import Any

from tests.fuzz import TALLY


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not TALLY:
        return
    terminalreporter.section("fuzz inputs by outcome")
    for target, buckets in sorted(TALLY.items()):
        terminalreporter.write_line(f"{target}: {sum(buckets.values())} {dict(sorted(buckets.items()))}")
    terminalreporter.write_line(f"total: {sum(sum(b.values()) for b in TALLY.values())} generated inputs")
