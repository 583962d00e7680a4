"""Alerts: summaries and the output formats of alerts (table, JSON lines, CSV)."""
