"""Identities, roles and the one rule table: who may enter, and what each role may do.

Three ways in, decided by what is configured (`Mode`): OIDC sign-in (`[auth]` in secrets.toml), the
shared password, or neither — then only a browser on this machine (127.0.0.1) gets in, as admin,
which is how the dashboard has always behaved locally. The REST API keeps bearer tokens, each with a
name (the audit's "who") and a role.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Source(StrEnum):
    """How the person (or program) was recognised; every audit row carries it."""

    OIDC = "oidc"
    PASSWORD = "password"
    LOCAL = "local"
    API_TOKEN = "api-token"


class Mode(StrEnum):
    """What guards the dashboard, from the configuration."""

    OIDC = "oidc"
    PASSWORD = "password"
    LOCAL = "local"  # neither: loopback only, with a banner saying there is no access control


class Role(StrEnum):
    ADMIN = "admin"
    VIEWER = "viewer"


class Action(StrEnum):
    """What a person does; permissions and audit rows use the same names."""

    VIEW = "view"
    OPEN_LINK = "open_link"
    IMPORT = "import"
    EXPORT = "export"
    ANALYZE = "analyze"
    REANALYZE = "reanalyze"
    BATCH = "batch"
    DELETE = "delete"
    PIN = "pin"
    VIEW_AUDIT = "view_audit"
    # Events: recorded in the audit log, never refused by role.
    SIGN_IN = "sign_in"
    SIGN_OUT = "sign_out"
    REFUSED = "refused"
    PURGE = "purge"


# Spending money (LLM calls), destroying data, and reading who did what are for admins; everything
# else a signed-in viewer may do, so a share link opened by a viewer shows its view.
ADMIN_ONLY: frozenset[Action] = frozenset(
    {Action.ANALYZE, Action.REANALYZE, Action.BATCH, Action.DELETE, Action.PIN, Action.VIEW_AUDIT}
)


def _email(value: str) -> str:
    return value.strip().lower()


def _domain_of(email: str) -> str:
    """The part after the last '@', lower case; '' when there is no '@' or nothing around it."""
    local, at, domain = _email(email).rpartition("@")
    return domain if at and local and domain else ""


def is_loopback(address: str | None) -> bool:
    """127.0.0.0/8 or ::1 (also IPv4-mapped); anything unparsable is not loopback."""
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address.strip().strip("[]"))
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


@dataclass(frozen=True)
class Identity:
    """Who is asking. `email` is the key for OIDC; `name` is a display name or an API token's name."""

    source: Source
    email: str = ""
    name: str = ""
    groups: frozenset[str] = frozenset()
    email_verified: bool | None = None
    address: str = ""  # the client address, when the face knows it (loopback check, audit)

    @classmethod
    def from_claims(
        cls, claims: Mapping[str, Any], *, group_claim: str = "groups", address: str = ""
    ) -> Identity:
        """From an OIDC user (`st.user`): `email`, `name`, `email_verified` and the group claim.

        The group claim may be a list or one string (providers differ); other types are ignored.
        """
        raw_groups = claims.get(group_claim) if group_claim else None
        if isinstance(raw_groups, str):
            groups = frozenset({raw_groups})
        elif isinstance(raw_groups, list | tuple | set | frozenset):
            groups = frozenset(str(g) for g in raw_groups if isinstance(g, str | int))
        else:
            groups = frozenset()
        verified = claims.get("email_verified")
        return cls(
            source=Source.OIDC,
            email=str(claims.get("email") or ""),
            name=str(claims.get("name") or ""),
            groups=groups,
            email_verified=verified if isinstance(verified, bool) else None,
            address=address,
        )

    @classmethod
    def local(cls, address: str) -> Identity:
        return cls(source=Source.LOCAL, name="local", address=address)

    @classmethod
    def password(cls, address: str = "") -> Identity:
        return cls(source=Source.PASSWORD, name="shared password", address=address)

    @property
    def who(self) -> str:
        """The audit's "who": the e-mail address, `token:<name>`, `password` or `local`."""
        if self.source is Source.OIDC:
            return _email(self.email)
        if self.source is Source.API_TOKEN:
            return f"token:{self.name}"
        return self.source.value


@dataclass(frozen=True)
class ApiToken:
    """A REST API token as configured: its name, the SHA-256 of the token (never the token), a role."""

    name: str
    sha256: str
    role: Role

    def matches(self, presented: str) -> bool:
        digest = hashlib.sha256(presented.encode("utf-8")).hexdigest()
        return hmac.compare_digest(digest, self.sha256.lower())


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str

    def __bool__(self) -> bool:
        return self.allowed


