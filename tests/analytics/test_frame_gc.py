"""Building the facts frame leaves the garbage collector on for every other thread of the process."""

from __future__ import annotations

from support.process_state import gc_states_while

from chatkit.analytics.frame import sessions_frame
from chatkit.domain.rules import diagnose_all
from chatkit.domain.sample import sample_sessions


def test_the_garbage_collector_stays_on_while_a_frame_builds() -> None:
    sessions = sample_sessions(3000)
    diagnoses = diagnose_all(sessions)
    frame, states = gc_states_while(lambda: sessions_frame(sessions, diagnoses))
    assert len(frame) == 3000
    assert states == {True}
