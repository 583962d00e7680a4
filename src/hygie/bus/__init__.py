"""How records travel from the collectors to detection: a local spool, or NATS JetStream."""
