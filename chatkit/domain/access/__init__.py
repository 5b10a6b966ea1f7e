"""Who may enter and what they may do: identities, two roles, the password fallback, the throttle.

Pure and typed: the faces (web, api, cli) build an `Identity` from what they know (OIDC claims, a
checked password, a bearer token, a loopback address) and ask these functions; no page decides a role
itself. Nothing here imports Streamlit or FastAPI.
"""

from chatkit.domain.access.password import hash_password, is_password_hash, verify_password
from chatkit.domain.access.policy import (
    ADMIN_ONLY,
    AccessDenied,
    Action,
    ApiToken,
    Decision,
    Identity,
    Mode,
    Policy,
    Role,
    Source,
    allowed,
    is_loopback,
    may,
    require,
    role_of,
    token_identity,
)
from chatkit.domain.access.return_to import ReturnLinks
from chatkit.domain.access.throttle import Throttle

__all__ = [
    "ADMIN_ONLY",
    "AccessDenied",
    "Action",
    "ApiToken",
    "Decision",
    "Identity",
    "Mode",
    "Policy",
    "ReturnLinks",
    "Role",
    "Source",
    "Throttle",
    "allowed",
    "hash_password",
    "is_loopback",
    "is_password_hash",
    "may",
    "require",
    "role_of",
    "token_identity",
    "verify_password",
]