@dataclass(frozen=True)
class Policy:
    """The rules as configured. Addresses and domains are kept lower case."""

    mode: Mode
    allowed_emails: frozenset[str] = frozenset()
    allowed_domains: frozenset[str] = frozenset()
    admin_emails: frozenset[str] = frozenset()
    admin_group_claim: str = "groups"
    admin_group: str | None = None
    api_tokens: tuple[ApiToken, ...] = field(default=())

    @classmethod
    def build(
        cls,
        mode: Mode,
        *,
        allowed_emails: Iterable[str] = (),
        allowed_domains: Iterable[str] = (),
        admin_emails: Iterable[str] = (),
        admin_group_claim: str = "groups",
        admin_group: str | None = None,
        api_tokens: Iterable[ApiToken] = (),
    ) -> Policy:
        return cls(
            mode=mode,
            allowed_emails=frozenset(_email(e) for e in allowed_emails if e.strip()),
            allowed_domains=frozenset(d.strip().lower().lstrip("@") for d in allowed_domains if d.strip()),
            admin_emails=frozenset(_email(e) for e in admin_emails if e.strip()),
            admin_group_claim=admin_group_claim,
            admin_group=admin_group or None,
            api_tokens=tuple(api_tokens),
        )

    @classmethod
    def from_settings(cls, settings: Any, *, oidc_configured: bool) -> Policy:
        """From `chatkit.settings.Settings`; whether `[auth]` exists is known only to the web face."""
        if oidc_configured:
            mode = Mode.OIDC
        elif settings.password_hash() is not None:
            mode = Mode.PASSWORD
        else:
            mode = Mode.LOCAL
        return cls.build(
            mode,
            allowed_emails=settings.auth_allowed_emails,
            allowed_domains=settings.auth_allowed_domains,
            admin_emails=settings.auth_admin_emails,
            admin_group_claim=settings.auth_admin_group_claim,
            admin_group=settings.auth_admin_group,
            api_tokens=settings.api_tokens(),
        )

    def is_admin_email(self, email: str) -> bool:
        return _email(email) in self.admin_emails

    def in_admin_group(self, identity: Identity) -> bool:
        return self.admin_group is not None and self.admin_group in identity.groups


def allowed(identity: Identity, policy: Policy) -> Decision:
    """May this identity enter at all? The reason is shown on the "not allowed" page and audited."""
    match identity.source:
        case Source.LOCAL:
            if policy.mode is not Mode.LOCAL:
                return Decision(False, f"sign-in is required ({policy.mode.value})")
            if not is_loopback(identity.address):
                return Decision(
                    False, "without sign-in or a password, only this machine (127.0.0.1) may connect"
                )
            return Decision(True, "local use on 127.0.0.1, no access control configured")
        case Source.PASSWORD:
            if policy.mode is not Mode.PASSWORD:
                return Decision(False, "the shared password is not in use here")
            return Decision(True, "shared password")
        case Source.API_TOKEN:
            if any(t.name == identity.name for t in policy.api_tokens):
                return Decision(True, f"API token {identity.name!r}")
            return Decision(False, "unknown API token")
        case Source.OIDC:
            if policy.mode is not Mode.OIDC:
                return Decision(False, "sign-in with the identity provider is not configured")
            email = _email(identity.email)
            if not _domain_of(email):
                return Decision(False, "the identity provider sent no usable e-mail address")
            if identity.email_verified is False:
                # A provider that lets people type any address must not let them type an allowed one.
                return Decision(False, f"{email} is not verified by the identity provider")
            if policy.is_admin_email(email) or policy.in_admin_group(identity):
                return Decision(True, f"{email} is an admin")
            if email in policy.allowed_emails:
                return Decision(True, f"{email} is on the allow-list")
            # Exact match on the part after '@': evil-example.com and example.com.evil are not example.com.
            if _domain_of(email) in policy.allowed_domains:
                return Decision(True, f"{_domain_of(email)} is an allowed domain")
            return Decision(False, f"{email} is not on this dashboard's allow-list")
    return Decision(False, "unknown identity source")  # pragma: no cover - exhaustive above


def role_of(identity: Identity, policy: Policy) -> Role:
    """The role of an identity that `allowed` let in (an outsider gets no more than viewer)."""
    match identity.source:
        case Source.LOCAL | Source.PASSWORD:
            # One shared secret (or none) names no one: it is today's single all-powerful user.
            return Role.ADMIN if allowed(identity, policy) else Role.VIEWER
        case Source.API_TOKEN:
            for token in policy.api_tokens:
                if token.name == identity.name:
                    return token.role
            return Role.VIEWER
        case Source.OIDC:
            if allowed(identity, policy) and (
                policy.is_admin_email(identity.email) or policy.in_admin_group(identity)
            ):
                return Role.ADMIN
            return Role.VIEWER
    return Role.VIEWER  # pragma: no cover - exhaustive above


def may(role: Role, action: Action) -> bool:
    return role is Role.ADMIN or action not in ADMIN_ONLY


class AccessDenied(Exception):
    """Refused: `who`, `action` and `reason` go to the audit log; the message is safe to show."""

    def __init__(self, identity: Identity, action: Action, reason: str) -> None:
        self.identity = identity
        self.who = identity.who
        self.action = action
        self.reason = reason
        super().__init__(f"{action.value} refused for {identity.who or 'an unknown user'}: {reason}")


def require(identity: Identity, action: Action, policy: Policy) -> Role:
    """The identity's role when it may do `action`; else `AccessDenied`. Faces call this, not pages."""
    decision = allowed(identity, policy)
    if not decision:
        raise AccessDenied(identity, action, decision.reason)
    role = role_of(identity, policy)
    if not may(role, action):
        raise AccessDenied(identity, action, f"only admins may {action.value.replace('_', ' ')}")
    return role


def token_identity(presented: str | None, policy: Policy) -> Identity | None:
    """The identity of a presented bearer token, or None. Every configured token is compared (in
    constant time) so the answer's timing does not tell which name was close."""
    if not presented:
        return None
    found: ApiToken | None = None
    for token in policy.api_tokens:
        if token.matches(presented) and found is None:
            found = token
    return Identity(source=Source.API_TOKEN, name=found.name) if found else None
