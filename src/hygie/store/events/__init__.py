"""The event store: every parsed event, for search and hunting (Parquet files read by DuckDB)."""

from hygie.store.events.parquet_store import CompactionReport, EventStore, StoredEvent
from hygie.store.events.query import QueryError, compile_query, parse_query
from hygie.store.events.retention import RemovedPartition, RetentionReport

__all__ = ["CompactionReport", "EventStore", "QueryError", "RemovedPartition",
           "RetentionReport", "StoredEvent", "compile_query", "parse_query"]
