"""Where a share link pointed before sign-in, so the view opens right after it.

Streamlit's OIDC callback (`/oauth2callback`) always redirects to the app's root: the page path and
the query parameters of the link that started `st.login()` are gone when the browser comes back
(tests/web/oidc shows it). The web face therefore keeps the link here, keyed by something the browser
still carries after the round trip (a hash of Streamlit's XSRF cookie token), and takes it back
once — single use, short-lived, bounded, so the map can neither grow without end nor replay.
The link is kept as data (page path + query pairs); the face re-validates it like any other URL.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

MAX_PAIRS = 50
MAX_VALUE_CHARS = 500


@dataclass(frozen=True)
class ReturnLink:
    page: str  # a page's url_path, '' for the default page
    params: tuple[tuple[str, str], ...]  # query pairs in order; a key may repeat (filters)

    def as_dict(self) -> dict[str, list[str]]:
        grouped: dict[str, list[str]] = {}
        for key, value in self.params:
            grouped.setdefault(key, []).append(value)
        return grouped


class ReturnLinks:
    def __init__(
        self, *, ttl_s: float = 600.0, max_entries: int = 10_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._ttl, self._max, self._clock = ttl_s, max_entries, clock
        self._entries: OrderedDict[str, tuple[float, ReturnLink]] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, key: str, page: str, params: Mapping[str, str | Sequence[str]]) -> ReturnLink:
        pairs: list[tuple[str, str]] = []
        for name, values in params.items():
            for value in [values] if isinstance(values, str) else values:
                pairs.append((str(name)[:MAX_VALUE_CHARS], str(value)[:MAX_VALUE_CHARS]))
        link = ReturnLink(page.strip("/")[:MAX_VALUE_CHARS], tuple(pairs[:MAX_PAIRS]))
        with self._lock:
            self._entries[key] = (self._clock() + self._ttl, link)
            self._entries.move_to_end(key)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)
        return link

    def take(self, key: str) -> ReturnLink | None:
        """The link kept for `key`, once; None when there is none or it expired."""
        with self._lock:
            found = self._entries.pop(key, None)
        if found is None or found[0] < self._clock():
            return None
        return found[1]
