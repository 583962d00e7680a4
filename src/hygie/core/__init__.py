"""Shared types every stage may use: events, alerts, errors that point at their input."""
