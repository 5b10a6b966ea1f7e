"""chatkit.domain.access: who may enter, what each role may do, the password hash and the throttle."""

from __future__ import annotations

import hashlib

import pytest

from chatkit.domain.access import (
    ADMIN_ONLY,
    AccessDenied,
    Action,
    ApiToken,
    Identity,
    Mode,
    Policy,
    ReturnLinks,
    Role,
    Source,
    Throttle,
    allowed,
    hash_password,
    is_loopback,
    is_password_hash,
    may,
    require,
    role_of,
    token_identity,
    verify_password,
)
from chatkit.settings import Settings

# Fast scrypt parameters for tests that only need *a* hash; the defaults are checked once below.
FAST = {"log2_n": 4, "r": 1, "p": 1}


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def oidc(email: str, **claims: object) -> Identity:
    return Identity.from_claims({"email": email, "name": email.split("@")[0], **claims})


@pytest.fixture
def policy() -> Policy:
    return Policy.build(
        Mode.OIDC,
        allowed_emails=["Carol@Partner.org"],
        allowed_domains=["example.com"],
        admin_emails=["Admin@Example.com"],
        admin_group="chatkit-admins",
    )


# ---- who may enter ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("email", "expected"),
    [
        ("alice@example.com", True),
        ("ALICE@EXAMPLE.COM", True),  # case-insensitive
        ("carol@partner.org", True),  # on the address allow-list
        ("CAROL@partner.ORG", True),
        ("dave@partner.org", False),  # same domain as an allowed address, but not allowed itself
        ("mallory@evil-example.com", False),  # no suffix tricks
        ("mallory@example.com.evil.net", False),
        ("mallory@sub.example.com", False),  # exact domain, not subdomains
        ("example.com", False),  # no '@'
        ("@example.com", False),
        ("mallory@evil.net@example.com ", True),  # the domain is after the last '@'
        ("mallory@example.com@evil.net", False),
        ("", False),
    ],
)
def test_the_allow_list_matches_addresses_and_exact_domains(
    policy: Policy, email: str, expected: bool
) -> None:
    decision = allowed(oidc(email), policy)
    assert decision.allowed is expected, decision.reason
    assert bool(decision) is expected


def test_a_refusal_says_why_in_words(policy: Policy) -> None:
    decision = allowed(oidc("mallory@evil-example.com"), policy)
    assert decision.reason == "mallory@evil-example.com is not on this dashboard's allow-list"
    assert "no usable e-mail" in allowed(Identity.from_claims({"name": "No Mail"}), policy).reason


def test_an_unverified_address_is_refused_even_when_allowed(policy: Policy) -> None:
    assert not allowed(oidc("alice@example.com", email_verified=False), policy)
    assert allowed(oidc("alice@example.com", email_verified=True), policy)
    assert "not verified" in allowed(oidc("admin@example.com", email_verified=False), policy).reason


def test_admins_are_allowed_without_being_on_the_allow_list() -> None:
    only_admins = Policy.build(Mode.OIDC, admin_emails=["boss@corp.io"], admin_group="ops")
    assert allowed(oidc("boss@corp.io"), only_admins)
    assert allowed(oidc("someone@corp.io", groups=["ops"]), only_admins)
    # No allow-list: nobody else gets in (an IdP that knows the whole internet lets no one past).
    assert not allowed(oidc("someone@corp.io"), only_admins)


def test_oidc_identities_are_refused_when_sign_in_is_not_the_mode(policy: Policy) -> None:
    for mode in (Mode.PASSWORD, Mode.LOCAL):
        assert not allowed(oidc("admin@example.com"), Policy.build(mode, admin_emails=["admin@example.com"]))


# ---- roles ---------------------------------------------------------------------------------------


def test_roles_come_from_admin_addresses_or_the_group_claim(policy: Policy) -> None:
    assert role_of(oidc("ADMIN@example.com"), policy) is Role.ADMIN
    assert role_of(oidc("alice@example.com"), policy) is Role.VIEWER
    assert role_of(oidc("alice@example.com", groups=["staff", "chatkit-admins"]), policy) is Role.ADMIN
    assert role_of(oidc("alice@example.com", groups="chatkit-admins"), policy) is Role.ADMIN  # one string
    assert role_of(oidc("alice@example.com", groups=["chatkit-admins-not"]), policy) is Role.VIEWER
    # An admin address that may not enter (unverified) is no admin.
    assert role_of(oidc("admin@example.com", email_verified=False), policy) is Role.VIEWER


