"""The console and REST API (a face: it calls the stages and stores, no stage imports it)."""
