"""Detect: Sigma rules (loaded with pySigma, compiled across rules) and Hygie's own packs."""
