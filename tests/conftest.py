"""Shared test set-up: hypothesis profiles and small helpers.

HYPOTHESIS_PROFILE=ci (what `make test` and CI use) runs enough examples to matter; the default
"dev" profile runs a few, for quick local runs.
"""

import hashlib
import importlib.util
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, settings

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.toml"))

settings.register_profile(
    "ci", max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True,
)
settings.register_profile("dev", max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


def run_cli(*args: str, cwd: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run `python -m derive.cli ARGS` the way a user runs `derive ARGS`."""
    return subprocess.run(
        [sys.executable, "-m", "derive.cli", *args],
        capture_output=True, text=True, cwd=cwd or ROOT, timeout=timeout, check=False,
    )


_MODULES = tempfile.TemporaryDirectory(prefix="generated-modules-")


def import_source(source: str):
    """A generated module's source, written to a file named by its hash and imported (not into sys.modules)."""
    path = Path(_MODULES.name) / f"m{hashlib.sha256(source.encode()).hexdigest()[:16]}.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
