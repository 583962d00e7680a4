"""The service's threads as the OS sees them: the maintenance thread at a lower CPU priority
than detection (and only it), each named so that ``top -H`` and the benchmarks tell them apart."""

from __future__ import annotations

import os
import sys
import threading

import pytest

from hygie.pipeline import service


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice values are Linux's")
def test_the_maintenance_thread_alone_yields_the_cpu() -> None:
    before = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    seen: list[int] = []

    def maintenance() -> None:
        service._yield_cpu_to_detection()
        seen.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))

    thread = threading.Thread(target=maintenance)
    thread.start()
    thread.join(10)
    assert seen == [max(before, service.BACKGROUND_NICE)]
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == before  # detection's


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="thread names in /proc are Linux's")
def test_threads_are_named_in_the_os() -> None:
    seen: list[str] = []

    def detection() -> None:
        service.name_os_thread("hygie-detect-and-more")
        seen.append(open(f"/proc/self/task/{threading.get_native_id()}/comm").read().strip())

    thread = threading.Thread(target=detection)
    thread.start()
    thread.join(10)
    assert seen == ["hygie-detect-an"]  # the kernel keeps 15 characters
    assert open(f"/proc/self/task/{threading.get_native_id()}/comm").read().strip() != "hygie-detect-an"
