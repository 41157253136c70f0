"""The layers of docs/architecture.md hold: the import contracts in
pyproject.toml (checked by import-linter, as `make lint` does) are all kept."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_import_contract_is_kept() -> None:
    result = subprocess.run(
        [sys.executable, "-c", "from importlinter.cli import lint_imports_command; "
                               "lint_imports_command()", "--no-cache"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "BROKEN" not in result.stdout and " KEPT" in result.stdout


def test_the_architecture_document_names_every_top_level_package() -> None:
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    packages = sorted(p.name for p in (ROOT / "bot").iterdir()
                      if p.is_dir() and (p / "__init__.py").exists())
    missing = [name for name in packages if f"bot/{name}/" not in text]
    assert not missing, f"docs/architecture.md does not describe: {missing}"
