"""Threat intelligence: indicators in (MISP, STIX 2.1, TAXII 2.1, lists), matched against every
event in the pipeline, sightings shared between tenants, cases' observables out, and the known
exploited vulnerabilities of each hospital's assets."""
