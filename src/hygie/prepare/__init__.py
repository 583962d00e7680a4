"""Prepare: self-assessment against published frameworks, evidence from Hygie's telemetry,
scores, a costed roadmap and continuity KPIs.

Frameworks, the cost model, the telemetry checks and the KPI definitions are data files (YAML)
beside this package, so a regional agency or a hospital can add or adjust them without code.
This stage reads the stores (``hygie.store``) and writes only its own tables."""
