"""The pure security rules: origins, what ``authenticate`` sees, rule checks,
what clients read of failures."""

from __future__ import annotations

import re

import pytest

from hotstate_rx import CallContext, ConnectInfo, RpcError
from hotstate_rx.server.access import AccessRules, OriginPolicy, client_failure, parse_cookies


@pytest.mark.parametrize(
    ("origin", "host", "allowed"),
    [
        (None, "localhost:4400", True),  # not a browser
        ("http://localhost:4400", "localhost:4400", True),  # same origin
        ("HTTP://LocalHost:4400", "localhost:4400", True),
        ("https://app.example", "app.example", True),
        ("https://app.example", "app.example:443", True),  # default ports are the same port
        ("http://app.example:80", "app.example", True),
        ("http://[::1]:4400", "[::1]:4400", True),
        ("https://evil.example", "localhost:4400", False),  # cross-site WebSocket hijacking
        ("http://localhost:4401", "localhost:4400", False),  # another port is another origin
        ("https://localhost:4400", "localhost:4400", True),  # scheme: the Host says nothing
        ("http://localhost", "localhost:4400", False),
        ("null", "localhost:4400", False),  # a sandboxed page or file://
        ("https://a.example, https://b.example", "a.example", False),  # two Origin headers
        ("https://evil.example", None, False),
        ("not an origin", "localhost", False),
        ("http://localhost:99999", "localhost:99999", False),
    ],
)
def test_default_policy_no_origin_or_same_origin(
    origin: str | None, host: str | None, allowed: bool
) -> None:
    assert OriginPolicy().allows(origin, host) is allowed


def test_an_allow_list_adds_origins_and_star_allows_all() -> None:
    policy = OriginPolicy(["https://app.example", "http://localhost:3000/"])
    assert policy.allows("https://app.example", "api.example")
    assert policy.allows("https://APP.example:443", "api.example")
    assert policy.allows("http://localhost:3000", "localhost:4400")
    assert not policy.allows("https://evil.example", "api.example")
    assert policy.allows("http://api.example", "api.example")  # same-origin still holds
    assert OriginPolicy(["*"]).allows("https://evil.example", "localhost:4400")


@pytest.mark.parametrize(
    ("allowed", "error"),
    [
        ("https://app.example", TypeError),  # a str, not a list
        (["app.example"], ValueError),  # no scheme
        (["https://app.example/path"], ValueError),
        (["*", "https://app.example"], ValueError),
        ([42], TypeError),
    ],
)
def test_bad_allow_lists_are_refused_at_construction(allowed: object, error: type) -> None:
    with pytest.raises(error):
        OriginPolicy(allowed)  # type: ignore[arg-type]


def test_connect_info_from_an_upgrade() -> None:
    info = ConnectInfo.from_upgrade(
        [
            ("Host", "localhost:4400"),
            ("Cookie", 'sid=abc; theme="dark"'),
            ("cookie", "sid=other; late=1"),
            ("X-Forwarded-For", "10.0.0.1"),
            ("x-forwarded-for", "10.0.0.2"),
            ("Origin", "http://localhost:4400"),
        ],
        path="/ws",
        query="token=q&room=a&room=b&empty=",
        remote_address=("127.0.0.1", 5555),
    )
    assert info.token is None
    assert info.headers["x-forwarded-for"] == "10.0.0.1, 10.0.0.2"
    assert info.cookies == {"sid": "abc", "theme": "dark", "late": "1"}
    assert info.query == {"token": "q", "room": "a", "empty": ""}
    assert info.origin == "http://localhost:4400"
    assert (info.path, info.remote_address) == ("/ws", ("127.0.0.1", 5555))
    with pytest.raises(TypeError):
        info.headers["x"] = "y"  # type: ignore[index]


def test_connect_info_hides_credentials_from_its_repr() -> None:
    info = ConnectInfo(token="s3cret", headers={"authorization": "Bearer s3cret"})
    assert "s3cret" not in repr(info)


@pytest.mark.parametrize(
    ("header", "cookies"),
    [
        ("", {}),
        ("a=1", {"a": "1"}),
        ("a=1; ; =x; b; c==2", {"a": "1", "c": "=2"}),
        ('q="x y"', {"q": "x y"}),
        ("a=1; a=2", {"a": "1"}),
    ],
)
def test_cookies_are_parsed_leniently(header: str, cookies: dict[str, str]) -> None:
    assert parse_cookies(header) == cookies


def test_rules_are_checked_at_registration() -> None:
    assert AccessRules.check_store_rule(None) is None
    assert AccessRules.check_function_rule(len) is len  # no signature to check: trusted

    async def slow(ctx: CallContext) -> bool:
        return True

    with pytest.raises(TypeError, match="callable"):
        AccessRules.check_store_rule(True)
    with pytest.raises(TypeError, match="synchronous"):
        AccessRules.check_function_rule(slow)
    with pytest.raises(TypeError, match=r"must take \(ctx, key\)"):
        AccessRules.check_store_rule(lambda ctx: True)
    with pytest.raises(TypeError, match=r"must take \(ctx\)"):
        AccessRules.check_function_rule(lambda ctx, key, more: True)


def test_failures_clients_may_read() -> None:
    assert client_failure(RpcError("no such todo"), expose=False) == ("no such todo", None)
    message, ref = client_failure(RuntimeError("postgres://admin:hunter2@db"), expose=False)
    assert ref is not None and message == f"internal error (ref {ref})"
    assert re.fullmatch(r"[0-9a-f]{8}", ref)
    assert client_failure(RuntimeError("postgres://x"), expose=True) == ("postgres://x", None)
    assert client_failure(KeyError(), expose=True) == ("KeyError", None)
