"""Splits a project's bonus pool among squad members by weight, exactly, in whole minor units (cents).

Rounding rule. The ideal amount of member ``i`` is the exact rational ``clamp(t * w_i, floor, cap)``, with the one
level ``t >= 0`` (the smallest, if several fit) at which the ideal amounts sum to the pool: the excess above a cap
goes to the others in proportion to their weights, and a floor is funded from the others the same way. Each member
then gets the whole units of their ideal amount, and the units left over go one each to the largest fractional
remainders; equal remainders go to the larger weight first, then to the smaller key. The result is exact (it sums
to the pool), independent of the order of the input, and reproducible.

Everything is computed on integers and Fractions; no float and no Decimal context ever rounds a figure.
"""

import math
from bisect import bisect_left, bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import MAX_EMAX, MAX_PREC, MIN_EMIN, Context, Decimal
from fractions import Fraction
from itertools import accumulate
from typing import Any, Literal, Protocol, TypeAlias, TypeVar

from cellorg.core.errors import ValidationFailed

AllocationField: TypeAlias = Literal["pool", "weights", "cap", "floor", "peerAllocations"]
Weight: TypeAlias = Fraction | Decimal | int

_EXACT = Context(prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN)
"""A context that never rounds: scaling by a power of ten stays exact whatever the caller's context says."""
_EXACT_TYPES: frozenset[type] = frozenset({int, Fraction, Decimal})

PEER_POINTS = 100
"""The points each squad member hands out in a peer round."""


class AllocationError(ValidationFailed):
    """An input the pool cannot be split by; ``field`` names it.

    ``field`` is None only when a :class:`Limit` is built on its own: it cannot know whether it will be a cap or a
    floor, the caller building it from the input does.
    """

    def __init__(self, message: str, field: AllocationField | None) -> None:
        super().__init__(message, field)


class MemberKey(Protocol):
    """A member id: hashable and totally ordered (ints or strs), so ties are broken the same way every time."""

    def __hash__(self) -> int: ...

    def __lt__(self, other: Any, /) -> bool: ...


K = TypeVar("K", bound=MemberKey)


@dataclass(frozen=True)
class Limit:
    """A per-member cap or floor: an ``amount`` in currency units, or a ``share`` of the pool in [0, 1]."""

    amount: Decimal | None = None
    share: Decimal | None = None

    def __post_init__(self) -> None:
        if (self.amount is None) == (self.share is None):
            raise AllocationError("a cap or floor takes exactly one of amount and share", None)
        if self.amount is not None and not (_is_finite_decimal(self.amount) and self.amount >= 0):
            raise AllocationError(f"a cap or floor amount must be a Decimal of 0 or more, got {self.amount!r}", None)
        if self.share is not None and not (_is_finite_decimal(self.share) and 0 <= self.share <= 1):
            raise AllocationError(f"a cap or floor share must be a Decimal from 0 to 1, got {self.share!r}", None)

    def resolve(self, pool: Decimal) -> Decimal:
        """The limit in currency units: the amount, or the share of ``pool``, exactly."""
        if self.amount is not None:
            return self.amount
        assert self.share is not None  # __post_init__ lets exactly one of the two through
        return _EXACT.multiply(self.share, pool)


def allocate(
    pool: Decimal,
    weights: Mapping[K, Weight],
    *,
    minor_unit_digits: int = 2,
    cap: Limit | None = None,
    floor: Limit | None = None,
) -> dict[K, Decimal]:
    """Split ``pool`` among the keys of ``weights`` by weight; amounts in whole minor units, summing to ``pool``."""
    pool_units = _pool_units(pool, minor_unit_digits)
    scaled = _scaled_weights(weights)
    floor_units = _limit_units(floor, pool, minor_unit_digits, round_up=True) or 0
    cap_units = _limit_units(cap, pool, minor_unit_digits, round_up=False)
    _check_feasible(pool_units, list(scaled.values()), floor_units, cap_units, minor_unit_digits)
    # Larger weight first, then smaller key (a stable sort keeps the key order among equal weights): the order
    # that breaks ties between equal remainders.
    order = sorted(sorted(scaled), key=scaled.__getitem__, reverse=True)
    weights_desc = [scaled[key] for key in order]
    # No member's ideal amount exceeds the pool, so without a cap the pool itself is one that never binds.
    total = _Total.of(weights_desc, floor_units, pool_units if cap_units is None else cap_units)
    units = _round(pool_units, weights_desc, _level(pool_units, total), total)
    by_key = dict(zip(order, units, strict=True))
    return {key: _money(by_key[key], minor_unit_digits) for key in weights}


