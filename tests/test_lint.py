"""The code is linted and formatted by ruff with the rules in pyproject.toml (the pre-commit hooks run
the same two commands), so the test command that CI runs lints too."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TREES = ["src", "tests", "scripts"]


def ruff() -> str:
    exe = Path(sys.executable).with_name("ruff")
    found = str(exe) if exe.exists() else shutil.which("ruff")
    assert found, "ruff is not installed: it comes with the dev extra (bash scripts/setup.sh)"
    return found


@pytest.mark.parametrize("command", [["check"], ["format", "--check"]], ids=["check", "format"])
def test_ruff(command):
    done = subprocess.run([ruff(), *command, *TREES], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, f"ruff {' '.join(command)} found:\n{done.stdout}{done.stderr}"
