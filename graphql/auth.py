"""Bearer JWT authentication: HS256 with the configured secret, algorithm pinned, ``exp`` required."""

from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from typing import Any

import jwt

from cellorg.core.clock import utcnow
from cellorg.core.settings import Settings
from cellorg.permissions.authorize import Viewer

ALGORITHM = "HS256"
CLOCK_SKEW_SECONDS = 30


class AuthenticationFailed(Exception):
    """The token is missing or unacceptable; the message names why."""


@dataclass(frozen=True, slots=True)
class TokenCodec:
    secret: str
    issuer: str
    default_ttl: timedelta

    @classmethod
    def from_settings(cls, settings: Settings) -> "TokenCodec":
        return cls(
            settings.token_secret.get_secret_value(),
            settings.token_issuer,
            timedelta(seconds=settings.token_ttl_seconds),
        )

    def issue(self, person_id: int, ttl: timedelta | None = None) -> str:
        now = utcnow()
        claims = {"sub": str(person_id), "iss": self.issuer, "iat": now, "exp": now + (ttl or self.default_ttl)}
        return jwt.encode(claims, self.secret, algorithm=ALGORITHM)

    def viewer_from_header(self, authorization: str | None) -> Viewer:
        if not authorization:
            raise AuthenticationFailed("authentication required: send Authorization: Bearer <token>")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthenticationFailed("malformed Authorization header: expected 'Bearer <token>'")
        return self.viewer_from_token(token.strip())

    def viewer_from_token(self, token: str) -> Viewer:
        claims = _verified_claims(token, self.secret, self.issuer)
        # Expiry is checked here, on every request, against core's clock: moving time expires tokens too.
        now = utcnow().timestamp()
        expires = claims["exp"]
        if not isinstance(expires, int | float) or now >= expires:
            raise AuthenticationFailed("token expired")
        for claim in ("iat", "nbf"):
            moment = claims.get(claim, now)
            if not isinstance(moment, int | float) or moment > now + CLOCK_SKEW_SECONDS:
                raise AuthenticationFailed(f"token is not valid yet ({claim} is in the future)")
        subject = claims["sub"]
        if not isinstance(subject, str) or not subject.isdigit():
            raise AuthenticationFailed("token subject is not a person id")
        return Viewer(int(subject))


@lru_cache(maxsize=4096)
def _verified_claims(token: str, secret: str, issuer: str) -> dict[str, Any]:
    """The claims of a token whose signature and issuer check out; memoized (the same bytes verify the same)."""
    try:
        return jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            issuer=issuer,
            # Time claims are checked by the caller against core's clock, never the system clock.
            options={"require": ["exp", "sub", "iss"], "verify_exp": False, "verify_iat": False, "verify_nbf": False},
        )
    except jwt.InvalidSignatureError as error:
        raise AuthenticationFailed("token signature is invalid") from error
    except jwt.InvalidAlgorithmError as error:
        raise AuthenticationFailed(f"token algorithm not allowed: only {ALGORITHM} is accepted") from error
    except jwt.MissingRequiredClaimError as error:
        raise AuthenticationFailed(f"token lacks the {error.claim!r} claim") from error
    except jwt.InvalidIssuerError as error:
        raise AuthenticationFailed("token was issued by someone else") from error
    except jwt.InvalidTokenError as error:
        raise AuthenticationFailed(f"malformed token: {error}") from error
