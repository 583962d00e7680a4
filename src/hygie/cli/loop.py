"""The event loop of the long-running commands (``hygie serve``, ``hygie worker``).

uvloop (libuv, in C) where it is installed: the collectors' sockets and the HTTP server's
reads cost the service less under the interpreter lock that detection needs (measured with
``benchmarks/serve.py``: 15,800 -> 16,600-16,900 records/s). Elsewhere (Windows has no
uvloop) Python's own loop, with the same behaviour.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run(main: Coroutine[Any, Any, T]) -> T:
    """Run ``main`` to completion on a new event loop, as ``asyncio.run`` does."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - a platform without uvloop
        return asyncio.run(main)
    return uvloop.run(main)