def test_the_group_claim_name_is_configurable() -> None:
    identity = Identity.from_claims({"email": "a@example.com", "roles": ["ck-admin"]}, group_claim="roles")
    p = Policy.build(
        Mode.OIDC, allowed_domains=["example.com"], admin_group_claim="roles", admin_group="ck-admin"
    )
    assert identity.groups == frozenset({"ck-admin"}) and role_of(identity, p) is Role.ADMIN
    # Without AUTH_ADMIN_GROUP nobody is admin through a group, whatever the claim holds.
    assert role_of(identity, Policy.build(Mode.OIDC, allowed_domains=["example.com"])) is Role.VIEWER


def test_viewers_import_read_and_open_links_admins_do_everything() -> None:
    viewer_may = {a for a in Action if may(Role.VIEWER, a)}
    assert {Action.IMPORT, Action.VIEW, Action.OPEN_LINK, Action.EXPORT} <= viewer_may
    assert viewer_may.isdisjoint(
        {Action.ANALYZE, Action.REANALYZE, Action.BATCH, Action.DELETE, Action.VIEW_AUDIT}
    )
    assert all(may(Role.ADMIN, a) for a in Action)
    assert viewer_may == set(Action) - ADMIN_ONLY


def test_require_raises_a_typed_refusal_with_who_and_why(policy: Policy) -> None:
    assert require(oidc("alice@example.com"), Action.IMPORT, policy) is Role.VIEWER
    assert require(oidc("admin@example.com"), Action.DELETE, policy) is Role.ADMIN
    with pytest.raises(AccessDenied) as refused:
        require(oidc("alice@example.com"), Action.ANALYZE, policy)
    assert (refused.value.who, refused.value.action) == ("alice@example.com", Action.ANALYZE)
    assert refused.value.reason == "only admins may analyze"
    assert str(refused.value) == "analyze refused for alice@example.com: only admins may analyze"
    with pytest.raises(AccessDenied, match="not on this dashboard's allow-list"):
        require(oidc("eve@evil-example.com"), Action.VIEW, policy)


def test_local_use_is_admin_on_loopback_only() -> None:
    local = Policy.build(Mode.LOCAL)
    for address in ("127.0.0.1", "127.8.9.1", "::1", "[::1]", "::ffff:127.0.0.1"):
        assert allowed(Identity.local(address), local), address
        assert require(Identity.local(address), Action.DELETE, local) is Role.ADMIN
    for address in ("10.0.0.5", "192.168.1.2", "0.0.0.0", "::", "localhost.evil.net", "", "::ffff:10.0.0.1"):
        assert not allowed(Identity.local(address), local), address
        assert role_of(Identity.local(address), local) is Role.VIEWER
    # Once sign-in or a password is configured, "local" means nothing.
    assert not allowed(Identity.local("127.0.0.1"), Policy.build(Mode.PASSWORD))
    assert not allowed(Identity.local("127.0.0.1"), Policy.build(Mode.OIDC))


def test_is_loopback_refuses_what_it_cannot_parse() -> None:
    assert is_loopback("127.0.0.1") and is_loopback(" ::1 ")
    assert not any(is_loopback(a) for a in (None, "", "localhost", "127.0.0.1.evil", "1.2.3.4"))


def test_the_shared_password_is_one_admin_in_password_mode_only() -> None:
    assert require(Identity.password(), Action.BATCH, Policy.build(Mode.PASSWORD)) is Role.ADMIN
    assert not allowed(Identity.password(), Policy.build(Mode.OIDC))
    assert Identity.password().who == "password" and Identity.local("127.0.0.1").who == "local"


# ---- API tokens ------------------------------------------------------------------------------


