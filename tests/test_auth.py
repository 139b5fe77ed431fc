"""Who may call at all: every bad token is refused the same way on both edges, good tokens
(HS256 by default, RS256 with a configured public key) are accepted, production refuses the
published development secret, and the development CLI mints tokens the server accepts."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from logistics import cli
from logistics.app import build_platform
from logistics.config import DEV_JWT_SECRET, Settings

INIT = "/client/logistics/init"
GRAPHQL = "/graphql"
INIT_QUERY = "query { init { user { id name } } }"

_PRIVATE_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PRIVATE_PEM = _PRIVATE_KEY.private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
).decode()
PUBLIC_PEM = (
    _PRIVATE_KEY.public_key()
    .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    .decode()
)
_OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)

RS256_ONLY = {"jwt_algorithms": ["RS256"], "jwt_public_key": PUBLIC_PEM}
AUDIENCE_AND_ISSUER = {"jwt_audience": "logistics-api", "jwt_issuer": "https://id.example.com"}


@pytest.fixture
def auth_settings() -> dict[str, Any]:
    """Overrides of the test settings; a test parametrizes this to configure the verifier."""
    return {}


@pytest.fixture
def settings(settings: Settings, auth_settings: dict[str, Any]) -> Settings:
    return settings.model_copy(update=auth_settings)


def claims(sub: str = "alice", **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base: dict[str, Any] = {"sub": sub, "iat": now, "exp": now + 3600, "name": "Alice"}
    base.update(overrides)
    return {key: value for key, value in base.items() if value is not None}


def hs256(settings: Settings, **overrides: Any) -> str:
    return jwt.encode(claims(**overrides), settings.jwt_secret, algorithm="HS256")


def rs256(key: Any = _PRIVATE_KEY, **overrides: Any) -> str:
    return jwt.encode(claims(**overrides), key, algorithm="RS256")


def unsigned(**overrides: Any) -> str:
    """A token with ``alg: none`` and an empty signature, as an attacker would send it."""

    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims(**overrides))}."


async def rest_with(client: httpx.AsyncClient, authorization: str | None) -> httpx.Response:
    headers = {"Authorization": authorization} if authorization is not None else {}
    return await client.get(INIT, headers=headers)


async def graphql_with(client: httpx.AsyncClient, authorization: str | None) -> dict[str, Any]:
    headers = {"Authorization": authorization} if authorization is not None else {}
    response = await client.post(GRAPHQL, json={"query": INIT_QUERY}, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def assert_refused_on_both_edges(client: httpx.AsyncClient, authorization: str | None) -> None:
    rest = await rest_with(client, authorization)
    assert rest.status_code == 401, rest.text
    assert rest.json()["error"]["code"] == "UNAUTHENTICATED"
    assert rest.headers["www-authenticate"] == "Bearer"

    body = await graphql_with(client, authorization)
    assert body["data"] is None
    assert [error["extensions"]["code"] for error in body["errors"]] == ["UNAUTHENTICATED"]


async def assert_accepted_on_both_edges(client: httpx.AsyncClient, authorization: str, sub: str) -> None:
    rest = await rest_with(client, authorization)
    assert rest.status_code == 200, rest.text
    assert rest.json()["user"]["id"] == sub

    body = await graphql_with(client, authorization)
    assert "errors" not in body, body
    assert body["data"]["init"]["user"]["id"] == sub


# --- HS256, the default ---------------------------------------------------------------------


async def test_a_token_signed_with_the_configured_secret_is_accepted(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    await assert_accepted_on_both_edges(client, f"Bearer {hs256(settings)}", "alice")


async def test_the_bearer_scheme_is_case_insensitive(client: httpx.AsyncClient, settings: Settings) -> None:
    await assert_accepted_on_both_edges(client, f"bearer {hs256(settings)}", "alice")


@pytest.mark.parametrize(
    "authorization",
    [
        pytest.param(None, id="missing header"),
        pytest.param("", id="empty header"),
        pytest.param("Bearer", id="scheme without token"),
        pytest.param("Bearer    ", id="blank token"),
        pytest.param("Token abc.def.ghi", id="other scheme"),
        pytest.param("Basic YWxpY2U6c2VjcmV0", id="basic auth"),
        pytest.param("Bearer not-a-jwt", id="not a jwt"),
        pytest.param("Bearer a.b.c", id="garbage segments"),
    ],
)
async def test_a_missing_or_malformed_authorization_is_unauthenticated(
    client: httpx.AsyncClient, authorization: str | None
) -> None:
    await assert_refused_on_both_edges(client, authorization)


async def test_an_expired_token_is_unauthenticated(client: httpx.AsyncClient, settings: Settings) -> None:
    # given a token that expired an hour ago (well beyond the leeway)
    now = int(time.time())
    token = hs256(settings, iat=now - 7200, exp=now - 3600)
    # then neither edge lets it in
    await assert_refused_on_both_edges(client, f"Bearer {token}")


async def test_expiry_allows_the_configured_clock_leeway(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    # given a token that expired a moment ago, within the leeway for clock skew
    now = int(time.time())
    token = hs256(settings, iat=now - 600, exp=now - settings.jwt_leeway_s // 3)
    await assert_accepted_on_both_edges(client, f"Bearer {token}", "alice")


async def test_a_token_signed_with_another_secret_is_unauthenticated(client: httpx.AsyncClient) -> None:
    token = jwt.encode(claims(), "some-other-secret-" + "y" * 32, algorithm="HS256")
    await assert_refused_on_both_edges(client, f"Bearer {token}")


async def test_a_token_with_alg_none_is_unauthenticated(client: httpx.AsyncClient) -> None:
    await assert_refused_on_both_edges(client, f"Bearer {unsigned()}")


async def test_a_tampered_payload_is_unauthenticated(client: httpx.AsyncClient, settings: Settings) -> None:
    # given a valid token whose payload is swapped for another user's
    header, _payload, signature = hs256(settings).split(".")
    forged = jwt.encode(claims(sub="mallory"), "irrelevant-" + "z" * 32, algorithm="HS256").split(".")[1]
    await assert_refused_on_both_edges(client, f"Bearer {header}.{forged}.{signature}")


@pytest.mark.parametrize("missing", ["exp", "iat", "sub"])
async def test_a_token_without_a_required_claim_is_unauthenticated(
    client: httpx.AsyncClient, settings: Settings, missing: str
) -> None:
    token = jwt.encode(
        {k: v for k, v in claims().items() if k != missing}, settings.jwt_secret, algorithm="HS256"
    )
    await assert_refused_on_both_edges(client, f"Bearer {token}")


@pytest.mark.parametrize("sub", ["", 42], ids=["empty", "not a string"])
async def test_a_token_with_an_unusable_subject_is_unauthenticated(
    client: httpx.AsyncClient, settings: Settings, sub: object
) -> None:
    token = jwt.encode({**claims(), "sub": sub}, settings.jwt_secret, algorithm="HS256")
    await assert_refused_on_both_edges(client, f"Bearer {token}")


async def test_an_rs256_token_is_refused_when_only_hs256_is_configured(client: httpx.AsyncClient) -> None:
    await assert_refused_on_both_edges(client, f"Bearer {rs256()}")


async def test_every_refusal_reads_the_same_on_rest(client: httpx.AsyncClient, settings: Settings) -> None:
    # A client cannot tell which check failed beyond the message; the code is always the same.
    now = int(time.time())
    tokens = [
        None,
        "Bearer garbage",
        f"Bearer {hs256(settings, iat=now - 7200, exp=now - 3600)}",
        f"Bearer {unsigned()}",
    ]
    for authorization in tokens:
        response = await rest_with(client, authorization)
        assert response.status_code == 401
        assert set(response.json()) == {"error"}
        assert set(response.json()["error"]) <= {"code", "message", "details"}


# --- RS256 with a configured public key -----------------------------------------------------


@pytest.mark.parametrize("auth_settings", [RS256_ONLY], ids=["rs256"])
async def test_rs256_with_a_configured_public_key_accepts_a_good_token(client: httpx.AsyncClient) -> None:
    await assert_accepted_on_both_edges(client, f"Bearer {rs256()}", "alice")


@pytest.mark.parametrize("auth_settings", [RS256_ONLY], ids=["rs256"])
async def test_rs256_refuses_a_token_signed_with_another_private_key(client: httpx.AsyncClient) -> None:
    await assert_refused_on_both_edges(client, f"Bearer {rs256(_OTHER_KEY)}")


@pytest.mark.parametrize("auth_settings", [RS256_ONLY], ids=["rs256"])
async def test_an_hs256_token_is_refused_when_only_rs256_is_configured(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    # given an HS256 token signed with the (still set) shared secret
    await assert_refused_on_both_edges(client, f"Bearer {hs256(settings)}")


@pytest.mark.parametrize("auth_settings", [RS256_ONLY], ids=["rs256"])
async def test_an_hs256_token_keyed_with_the_public_key_is_refused(client: httpx.AsyncClient) -> None:
    # The classic algorithm-confusion attack: the public key is public, so an HMAC keyed with
    # it must never verify.
    header = {"alg": "HS256", "typ": "JWT"}
    signing_input = (
        base64.urlsafe_b64encode(json.dumps(header).encode()).rstrip(b"=").decode()
        + "."
        + base64.urlsafe_b64encode(json.dumps(claims()).encode()).rstrip(b"=").decode()
    )
    signature = hmac.new(PUBLIC_PEM.encode(), signing_input.encode(), hashlib.sha256).digest()
    token = signing_input + "." + base64.urlsafe_b64encode(signature).rstrip(b"=").decode()
    await assert_refused_on_both_edges(client, f"Bearer {token}")


@pytest.mark.parametrize("auth_settings", [RS256_ONLY], ids=["rs256"])
async def test_rs256_still_requires_exp_iat_and_sub(client: httpx.AsyncClient) -> None:
    for missing in ("exp", "iat", "sub"):
        token = jwt.encode(
            {k: v for k, v in claims().items() if k != missing}, _PRIVATE_KEY, algorithm="RS256"
        )
        await assert_refused_on_both_edges(client, f"Bearer {token}")


@pytest.mark.parametrize("auth_settings", [RS256_ONLY], ids=["rs256"])
async def test_rs256_refuses_alg_none(client: httpx.AsyncClient) -> None:
    await assert_refused_on_both_edges(client, f"Bearer {unsigned()}")


# --- audience and issuer --------------------------------------------------------------------


@pytest.mark.parametrize("auth_settings", [AUDIENCE_AND_ISSUER], ids=["aud+iss"])
async def test_audience_and_issuer_are_checked_when_configured(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    good = {"aud": "logistics-api", "iss": "https://id.example.com"}
    await assert_accepted_on_both_edges(client, f"Bearer {hs256(settings, **good)}", "alice")

    for bad in (
        {"aud": "another-api", "iss": good["iss"]},
        {"aud": good["aud"], "iss": "https://evil.example.com"},
        {"iss": good["iss"]},  # no audience at all
        {"aud": good["aud"]},  # no issuer at all
    ):
        await assert_refused_on_both_edges(client, f"Bearer {hs256(settings, **bad)}")


@pytest.mark.parametrize("auth_settings", [{**RS256_ONLY, **AUDIENCE_AND_ISSUER}], ids=["rs256+aud+iss"])
async def test_audience_and_issuer_apply_to_rs256_too(client: httpx.AsyncClient) -> None:
    good = {"aud": "logistics-api", "iss": "https://id.example.com"}
    await assert_accepted_on_both_edges(client, f"Bearer {rs256(**good)}", "alice")
    await assert_refused_on_both_edges(client, f"Bearer {rs256(aud='another-api', iss=good['iss'])}")


async def test_audience_and_issuer_are_ignored_when_not_configured(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    token = hs256(settings, aud="whatever", iss="https://anyone.example.com")
    await assert_accepted_on_both_edges(client, f"Bearer {token}", "alice")


# --- settings and start-up -------------------------------------------------------------------


def test_alg_none_cannot_even_be_configured() -> None:
    with pytest.raises(ValueError, match="unsupported JWT algorithms"):
        Settings(jwt_algorithms=["none"])
    with pytest.raises(ValueError, match="unsupported JWT algorithms"):
        Settings(jwt_algorithms=[])


@pytest.mark.parametrize(
    ("environment", "algorithms"),
    [("RS256", ["RS256"]), ("HS256, RS256", ["HS256", "RS256"]), ('["ES256"]', ["ES256"])],
)
def test_jwt_algorithms_are_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, environment: str, algorithms: list[str]
) -> None:
    monkeypatch.setenv("LOGISTICS_JWT_ALGORITHMS", environment)
    assert Settings().jwt_algorithms == algorithms


def test_production_refuses_the_development_secret() -> None:
    settings = Settings(env="production", jwt_secret=DEV_JWT_SECRET)
    with pytest.raises(RuntimeError, match="development secret is refused"):
        settings.check_production()


def test_production_refuses_a_short_secret() -> None:
    with pytest.raises(RuntimeError):
        Settings(env="production", jwt_secret="too-short").check_production()


def test_production_platform_does_not_start_on_the_development_secret(tmp_path: Path) -> None:
    settings = Settings(
        env="production",
        jwt_secret=DEV_JWT_SECRET,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'prod.db'}",
        storage_dir=tmp_path / "storage",
    )
    with pytest.raises(RuntimeError, match="LOGISTICS_JWT_SECRET"):
        build_platform(settings)


def test_production_starts_with_a_real_secret_or_a_public_key(tmp_path: Path) -> None:
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'prod.db'}"
    key = Fernet.generate_key().decode()
    Settings(
        env="production", jwt_secret="s" * 48, database_url=database_url, encryption_key=key
    ).check_production()
    Settings(
        env="production",
        database_url=database_url,
        jwt_algorithms=["RS256"],
        jwt_public_key=PUBLIC_PEM,
        encryption_key=key,
    ).check_production()


def test_production_refuses_to_start_without_an_encryption_key_for_payout_details() -> None:
    with pytest.raises(RuntimeError, match="LOGISTICS_ENCRYPTION_KEY"):
        Settings(env="production", jwt_secret="s" * 48).check_production()


def test_development_tolerates_the_development_secret() -> None:
    Settings(env="development", jwt_secret=DEV_JWT_SECRET).check_production()


# --- the development CLI ---------------------------------------------------------------------


async def test_cli_token_is_accepted_by_the_server(
    client: httpx.AsyncClient,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # given the CLI configured like the server under test
    monkeypatch.setenv("LOGISTICS_JWT_SECRET", settings.jwt_secret)
    # when it mints a token
    assert cli.main(["token", "--sub", "x", "--name", "Xavier", "--role", "ops"]) == 0
    token = capsys.readouterr().out.strip()
    # then it is one line, and the server knows who it is for
    assert token.count(".") == 2 and "\n" not in token
    await assert_accepted_on_both_edges(client, f"Bearer {token}", "x")
    decoded = jwt.decode(token, settings.jwt_secret, algorithms=["HS256"])
    assert decoded["name"] == "Xavier"
    assert decoded["roles"] == ["ops"]
    assert decoded["exp"] > decoded["iat"]


async def test_cli_token_from_another_secret_is_refused(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # given a CLI on the development secret, and a server with its own secret
    monkeypatch.setenv("LOGISTICS_JWT_SECRET", DEV_JWT_SECRET)
    assert cli.main(["token", "--sub", "x"]) == 0
    token = capsys.readouterr().out.strip()
    await assert_refused_on_both_edges(client, f"Bearer {token}")


def test_cli_token_needs_an_hmac_algorithm(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LOGISTICS_JWT_ALGORITHMS", "RS256")
    assert cli.main(["token", "--sub", "x"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "HS" in captured.err
