from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator

import pytest

from tests.reliability.faulttable import FaultTable
from tests.reliability.network_guard import NetworkGuard

# Hypothesis keeps caches (constants, Unicode tables) in ./.hypothesis unless told otherwise;
# the fuzz tests keep no example database at all (database=None), and write nothing here.
os.environ.setdefault(
    "HYPOTHESIS_STORAGE_DIRECTORY", os.path.join(tempfile.gettempdir(), "imagegate-hypothesis")
)


@pytest.fixture(scope="module")
def network() -> Iterator[NetworkGuard]:
    """No connection or DNS lookup can leave the process while the module's tests run."""
    guard = NetworkGuard()
    with pytest.MonkeyPatch.context() as patch:
        guard.install(patch)
        yield guard


_FAULT_TABLE = FaultTable()


@pytest.fixture
def fault_table() -> FaultTable:
    """Where fault-matrix cases record their accounts, for the table printed at the end."""
    return _FAULT_TABLE


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print the fault table when the fault matrix ran."""
    if _FAULT_TABLE.rows:
        terminalreporter.section("fault table (tests/reliability/test_fault_matrix.py)")
        for line in _FAULT_TABLE.lines():
            terminalreporter.write_line(line)
