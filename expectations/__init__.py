"""Data quality gates built on Great Expectations: one suite per stage boundary.

`context` opens the run's GX project, `gate` runs a stage's suites and fails the date on
a broken expectation, and one module per stage (`landing`, `attribution`) builds its
suites from the rules they guard (docs/quality.md).
"""
