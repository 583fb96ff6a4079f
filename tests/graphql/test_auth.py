"""Bearer tokens: only a valid HS256 token from our issuer authenticates; each failure is named."""

import base64
import json
from datetime import timedelta

import jwt
import pytest

from cellorg.core.clock import clock
from tests.conftest import TEST_SECRET, Api, OrgBuilder

ME = "{ me { id name } }"


def _unsigned(claims: dict[str, object]) -> str:
    def part(data: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


async def test_valid_token_identifies_the_caller(api: Api, build: OrgBuilder) -> None:
    person = await build.person("Wang Lei")
    await build.commit()
    result = await api.query(ME, as_=person)
    assert result == {"data": {"me": {"id": person.id, "name": "Wang Lei"}}}


async def test_health_needs_no_token(api: Api) -> None:
    assert await api.post("{ health }") == {"data": {"health": "ok"}}


@pytest.mark.parametrize(
    ("make_token", "message"),
    [
        (lambda p: None, "authentication required"),
        (lambda p: "not-a-jwt", "malformed token"),
        (
            lambda p: jwt.encode({"sub": str(p), "iss": "cellorg", "exp": 2**40}, "wrong-secret-wrong-secret-wrong!!"),
            "token signature is invalid",
        ),
        (lambda p: _unsigned({"sub": str(p), "iss": "cellorg", "exp": 2**40}), "token algorithm not allowed"),
        (lambda p: jwt.encode({"sub": str(p), "iss": "cellorg"}, TEST_SECRET), "token lacks the 'exp' claim"),
        (
            lambda p: jwt.encode({"sub": str(p), "iss": "mallory", "exp": 2**40}, TEST_SECRET),
            "token was issued by someone else",
        ),
        (
            lambda p: jwt.encode({"sub": "admin", "iss": "cellorg", "exp": 2**40}, TEST_SECRET),
            "token subject is not a person id",
        ),
        (
            lambda p: jwt.encode({"sub": str(p), "iss": "cellorg", "exp": 2**40}, TEST_SECRET, algorithm="HS512"),
            "token algorithm not allowed",
        ),
    ],
    ids=["missing", "malformed", "wrong-secret", "alg-none", "no-exp", "foreign-issuer", "subject", "hs512"],
)
async def test_bad_tokens_are_refused_with_the_reason(api: Api, build: OrgBuilder, make_token, message) -> None:  # type: ignore[no-untyped-def]
    person = await build.person()
    await build.commit()
    result = await api.post(ME, token=make_token(person.id))
    assert result["data"] is None
    [error] = result["errors"]
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    assert error["message"].startswith(message)


async def test_tampered_payload_is_refused(api: Api, build: OrgBuilder) -> None:
    person = await build.person()
    other = await build.person()
    await build.commit()
    header, payload, signature = api.token_for(person).split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = str(other.id)
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    result = await api.post(ME, token=f"{header}.{forged}.{signature}")
    assert result["errors"][0]["message"] == "token signature is invalid"


async def test_token_expires_on_cores_clock(api: Api, build: OrgBuilder) -> None:
    person = await build.person()
    await build.commit()
    token = api.tokens.issue(person.id, ttl=timedelta(minutes=30))
    clock.freeze(clock.now() + timedelta(minutes=29, seconds=59))
    assert (await api.post(ME, token=token))["data"]["me"]["id"] == person.id
    clock.advance(timedelta(seconds=1))
    assert (await api.post(ME, token=token))["errors"][0]["message"] == "token expired"


async def test_token_from_the_future_is_refused(api: Api, build: OrgBuilder) -> None:
    person = await build.person()
    await build.commit()
    clock.advance(timedelta(minutes=5))
    from_the_future = api.tokens.issue(person.id)
    clock.advance(timedelta(minutes=-5))
    result = await api.post(ME, token=from_the_future)
    assert result["errors"][0]["message"] == "token is not valid yet (iat is in the future)"


async def test_malformed_authorization_header(api: Api) -> None:
    response = await api.client.post("/graphql", json={"query": ME}, headers={"Authorization": "Basic abc"})
    assert response.json()["errors"][0]["message"].startswith("malformed Authorization header")
