"""How often one client may make the server keep something (a reader's judgement): a sliding window
of its last uses, per client, bounded in memory.

Written here rather than taken from pyrate-limiter: its buckets are shared by every key unless a
factory makes one per client, and forgetting idle clients then needs its background leak thread;
a window of timestamps in a bounded ordered dict is the whole of what this needs.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque

from assistant.operator.sessions import MAX_CLIENTS


class RateLimit:
    """At most `uses` uses by one client in any `window` seconds."""

    def __init__(self, uses: int, window: float = 60.0, max_clients: int = MAX_CLIENTS):
        self.uses, self.window, self.max_clients = uses, window, max_clients
        self._clients: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, client: str) -> float:
        """Count one use by `client` and return 0, or, when it has had its `uses` in the window,
        count nothing and return the seconds until it may go on."""
        now = time.monotonic()
        with self._lock:
            used = self._clients.pop(client, None) or deque()
            while used and used[0] <= now - self.window:
                used.popleft()
            wait = used[0] + self.window - now if len(used) >= self.uses else 0.0
            if not wait:
                used.append(now)
            self._clients[client] = used  # the most recent client last: the least recent is forgotten first
            while len(self._clients) > self.max_clients:
                self._clients.popitem(last=False)
            return wait
