"""The web face's tests set who is signed in through `chatkit.web.identity` (AppTest has no st.user)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from chatkit.web import identity


@pytest.fixture(autouse=True)
def test_identities() -> Iterator[None]:
    """AppTest sessions come from 127.0.0.1 and may carry an Identity in session state."""
    identity.use_test_identities(True)
    yield
    identity.use_test_identities(False)