def blend_peer_round(
    contribution_weights: Mapping[K, Weight],
    peer_allocations: Mapping[K, Mapping[K, int]],
    peer_weight: Fraction,
) -> dict[K, Fraction]:
    """Blend normalised contributions with normalised peer points received: ``(1 - b) * c_i + b * p_i``; sums to 1.

    Each member may hand out exactly 100 points among the other members. With no points given the peer part is
    dropped, with no contributions the contribution part is.
    """
    if not isinstance(peer_weight, Fraction) or not 0 <= peer_weight <= 1:
        raise AllocationError(f"peer weight must be a Fraction from 0 to 1, got {peer_weight!r}", "peerAllocations")
    contributions = {key: Fraction(*_weight_ratio(key, weight)) for key, weight in contribution_weights.items()}
    received = _received_points(contributions, peer_allocations)
    if not any(contributions.values()) and not any(received.values()):
        raise AllocationError(
            "no contributions to split the pool by: no contribution weight and no peer points", "weights"
        )
    if not any(received.values()):
        peer_weight = Fraction(0)
    elif not any(contributions.values()):
        peer_weight = Fraction(1)
    peer = _normalised(received)
    return {
        key: (1 - peer_weight) * share + peer_weight * peer[key] for key, share in _normalised(contributions).items()
    }


def _is_finite_decimal(value: object) -> bool:
    return isinstance(value, Decimal) and value.is_finite()


def _money(units: int, digits: int) -> Decimal:
    return Decimal(units).scaleb(-digits, _EXACT)


def _in_units(value: Decimal, digits: int) -> tuple[int, int]:
    """The whole minor units in ``value`` and a remainder that is 0 only if ``value`` is whole units."""
    numerator, denominator = value.as_integer_ratio()
    scale: int = 10**digits
    return divmod(numerator * scale, denominator)


def _pool_units(pool: Decimal, digits: int) -> int:
    if not isinstance(digits, int) or digits < 0:
        raise AllocationError(f"minor_unit_digits must be a whole number of 0 or more, got {digits!r}", "pool")
    if not _is_finite_decimal(pool):
        raise AllocationError(f"pool must be a finite Decimal, got {pool!r}", "pool")
    if pool < 0:
        raise AllocationError(f"pool must not be negative, got {pool}", "pool")
    units, rest = _in_units(pool, digits)
    if rest:
        raise AllocationError(f"pool must be whole minor units of {_money(1, digits)}, got {pool}", "pool")
    return units


def _weight_ratio(key: object, weight: Weight) -> tuple[int, int]:
    """The weight as numerator and positive denominator, refusing what is not an exact, finite, non-negative number."""
    if not isinstance(weight, int | Fraction | Decimal):
        raise AllocationError(
            f"weight of {key!r} must be an int, Fraction or Decimal, got {type(weight).__name__}", "weights"
        )
    if isinstance(weight, Decimal) and not weight.is_finite():
        raise AllocationError(f"weight of {key!r} must be finite, got {weight}", "weights")
    numerator, denominator = weight.as_integer_ratio()
    if numerator < 0:
        raise AllocationError(f"weight of {key!r} must not be negative, got {weight}", "weights")
    return numerator, denominator


def _weight_ratios(weights: Mapping[K, Weight]) -> list[tuple[int, int]]:
    """Every weight as numerator and denominator, checked in bulk: per-member checks cost more than the split."""
    try:
        ratios = [weight.as_integer_ratio() for weight in weights.values()]
    except (ValueError, OverflowError, AttributeError):  # not a number, or a NaN or infinite Decimal
        ratios = []
    exact = {type(weight) for weight in weights.values()} <= _EXACT_TYPES
    if exact and ratios and min(numerator for numerator, _ in ratios) >= 0:
        return ratios
    # Something is off (or an exotic subclass such as bool came in): check one by one, naming the member.
    return [_weight_ratio(key, weight) for key, weight in weights.items()]


