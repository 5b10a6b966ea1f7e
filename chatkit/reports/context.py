"""What one analysis run shares (pseudonyms, what-if quotes), and sessions coerced from any input."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from chatkit.domain.lifecycle import merge_lifecycle
from chatkit.domain.models import Category, ChatKitSession, Diagnosis
from chatkit.llm.pseudonyms import Pseudonymizer

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Context", "coerce", "coerce_all"]

log = logging.getLogger(__name__)


class Context:
    """What one analysis run shares: pseudonyms of its data set and its what-if numbers.

    The quotes come from chatkit.analytics.whatif per workflow (None: the whole data set), each computed on first
    use: a single session needs one scope, a summary only the data set's, a cache hit none.
    """

    def __init__(
        self, pseudo: Pseudonymizer, sessions: Sequence[ChatKitSession], diagnoses: Sequence[Diagnosis]
    ) -> None:
        self.pseudo = pseudo
        self._sessions = sessions
        self._diagnoses = diagnoses
        self._ended = {
            s.workflow_id for s, d in zip(sessions, diagnoses, strict=True) if d.category != Category.active
        }
        self._frame: pd.DataFrame | None = None
        self._quotes: dict[str | None, list[str]] = {}

    def quotes(self, workflow: str | None = None) -> list[str]:
        """Prevention numbers for `workflow`'s sessions, or the data set's; none for a workflow whose
        sessions are all still active."""
        if workflow is not None and workflow not in self._ended:
            return []
        if workflow not in self._quotes:
            # Imported here: pandas costs seconds at start-up and `import chatkit.reports.analyzer` should not pay it.
            from chatkit.analytics.frame import sessions_frame
            from chatkit.analytics.whatif import prevention_quotes

            if self._frame is None:
                self._frame = sessions_frame(self._sessions, self._diagnoses)
            self._quotes[workflow] = list(prevention_quotes(self._frame, workflow=workflow))
        return self._quotes[workflow]

    def quotes_for(self, session: ChatKitSession) -> list[str]:
        return self.quotes(session.workflow_id or None)

    def warm(self) -> None:
        """Compute every scope's quotes now (in a thread, before a batch starts its requests)."""
        for workflow in {s.workflow_id or None for s in self._sessions}:
            self.quotes(workflow)


def coerce(session: ChatKitSession | Mapping[str, Any]) -> ChatKitSession:
    if isinstance(session, ChatKitSession):
        return session
    if isinstance(session, Mapping):
        inner = session.get("session")
        data: Mapping[str, Any] = inner if isinstance(inner, Mapping) else session
        return ChatKitSession.model_validate(dict(data))
    raise TypeError(f"expected a ChatKitSession or a mapping, got {type(session).__name__}")


def coerce_all(sessions: Iterable[ChatKitSession | Mapping[str, Any]]) -> list[ChatKitSession]:
    """Sessions, one per id: records sharing an id (a create response, then its cancel response) are
    one session's lifecycle, merged as the importers merge them, so it is never counted twice."""
    items = [coerce(s) for s in sessions]
    counts = Counter(s.id for s in items)
    if len(counts) == len(items):
        return items  # the common case: untouched, so cache keys stay those of `analyze`
    merged, conflicts = merge_lifecycle(items)
    for issue in conflicts:
        log.warning("%s", issue)
    single = {s.id: s for s in items if counts[s.id] == 1}
    return [single.get(s.id, s) for s in merged]
