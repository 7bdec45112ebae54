"""Theory checks: one module per claim of docs/theory, ``python -m
theory_checks.<name> [--quick]``; each prints a PASS/FAIL table and writes
``theory_checks/reports/<name>.md`` plus PNGs. See README.md."""
