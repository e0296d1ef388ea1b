"""`neuronbench.memory.release_memory`: freed heap pages go back to the system."""

import numpy as np
import pytest

from neuronbench.memory import malloc_trim, release_memory


def _rss_anon_mb() -> float:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("RssAnon")) / 1024


@pytest.mark.skipif(malloc_trim() is None, reason="malloc_trim is glibc's")
def test_freed_fragmented_heap_is_returned():
    # 100 KiB blocks sit below glibc's mmap threshold, so they come from the heap; keeping
    # every 8th alive leaves holes that glibc's automatic trim (top of the heap only) cannot give back
    blocks = [np.ones(100 * 1024 // 8) for _ in range(4000)]
    kept = blocks[::8]
    del blocks
    before = _rss_anon_mb()
    release_memory()
    after = _rss_anon_mb()
    assert before - after > 200, (before, after)  # ~340 of the ~390 MB freed are whole pages
    assert all(float(b[0]) == 1.0 for b in kept)  # what is still in use is untouched
