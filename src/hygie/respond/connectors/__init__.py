"""Connectors: what a playbook's ``x-hygie-action`` commands act through (see ``registry``)."""
