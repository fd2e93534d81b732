"""Shared test set-up: hypothesis profiles and small helpers.

HYPOTHESIS_PROFILE=ci (what `make test` and CI use) runs enough examples to matter; the default
"dev" profile runs a few, for quick local runs.
"""

import os
import subprocess
import sys
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