def _scaled_weights(weights: Mapping[K, Weight]) -> dict[K, int]:
    """The weights over their least common denominator: integers in the same proportions, fast to sort and sum."""
    if not weights:
        raise AllocationError("no members to split the pool among", "weights")
    ratios = _weight_ratios(weights)
    common = math.lcm(*(denominator for _, denominator in ratios))
    scaled = [numerator * (common // denominator) for numerator, denominator in ratios]
    if not any(scaled):
        raise AllocationError("no contributions to split the pool by: every weight is 0", "weights")
    return dict(zip(weights, scaled, strict=True))


def _limit_units(limit: Limit | None, pool: Decimal, digits: int, *, round_up: bool) -> int | None:
    """A limit in whole minor units: a floor rounded up and a cap rounded down, so whole units can always meet it."""
    if limit is None:
        return None
    units, rest = _in_units(limit.resolve(pool), digits)
    return units + 1 if round_up and rest else units


def _check_feasible(pool_units: int, weights: list[int], floor_units: int, cap_units: int | None, digits: int) -> None:
    def money(units: int) -> Decimal:
        return _money(units, digits)

    members = len(weights)
    if cap_units is not None and floor_units > cap_units:
        raise AllocationError(f"floor of {money(floor_units)} is above the cap of {money(cap_units)}", "floor")
    if members * floor_units > pool_units:
        excess = members * floor_units - pool_units
        raise AllocationError(
            f"floors of {money(floor_units)} for {members} members need {money(members * floor_units)},"
            f" {money(excess)} more than the pool of {money(pool_units)}",
            "floor",
        )
    if cap_units is None:
        return
    # A member without contributions stays at the floor: the level never lifts them towards the cap.
    without = weights.count(0)
    held = (members - without) * cap_units + without * floor_units
    if held < pool_units:
        note = f" (members without contributions get only the floor of {money(floor_units)})" if without else ""
        raise AllocationError(
            f"caps of {money(cap_units)} for {members} members hold at most {money(held)},"
            f" {money(pool_units - held)} less than the pool of {money(pool_units)}{note}",
            "cap",
        )


@dataclass(frozen=True)
class _Total:
    """``S(t) = sum(clamp(t * w_i, floor, cap))`` over the integer weights, in O(log n) for any level ``t``."""

    weights_desc: Sequence[int]
    weights_asc: Sequence[int]
    prefix: Sequence[int]
    """``prefix[j]`` is the sum of the ``j`` smallest weights."""
    floor_units: int
    cap_units: int

    @classmethod
    def of(cls, weights_desc: Sequence[int], floor_units: int, cap_units: int) -> "_Total":
        weights_asc = weights_desc[::-1]
        return cls(weights_desc, weights_asc, [0, *accumulate(weights_asc)], floor_units, cap_units)

    def at(self, level: Fraction) -> Fraction:
        floor_units, cap_units, members = self.floor_units, self.cap_units, len(self.weights_asc)
        if not level:
            return Fraction(members * floor_units)
        # With t = a / b and integer weights: at the floor iff w <= floor * b / a, capped iff w >= cap * b / a.
        a, b = level.numerator, level.denominator
        floored = bisect_right(self.weights_asc, floor_units * b // a)
        capped = max(floored, bisect_left(self.weights_asc, -(-cap_units * b // a)))
        linear = self.prefix[capped] - self.prefix[floored]
        return Fraction((floored * floor_units + (members - capped) * cap_units) * b + a * linear, b)

    def reaches(self, level: Fraction, pool_units: int) -> bool:
        return self.at(level) >= pool_units


def _level(pool_units: int, total: _Total) -> Fraction:
    """The smallest level ``t >= 0`` with ``S(t) == pool_units``.

    S is piecewise linear and non-decreasing, bending where a member leaves its floor (``t = floor / w``) or
    reaches its cap (``t = cap / w``). Between the last breakpoint below the pool and the first one reaching it
    S is a straight line, solved exactly.
    """
    if total.reaches(Fraction(0), pool_units):
        return Fraction(0)
    positive = total.weights_desc[: len(total.weights_desc) - total.weights_desc.count(0)]
    floor_below, floor_reaching = _bracket(positive, total.floor_units, pool_units, total)
    cap_below, cap_reaching = _bracket(positive, total.cap_units, pool_units, total)
    # _check_feasible guarantees that S reaches the pool once every member with a weight is capped.
    assert cap_reaching is not None
    lower = max(floor_below or Fraction(0), cap_below or Fraction(0))
    upper = cap_reaching if floor_reaching is None else min(floor_reaching, cap_reaching)
    below, above = total.at(lower), total.at(upper)
    return lower + (pool_units - below) * (upper - lower) / (above - below)


def _bracket(
    positive_desc: Sequence[int], limit_units: int, pool_units: int, total: _Total
) -> tuple[Fraction | None, Fraction | None]:
    """Of the breakpoints ``limit / w``: the last at which S stays below the pool, and the first that reaches it.

    The breakpoints rise as the weight falls, so a binary search over the weights, largest first, finds both.
    """
    first = bisect_left(
        range(len(positive_desc)),
        True,
        key=lambda j: total.reaches(Fraction(limit_units, positive_desc[j]), pool_units),
    )
    below = Fraction(limit_units, positive_desc[first - 1]) if first else None
    reaching = Fraction(limit_units, positive_desc[first]) if first < len(positive_desc) else None
    return below, reaching


def _round(pool_units: int, weights_desc: Sequence[int], level: Fraction, total: _Total) -> list[int]:
    """Largest remainders: whole units of each ideal amount, then one more unit to each of the largest fractions.

    ``weights_desc`` runs by larger weight, then smaller key, so the position breaks ties between remainders.
    """
    floor_units, cap_units = total.floor_units, total.cap_units
    # Floor and cap are whole units, so an ideal amount is below the floor iff its whole part is, and at or above
    # the cap iff its whole part is; the remainders of the others share the denominator and compare as integers.
    numerator, denominator = level.numerator, level.denominator
    parts = [divmod(numerator * weight, denominator) for weight in weights_desc]
    units = [floor_units if whole < floor_units else cap_units if whole > cap_units else whole for whole, _ in parts]
    fraction_of = {
        position: remainder
        for position, (whole, remainder) in enumerate(parts)
        if floor_units <= whole < cap_units and remainder
    }
    # The ideal amounts sum to the pool, so the leftover is the sum of the fractional parts: fewer units than
    # members with a fraction, one each. Such a member lies strictly between the floor and the cap, both whole
    # units (floor rounded up, cap down), so neither rounding it down nor up can cross either.
    leftover = pool_units - sum(units)
    assert 0 <= leftover <= len(fraction_of)
    # Positions come in ascending order and the sort is stable: equal fractions keep the tie-break order.
    for position in sorted(fraction_of, key=fraction_of.__getitem__, reverse=True)[:leftover]:
        units[position] += 1
    return units


def _received_points(squad: Mapping[K, Fraction], peer_allocations: Mapping[K, Mapping[K, int]]) -> dict[K, int]:
    received = dict.fromkeys(squad, 0)
    for giver, given in peer_allocations.items():
        if giver not in received:
            raise AllocationError(f"giver {giver!r} is not in the squad", "peerAllocations")
        for receiver, points in given.items():
            _check_gift(giver, receiver, points, received)
            received[receiver] += points
        total = sum(given.values())
        if total != PEER_POINTS:
            raise AllocationError(
                f"{giver!r} hands out {total} points; each giver hands out exactly {PEER_POINTS}", "peerAllocations"
            )
    return received


def _check_gift(giver: K, receiver: K, points: int, squad: Mapping[K, int]) -> None:
    if receiver not in squad:
        raise AllocationError(f"receiver {receiver!r} of {giver!r} is not in the squad", "peerAllocations")
    if receiver == giver:
        raise AllocationError(f"{giver!r} cannot give points to themselves", "peerAllocations")
    if not isinstance(points, int) or points < 0:
        raise AllocationError(
            f"{giver!r} gives {points!r} points to {receiver!r}; points must be a whole number of 0 or more",
            "peerAllocations",
        )


def _normalised(values: Mapping[K, Fraction | int]) -> dict[K, Fraction]:
    total = sum(values.values())
    return {key: Fraction(value) / total if total else Fraction(0) for key, value in values.items()}
