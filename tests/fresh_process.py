"""What a fresh Python process imports: start-up weight is checked, never assumed."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence


def imported_by(code: str, modules: Sequence[str]) -> list[str]:
    """Which of ``modules`` a new interpreter has in ``sys.modules`` after running ``code``."""
    probe = (
        f"{code}\nimport json, sys\n"
        f"print(json.dumps(sorted(m for m in {list(modules)!r} if m in sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return list(json.loads(out.stdout.strip().splitlines()[-1]))
