"""The architecture's boundaries, checked by import-linter on every test run."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_services_are_independent_shared_never_imports_services_and_domains_import_no_io() -> None:
    lint = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 3 kept, 0 broken." in result.stdout


def test_domain_code_never_reads_the_wall_clock() -> None:
    offenders = [
        str(path.relative_to(ROOT))
        for path in ROOT.glob("services/*/domain/**/*.py")
        if any(bad in path.read_text() for bad in ("datetime.now(", "utcnow(", "date.today(", "uuid4("))
    ]
    assert offenders == []


def test_no_undefined_names_unused_imports_or_syntax_errors() -> None:
    ruff = Path(sys.executable).parent / "ruff"
    result = subprocess.run([str(ruff), "check", "--select", "F,E9", "services", "shared", "tests", "bench"],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
