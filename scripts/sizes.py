#!/usr/bin/env python3
"""The size gate: no module over 400 lines, no class over 300 (migrations and benchmarks aside).

Why a gate and not a habit: a module that grows past a screenful of screens stops having one
reason to change, and the next fix lands in the wrong half of it. Prints each offender and exits
1 if there is any.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAX_MODULE = 400
MAX_CLASS = 300
SKIP_DIRS = {".venv", "node_modules", "var", "test-artifacts", "bench", "migrations", ".git"}


def offenders(root: Path = ROOT) -> list[str]:
    """Every module and class over its limit, as 'path: what (n lines)'."""
    found: list[str] = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        if SKIP_DIRS.intersection(rel.parts):
            continue
        text = path.read_text(encoding="utf-8")
        lines = len(text.splitlines())
        if lines > MAX_MODULE:
            found.append(f"{rel}: module ({lines} lines > {MAX_MODULE})")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ClassDef) and node.end_lineno is not None:
                size = node.end_lineno - node.lineno + 1
                if size > MAX_CLASS:
                    found.append(f"{rel}:{node.lineno}: class {node.name} ({size} lines > {MAX_CLASS})")
    return found


def main() -> int:
    found = offenders()
    for line in found:
        print(line)
    print(f"sizes: {len(found)} over the limits (module {MAX_MODULE}, class {MAX_CLASS} lines)")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
