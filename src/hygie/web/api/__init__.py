"""REST API ``/api/v1``: everything the console does, one router per domain."""
