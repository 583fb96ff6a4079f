"""Bonus policies: the rules a pool is split by, checked once when stored and then never changed.

A member's weight is the sum over their contributions of points x the kind's weight x the multiplier of their
role in the project; an optional cap and floor per member; an optional peer round blended in with
``peerWeight``; excluded people get nothing. Unlisted kinds and roles weigh 1.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any

from cellorg.core.errors import ValidationFailed
from cellorg.ledger.bonus.allocation import AllocationError, Limit
from cellorg.ledger.service import CONTRIBUTION_KINDS
from cellorg.permissions.catalogue import ScopeKind, roles_of_kind

_LIMIT_FORMS = ("amount", "share")


@dataclass(frozen=True)
class Rules:
    kind_weights: Mapping[str, Fraction]
    role_multipliers: Mapping[str, Fraction]
    cap: Limit | None
    floor: Limit | None
    peer_weight: Fraction
    excluded: frozenset[int]

    def weight_of(self, kind: str, role: str) -> Fraction:
        return self.kind_weights.get(kind, Fraction(1)) * self.role_multipliers.get(role, Fraction(1))


def parse_rules(rules: Mapping[str, Any]) -> Rules:
    """The stored JSON rules, checked; raises ValidationFailed naming the rule."""
    unknown = sorted(set(rules) - {"kindWeights", "roleMultipliers", "cap", "floor", "peerWeight", "excluded"})
    if unknown:
        raise ValidationFailed(f"unknown policy rules: {', '.join(unknown)}", field="rules")
    project_roles = {role.name for role in roles_of_kind(ScopeKind.PROJECT)}
    return Rules(
        kind_weights=_weights(rules.get("kindWeights", {}), CONTRIBUTION_KINDS, "kindWeights"),
        role_multipliers=_weights(rules.get("roleMultipliers", {}), sorted(project_roles), "roleMultipliers"),
        cap=_limit(rules.get("cap"), "cap"),
        floor=_limit(rules.get("floor"), "floor"),
        peer_weight=_peer_weight(rules.get("peerWeight", "0")),
        excluded=_excluded(rules.get("excluded", [])),
    )


def _decimal(value: Any, field: str) -> Decimal:
    try:
        number = Decimal(str(value)) if isinstance(value, str | int) and not isinstance(value, bool) else None
    except InvalidOperation:
        number = None
    if number is None or not number.is_finite():
        raise ValidationFailed(f"{field} must be a decimal number written as a string, got {value!r}", field=field)
    return number


def _weights(given: Any, names: tuple[str, ...] | list[str], field: str) -> dict[str, Fraction]:
    if not isinstance(given, Mapping):
        raise ValidationFailed(f"{field} maps names to decimal weights", field=field)
    unknown = sorted(set(given) - set(names))
    if unknown:
        raise ValidationFailed(f"{field}: unknown {', '.join(unknown)}; known: {', '.join(names)}", field=field)
    weights = {name: _decimal(value, field) for name, value in given.items()}
    negative = sorted(name for name, weight in weights.items() if weight < 0)
    if negative:
        raise ValidationFailed(f"{field}: weights must not be negative ({', '.join(negative)})", field=field)
    return {name: Fraction(weight) for name, weight in weights.items()}


def _limit(given: Any, field: str) -> Limit | None:
    if given is None:
        return None
    if not isinstance(given, Mapping) or len(given) != 1 or next(iter(given)) not in _LIMIT_FORMS:
        raise ValidationFailed(f'{field} is {{"amount": "1500.00"}} or {{"share": "0.4"}}', field=field)
    form, value = next(iter(given.items()))
    try:
        return Limit(**{form: _decimal(value, field)})
    except AllocationError as error:
        raise ValidationFailed(error.message, field=field) from error


def _peer_weight(given: Any) -> Fraction:
    weight = _decimal(given, "peerWeight")
    if not 0 <= weight <= 1:
        raise ValidationFailed("peerWeight must be between 0 and 1", field="peerWeight")
    return Fraction(weight)


def _excluded(given: Any) -> frozenset[int]:
    if not isinstance(given, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in given):
        raise ValidationFailed("excluded lists the ids of the people who get no bonus", field="excluded")
    return frozenset(given)
