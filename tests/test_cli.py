"""The imagegate command line."""

from __future__ import annotations

from typer.testing import CliRunner

import imagegate
from imagegate.cli import app

runner = CliRunner()


def test_models_prints_the_catalog() -> None:
    result = runner.invoke(app, ["models"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for spec in imagegate.models():
        assert spec.name in result.output


def test_models_marks_unverified_prices() -> None:
    result = runner.invoke(app, ["models", "--provider", "openai"], env={"COLUMNS": "200"})
    assert "(unverified)" in result.output
    assert "fal/" not in result.output


def test_version_prints_the_version() -> None:
    result = runner.invoke(app, ["version"])
    assert result.output.strip() == imagegate.__version__
