"""Theory checks: one module per claim of THEORY.md sections 4-7, ``python -m
theory_checks.<name> [--quick]``; each prints a PASS/FAIL table and writes
``theory_checks/reports/<name>.md`` plus PNGs. See README.md."""
