"""The campaign report for analysts: one self-contained HTML page of charts read from the
marts, its headline numbers through the MetricFlow metrics (docs/analysts.md)."""
