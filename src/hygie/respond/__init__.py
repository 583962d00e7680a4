"""Respond: what analysts do about alerts (cases now; playbooks and connectors later)."""
