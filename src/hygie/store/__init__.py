"""Where results live: ``state`` (tenants, tokens, alerts, quarantine; SQLAlchemy)."""