def test_api_tokens_map_to_a_named_identity_and_a_role() -> None:
    def sha(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()

    p = Policy.build(
        Mode.OIDC,
        api_tokens=[
            ApiToken("ci", sha("ci-token-0123456789"), Role.VIEWER),
            ApiToken("ops", sha("ops-token-0123456789").upper(), Role.ADMIN),
        ],
    )
    ci = token_identity("ci-token-0123456789", p)
    assert ci == Identity(source=Source.API_TOKEN, name="ci") and ci.who == "token:ci"
    assert require(ci, Action.IMPORT, p) is Role.VIEWER
    with pytest.raises(AccessDenied, match="only admins may batch"):
        require(ci, Action.BATCH, p)
    ops = token_identity("ops-token-0123456789", p)
    assert ops is not None and require(ops, Action.BATCH, p) is Role.ADMIN
    assert token_identity("ci-token-012345678", p) is None and token_identity("", p) is None
    assert token_identity(None, p) is None
    # A token name that is not configured (e.g. removed since) is refused.
    assert not allowed(Identity(source=Source.API_TOKEN, name="gone"), p)


# ---- Policy from Settings ------------------------------------------------------------------------


def test_the_policy_is_built_from_settings() -> None:
    settings = Settings(
        _env_file=None,
        auth_allowed_emails="Carol@Partner.org; x@y.org",
        auth_allowed_domains='["Example.com"]',
        auth_admin_emails=["admin@example.com"],
        auth_admin_group="ck-admins",
        analytics_api_tokens={"ci": {"token": "ci-token-0123456789", "role": "viewer"}},
        analytics_api_token="legacy-token-0123456789",
    )
    p = Policy.from_settings(settings, oidc_configured=True)
    assert p.mode is Mode.OIDC
    assert p.allowed_emails == {"carol@partner.org", "x@y.org"} and p.allowed_domains == {"example.com"}
    assert role_of(oidc("alice@example.com", groups=["ck-admins"]), p) is Role.ADMIN
    assert (token_identity("ci-token-0123456789", p) or Identity(Source.LOCAL)).name == "ci"
    legacy = token_identity("legacy-token-0123456789", p)
    assert legacy is not None and role_of(legacy, p) is Role.ADMIN and legacy.name == "default"

    assert Policy.from_settings(Settings(_env_file=None), oidc_configured=False).mode is Mode.LOCAL
    password = Settings(_env_file=None, dashboard_password="correct horse")
    assert Policy.from_settings(password, oidc_configured=False).mode is Mode.PASSWORD
    assert Policy.from_settings(password, oidc_configured=True).mode is Mode.OIDC  # [auth] wins


# ---- the password hash ---------------------------------------------------------------------------


def test_a_password_hash_verifies_only_its_password() -> None:
    encoded = hash_password("correct horse battery staple")  # the real default cost, once
    assert encoded.startswith("$scrypt$ln=14,r=8,p=1$") and is_password_hash(encoded)
    assert "correct horse" not in encoded
    assert verify_password("correct horse battery staple", encoded)
    assert not verify_password("correct horse battery stapl", encoded)
    assert not verify_password("", encoded)


def test_each_hash_has_its_own_salt_and_a_given_salt_is_deterministic() -> None:
    one, two = hash_password("pw", **FAST), hash_password("pw", **FAST)
    assert one != two and verify_password("pw", one) and verify_password("pw", two)
    salt = b"0123456789abcdef"
    assert hash_password("pw", salt=salt, **FAST) == hash_password("pw", salt=salt, **FAST)


@pytest.mark.parametrize(
    "encoded",
    [
        "",
        "pa55",
        "$scrypt$ln=14,r=8,p=1$c2FsdA$aGFzaA",  # too short to be ours
        "$scrypt$ln=40,r=8,p=1$MDEyMzQ1Njc4OWFiY2RlZg$" + "A" * 43,  # a cost that would eat the machine
        "$pbkdf2-sha256$i=1000$MDEyMzQ1Njc4OWFiY2RlZg$" + "A" * 43,
        "$scrypt$ln=4,r=1,p=1$MDEyMzQ1Njc4OWFiY2RlZg$" + "*" * 43,
    ],
)
def test_a_malformed_hash_verifies_nothing(encoded: str) -> None:
    assert not is_password_hash(encoded)
    assert not verify_password("pa55", encoded)


def test_an_empty_password_cannot_be_hashed() -> None:
    with pytest.raises(ValueError, match="empty"):
        hash_password("")


def test_a_plain_dashboard_password_is_hashed_once_per_process_and_the_hash_setting_wins() -> None:
    plain = Settings(_env_file=None, dashboard_password="pa55")
    # Settings are read on every dashboard run: the second read must not pay for scrypt again.
    assert Settings(_env_file=None, dashboard_password="pa55").password_hash() == plain.password_hash()
    assert verify_password("pa55", plain.password_hash() or "") and not verify_password(
        "pa5", plain.password_hash() or ""
    )
    assert "pa55" not in (plain.password_hash() or "") and "pa55" not in plain.model_dump_json()
    stored = hash_password("other", **FAST)
    both = Settings(_env_file=None, dashboard_password="pa55", dashboard_password_hash=stored)
    assert both.password_hash() == stored
    assert Settings(_env_file=None).password_hash() is None
    assert Settings(_env_file=None, dashboard_password="").password_hash() is None


# ---- the throttle --------------------------------------------------------------------------------


def test_failures_grow_the_delay_1_2_4_up_to_the_cap() -> None:
    clock = FakeClock()
    throttle = Throttle(base_s=1, factor=2, cap_s=10, clock=clock)
    delays = []
    for _ in range(6):
        delays.append(throttle.failed("session-a", "10.0.0.7"))
        assert throttle.wait_s("session-a") == delays[-1]
        clock.advance(delays[-1])
        assert throttle.wait_s("session-a", "10.0.0.7") == 0
    assert delays == [1, 2, 4, 8, 10, 10]
    assert throttle.failures("10.0.0.7") == 6


def test_the_wait_counts_down_with_the_clock_and_is_the_longest_of_the_keys() -> None:
    clock = FakeClock()
    throttle = Throttle(clock=clock)
    throttle.failed("addr")
    throttle.failed("addr")  # 2 s for the address
    throttle.failed("session-b")  # 1 s for a fresh session on that address
    assert throttle.wait_s("session-b", "addr") == 2
    clock.advance(1.5)
    assert throttle.wait_s("session-b", "addr") == pytest.approx(0.5)
    assert throttle.wait_s("session-b") == 0
    assert throttle.wait_s("another-session", "another-addr") == 0


def test_success_resets_the_keys_given() -> None:
    clock = FakeClock()
    throttle = Throttle(clock=clock)
    for _ in range(3):
        throttle.failed("s", "addr")
    throttle.succeeded("s", "addr")
    assert throttle.wait_s("s", "addr") == 0 and throttle.failures("s") == 0
    assert throttle.failed("s") == 1  # starts over at the base delay


def test_old_failures_are_forgotten_and_the_table_is_bounded() -> None:
    clock = FakeClock()
    throttle = Throttle(forget_after_s=100, max_keys=3, clock=clock)
    throttle.failed("old")
    throttle.failed("old")
    clock.advance(101)
    assert throttle.failures("old") == 0 and throttle.failed("old") == 1
    for key in ("k1", "k2", "k3"):
        throttle.failed(key)
    assert throttle.failures("old") == 0  # evicted: the oldest entry goes first
    assert [throttle.failures(k) for k in ("k1", "k2", "k3")] == [1, 1, 1]


def test_a_huge_failure_count_stays_at_the_cap() -> None:
    throttle = Throttle(cap_s=60)
    assert throttle.delay_for(10_000) == 60 and throttle.delay_for(0) == 0


# ---- the return-to link --------------------------------------------------------------------------


def test_a_return_link_is_taken_once_and_expires() -> None:
    clock = FakeClock()
    links = ReturnLinks(ttl_s=60, clock=clock)
    links.put("browser-1", "/session/", {"ds": "abc", "cat": ["rate_limited", "ttl_expired"]})
    link = links.take("browser-1")
    assert link is not None and link.page == "session"
    assert link.as_dict() == {"ds": ["abc"], "cat": ["rate_limited", "ttl_expired"]}
    assert links.take("browser-1") is None  # single use
    links.put("browser-2", "overview", {"q": "x"})
    clock.advance(61)
    assert links.take("browser-2") is None
    assert links.take("never-seen") is None


def test_return_links_are_bounded_in_count_and_size() -> None:
    links = ReturnLinks(max_entries=2)
    for key in ("a", "b", "c"):
        links.put(key, "p", {"v": "x" * 10_000, **{f"k{i}": str(i) for i in range(100)}})
    assert links.take("a") is None
    kept = links.take("c")
    assert kept is not None and len(kept.params) == 50 and all(len(v) <= 500 for _, v in kept.params)
