"""The fault table: one row per fault-matrix case, printed at the end of the test run."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class FaultRow:
    """One fault on one backend, as the emulator accounted it."""

    backend: str
    fault: str
    outcome: str
    submits: int
    billed: int
    delivered: int
    warned: bool


@dataclass
class FaultTable:
    """Rows gathered during the run."""

    rows: list[FaultRow] = field(default_factory=list)

    def add(self, row: FaultRow) -> None:
        self.rows.append(row)

    def lines(self) -> list[str]:
        """The table as text, with totals."""
        header = (
            f"{'backend':<26} {'fault':<15} {'outcome':<26} "
            f"{'submits':>7} {'billed':>6} {'delivered':>9}  lost"
        )
        lines = [header, "-" * len(header)]
        for row in sorted(self.rows, key=lambda r: (r.backend, r.fault)):
            lost = row.billed - row.delivered
            note = "0" if lost == 0 else f"{lost} (the error says it may be billed)"
            lines.append(
                f"{row.backend:<26} {row.fault:<15} {row.outcome:<26} "
                f"{row.submits:>7} {row.billed:>6} {row.delivered:>9}  {note}"
            )
        doubled = sum(1 for row in self.rows if row.billed > 1)
        silent = sum(1 for row in self.rows if row.billed > row.delivered and not row.warned)
        lines.append(
            f"{len(self.rows)} cases: {doubled} paid twice, {silent} paid images lost silently"
        )
        return lines
