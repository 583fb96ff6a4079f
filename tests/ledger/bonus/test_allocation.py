"""cellorg.ledger.bonus.allocation against exact worked examples and a naive rational reference."""

import math
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cellorg.ledger.bonus.allocation import AllocationError, Limit, Weight, allocate, blend_peer_round

CENT = 100


def cents(units: int) -> Decimal:
    return Decimal(units).scaleb(-2)


def units_of(amount: Decimal, digits: int = 2) -> int:
    """The amount in minor units, refusing anything that is not written in exactly that unit."""
    assert amount.as_tuple().exponent == -digits, amount
    return int(amount.scaleb(digits))


def amounts(*values: str) -> list[Decimal]:
    return [Decimal(value) for value in values]


# Naive reference: the same definition, computed without any of the implementation's shortcuts.


def limit_units(limit: Limit | None, pool: Decimal, *, round_up: bool) -> int | None:
    if limit is None:
        return None
    exact = Fraction(limit.amount) if limit.amount is not None else Fraction(limit.share or 0) * Fraction(pool)
    return math.ceil(exact * CENT) if round_up else math.floor(exact * CENT)


def clamp(value: Fraction, low: int, high: int | None) -> Fraction:
    value = max(value, Fraction(low))
    return value if high is None else min(value, Fraction(high))


def ideal_units(pool_units: int, weights: Mapping[Any, Weight], low: int, high: int | None) -> dict[Any, Fraction]:
    """clamp(t * w, floor, cap) at the t where the ideal amounts sum to the pool.

    Tries every breakpoint of the sum in increasing order and interpolates between the last one below the pool and
    the first one reaching it.
    """
    exact = {key: Fraction(weight) for key, weight in weights.items()}

    def at(level: Fraction) -> dict[Any, Fraction]:
        return {key: clamp(level * weight, low, high) for key, weight in exact.items()}

    def total(level: Fraction) -> Fraction:
        return sum(at(level).values(), Fraction(0))

    positive = [weight for weight in exact.values() if weight > 0]
    breakpoints = {Fraction(0), pool_units / min(positive)} | {low / weight for weight in positive}
    if high is not None:
        breakpoints |= {high / weight for weight in positive}
    previous = Fraction(0)
    for point in sorted(breakpoints):
        if total(point) >= pool_units:
            break
        previous = point
    if total(point) == pool_units:
        return at(point)
    below, above = total(previous), total(point)
    return at(previous + (pool_units - below) * (point - previous) / (above - below))


def expected_failure(
    pool: Decimal, weights: Mapping[Any, Weight], floor: Limit | None, cap: Limit | None
) -> str | None:
    pool_units = units_of(pool)
    low = limit_units(floor, pool, round_up=True) or 0
    high = limit_units(cap, pool, round_up=False)
    without = sum(1 for weight in weights.values() if weight == 0)
    if high is not None and low > high:
        return "floor"
    if len(weights) * low > pool_units:
        return "floor"
    if high is not None and (len(weights) - without) * high + without * low < pool_units:
        return "cap"
    return None


# Strategies


WEIGHTS = st.one_of(
    st.just(0),
    st.integers(min_value=1, max_value=100),
    st.integers(min_value=0, max_value=10**18),
    st.decimals(min_value=0, max_value=10**6, places=4, allow_nan=False, allow_infinity=False),
    st.builds(lambda digits, exponent: Decimal(digits).scaleb(-exponent), st.integers(1, 999), st.integers(10, 30)),
    st.fractions(min_value=0, max_value=1000, max_denominator=10**4),
)


def weight_maps(keys: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[Any, Weight]]:
    return st.dictionaries(keys, WEIGHTS, min_size=1, max_size=12).filter(lambda weights: any(weights.values()))


MEMBERS = st.one_of(
    weight_maps(st.integers(min_value=-50, max_value=50)),
    weight_maps(st.text(alphabet="abcdef", min_size=1, max_size=3)),
)


def limits_between(pool_units: int, low: int, high: int) -> st.SearchStrategy[Limit]:
    """A limit near ``low`` to ``high`` cents, as an amount or as a share of the pool rounded to 6 places."""

    def share(units: int) -> Limit:
        if pool_units == 0:
            return Limit(share=Decimal("0.5"))
        return Limit(share=min(Decimal(1), (Decimal(units) / pool_units).quantize(Decimal("0.000001"))))

    units = st.integers(min_value=low, max_value=max(low, high))
    return st.one_of(units.map(lambda unit: Limit(amount=cents(unit))), units.map(share))


@dataclass(frozen=True)
class Case:
    pool: Decimal
    weights: dict[Any, Weight]
    floor: Limit | None
    cap: Limit | None


@st.composite
def cases(draw: st.DrawFn) -> Case:
    """Pools, weights, and a floor and a cap that can usually be met together (shares may round past that)."""
    weights = draw(MEMBERS)
    pool_units = draw(st.one_of(st.integers(min_value=0, max_value=10**11), st.integers(min_value=0, max_value=50)))
    pool = cents(pool_units)
    floor = draw(st.none() | limits_between(pool_units, 0, pool_units // len(weights)))
    low = limit_units(floor, pool, round_up=True) or 0
    without = sum(1 for weight in weights.values() if weight == 0)
    least_cap = max(low, -(-(pool_units - without * low) // (len(weights) - without)))
    cap = draw(st.none() | limits_between(pool_units, least_cap, pool_units))
    return Case(pool, weights, floor, cap)


# allocate: properties


@given(case=cases(), data=st.data())
def test_allocation_is_whole_cents_summing_to_the_pool_within_limits_whatever_the_order(
    case: Case, data: st.DataObject
) -> None:
    failure = expected_failure(case.pool, case.weights, case.floor, case.cap)
    if failure is not None:
        with pytest.raises(AllocationError) as raised:
            allocate(case.pool, case.weights, floor=case.floor, cap=case.cap)
        assert raised.value.field == failure
        return
    result = allocate(case.pool, case.weights, floor=case.floor, cap=case.cap)
    shuffled = dict(data.draw(st.permutations(list(case.weights.items()))))
    low = limit_units(case.floor, case.pool, round_up=True) or 0
    high = limit_units(case.cap, case.pool, round_up=False)

    assert result.keys() == case.weights.keys()
    units = {key: units_of(amount) for key, amount in result.items()}
    assert sum(units.values()) == units_of(case.pool)
    assert all(low <= unit and (high is None or unit <= high) for unit in units.values())
    reordered = allocate(case.pool, shuffled, floor=case.floor, cap=case.cap)
    assert {key: str(amount) for key, amount in reordered.items()} == {
        key: str(amount) for key, amount in result.items()
    }


@given(case=cases())
def test_allocation_rounds_the_rational_ideal_by_largest_remainder(case: Case) -> None:
    if expected_failure(case.pool, case.weights, case.floor, case.cap) is not None:
        return
    low = limit_units(case.floor, case.pool, round_up=True) or 0
    high = limit_units(case.cap, case.pool, round_up=False)
    ideal = ideal_units(units_of(case.pool), case.weights, low, high)
    units = {
        key: units_of(amount)
        for key, amount in allocate(case.pool, case.weights, floor=case.floor, cap=case.cap).items()
    }

    assert all(abs(units[key] - ideal[key]) < 1 for key in units)
    assert all(math.floor(ideal[key]) <= units[key] <= math.ceil(ideal[key]) for key in units)
    rounded_up = [ideal[key] % 1 for key in units if units[key] > ideal[key]]
    rounded_down = [ideal[key] % 1 for key in units if units[key] < ideal[key]]
    assert not rounded_up or not rounded_down or min(rounded_up) >= max(rounded_down)


@given(case=cases())
def test_larger_weight_never_gets_less_and_equal_weights_differ_by_one_cent_at_most(case: Case) -> None:
    """Holds with caps and floors too: every member shares the same ones, so clamp(t * w) keeps the order of the
    weights, and the tie-break (larger weight, then smaller key) keeps it through the rounding."""
    if expected_failure(case.pool, case.weights, case.floor, case.cap) is not None:
        return
    units = {
        key: units_of(amount)
        for key, amount in allocate(case.pool, case.weights, floor=case.floor, cap=case.cap).items()
    }
    for first, first_weight in case.weights.items():
        for second, second_weight in case.weights.items():
            if first_weight > second_weight:
                assert units[first] >= units[second], (first, second)
            if first_weight == second_weight and first < second:
                assert units[first] - units[second] in {0, 1}, (first, second)


@given(
    weights=MEMBERS,
    pool_units=st.integers(min_value=0, max_value=10**6),
    floor_units=st.none() | st.integers(min_value=0, max_value=10**6),
    cap_units=st.none() | st.integers(min_value=0, max_value=10**6),
)
def test_any_floor_and_cap_either_hold_or_are_refused_naming_the_limit(
    weights: dict[Any, Weight], pool_units: int, floor_units: int | None, cap_units: int | None
) -> None:
    pool = cents(pool_units)
    floor = None if floor_units is None else Limit(amount=cents(floor_units))
    cap = None if cap_units is None else Limit(amount=cents(cap_units))
    failure = expected_failure(pool, weights, floor, cap)
    if failure is not None:
        with pytest.raises(AllocationError) as raised:
            allocate(pool, weights, floor=floor, cap=cap)
        assert raised.value.field == failure
        return
    units = [units_of(amount) for amount in allocate(pool, weights, floor=floor, cap=cap).values()]
    assert sum(units) == pool_units
    assert all((floor_units or 0) <= unit <= (cap_units if cap_units is not None else pool_units) for unit in units)


# allocate: worked examples


def test_equal_weights_give_the_extra_cent_to_the_smallest_key() -> None:
    assert allocate(Decimal("100.00"), {"b": 1, "c": 1, "a": 1}) == {
        "a": Decimal("33.34"),
        "b": Decimal("33.33"),
        "c": Decimal("33.33"),
    }
    assert allocate(Decimal("100.00"), {3: 1, 1: 1, 2: 1}) == {
        1: Decimal("33.34"),
        2: Decimal("33.33"),
        3: Decimal("33.33"),
    }


def test_amounts_are_written_in_cents_even_for_a_pool_written_without_them() -> None:
    result = allocate(Decimal("100"), {"a": 1, "b": 1})

    assert [str(amount) for amount in result.values()] == ["50.00", "50.00"]


def test_equal_remainders_go_to_the_larger_weight_before_the_smaller_key() -> None:
    # Ideal 2.5 and 7.5 cents: the same half cent left over on each side.
    assert allocate(Decimal("0.10"), {"a": 1, "b": 3}) == {"a": Decimal("0.02"), "b": Decimal("0.08")}


def test_a_cap_of_a_share_of_the_pool_spreads_the_excess_over_the_others_by_weight() -> None:
    result = allocate(Decimal("100.00"), {"a": 8, "b": 1, "c": 1}, cap=Limit(share=Decimal("0.4")))

    assert result == {"a": Decimal("40.00"), "b": Decimal("30.00"), "c": Decimal("30.00")}


def test_cap_redistribution_cascades_until_no_one_is_over() -> None:
    # a's excess pushes b over the cap, and b's excess then pushes c over it.
    weights = {"a": 50, "b": 20, "c": 15, "d": 10, "e": 5}

    result = allocate(Decimal("100.00"), weights, cap=Limit(amount=Decimal("24.00")))

    assert list(result.values()) == amounts("24.00", "24.00", "24.00", "18.67", "9.33")


def test_a_floor_is_funded_from_the_others_in_proportion_to_their_weights() -> None:
    # a's ideal 10.00 is lifted to 15.00; b and c share the other 85.00 as 4 : 5.
    result = allocate(Decimal("100.00"), {"a": 1, "b": 4, "c": 5}, floor=Limit(amount=Decimal("15.00")))

    assert list(result.values()) == amounts("15.00", "37.78", "47.22")


def test_members_without_contributions_get_the_floor() -> None:
    result = allocate(Decimal("100.00"), {"a": 0, "b": 1, "c": 3}, floor=Limit(share=Decimal("0.1")))

    assert list(result.values()) == amounts("10.00", "22.50", "67.50")
    assert list(allocate(Decimal("100.00"), {"a": 0, "b": 1}).values()) == amounts("0.00", "100.00")


def test_a_cap_and_a_floor_bind_at_once() -> None:
    weights = {"a": 100, "b": 10, "c": 1, "d": 0}

    result = allocate(Decimal("100.00"), weights, floor=Limit(amount=Decimal("10")), cap=Limit(amount=Decimal("50")))

    assert list(result.values()) == amounts("50.00", "30.00", "10.00", "10.00")


def test_a_cap_is_rounded_down_to_whole_cents_so_the_extra_cent_cannot_break_it() -> None:
    # At a cap of exactly 30.005 the ideal amounts 30.005, 30.005, 9.99 would round a to 30.01.
    result = allocate(Decimal("70.00"), {"a": 5, "b": 5, "c": 1}, cap=Limit(amount=Decimal("30.005")))

    assert list(result.values()) == amounts("30.00", "30.00", "10.00")


def test_a_floor_is_rounded_up_to_whole_cents() -> None:
    result = allocate(Decimal("100.00"), {"a": 1, "b": 9}, floor=Limit(amount=Decimal("10.001")))

    assert list(result.values()) == amounts("10.01", "89.99")


def test_a_zero_pool_gives_everyone_zero() -> None:
    assert [str(amount) for amount in allocate(Decimal("0.00"), {"a": 1, "b": 2}).values()] == ["0.00", "0.00"]


def test_yen_are_split_in_whole_yen() -> None:
    result = allocate(Decimal("1000"), {"a": 1, "b": 1, "c": 1}, minor_unit_digits=0)

    assert [str(amount) for amount in result.values()] == ["334", "333", "333"]


def test_kuwaiti_dinars_are_split_in_fils() -> None:
    result = allocate(Decimal("10.000"), {"a": 1, "b": 1, "c": 1}, minor_unit_digits=3)

    assert [str(amount) for amount in result.values()] == ["3.334", "3.333", "3.333"]


def test_fraction_decimal_and_int_weights_mix_exactly() -> None:
    # 1/3 : 0.5 : 1 is 2 : 3 : 6 of 11.00.
    result = allocate(Decimal("11.00"), {"a": Fraction(1, 3), "b": Decimal("0.5"), "c": 1})

    assert list(result.values()) == amounts("2.00", "3.00", "6.00")


def test_ten_thousand_members_with_a_cap_and_a_floor_sum_to_the_pool() -> None:
    # Ten heavy members run into the cap; the member numbered 1000 has no weight and gets the floor.
    weights = {member: 10**5 if member < 10 else (member * 7919) % 1000 for member in range(10_000)}
    floor, cap = Limit(amount=Decimal("20.00")), Limit(share=Decimal("0.0005"))

    result = allocate(Decimal("1234567.89"), weights, floor=floor, cap=cap)

    units = [units_of(amount) for amount in result.values()]
    assert sum(units) == 123456789
    assert min(units) == 2000
    assert max(units) == 61728
    assert [result[member] for member in range(10)] == [Decimal("617.28")] * 10
    assert result[1000] == Decimal("20.00")


# allocate: refusals


@pytest.mark.parametrize(
    ("pool", "weights", "options", "field", "message"),
    [
        (Decimal("NaN"), {"a": 1}, {}, "pool", "pool must be a finite Decimal"),
        (Decimal("Infinity"), {"a": 1}, {}, "pool", "pool must be a finite Decimal"),
        (100.0, {"a": 1}, {}, "pool", "pool must be a finite Decimal, got 100.0"),
        (Decimal("-0.01"), {"a": 1}, {}, "pool", "pool must not be negative, got -0.01"),
        (Decimal("1.005"), {"a": 1}, {}, "pool", "pool must be whole minor units of 0.01, got 1.005"),
        (Decimal("1.5"), {"a": 1}, {"minor_unit_digits": 0}, "pool", "whole minor units of 1, got 1.5"),
        (Decimal("1.0005"), {"a": 1}, {"minor_unit_digits": 3}, "pool", "whole minor units of 0.001"),
        (Decimal(1), {"a": 1}, {"minor_unit_digits": -1}, "pool", "minor_unit_digits must be a whole number"),
        (Decimal(1), {}, {}, "weights", "no members to split the pool among"),
        (Decimal(1), {"a": 1, "b": -1}, {}, "weights", "weight of 'b' must not be negative, got -1"),
        (Decimal(1), {"a": Fraction(-1, 2)}, {}, "weights", "weight of 'a' must not be negative, got -1/2"),
        (Decimal(1), {"a": Decimal("NaN")}, {}, "weights", "weight of 'a' must be finite, got NaN"),
        (Decimal(1), {"a": Decimal("-Infinity")}, {}, "weights", "weight of 'a' must be finite"),
        (Decimal(1), {"a": 0.5}, {}, "weights", "weight of 'a' must be an int, Fraction or Decimal, got float"),
        (Decimal(1), {"a": 0, "b": Decimal(0)}, {}, "weights", "no contributions to split the pool by"),
        (
            Decimal(100),
            {"a": 1},
            {"floor": Limit(amount=Decimal("10.001")), "cap": Limit(amount=Decimal("10.009"))},
            "floor",
            "floor of 10.01 is above the cap of 10.00",
        ),
        (
            Decimal(100),
            {"a": 1, "b": 1, "c": 1},
            {"floor": Limit(amount=Decimal(40))},
            "floor",
            "floors of 40.00 for 3 members need 120.00, 20.00 more than the pool of 100.00",
        ),
        (
            Decimal(100),
            {"a": 1, "b": 1, "c": 1},
            {"cap": Limit(share=Decimal("0.3"))},
            "cap",
            "caps of 30.00 for 3 members hold at most 90.00, 10.00 less than the pool of 100.00",
        ),
        (
            Decimal(100),
            {"a": 1, "b": 0},
            {"cap": Limit(amount=Decimal(60)), "floor": Limit(amount=Decimal(5))},
            "cap",
            "hold at most 65.00, 35.00 less than the pool of 100.00 (members without contributions get only the floor",
        ),
    ],
)
def test_allocate_refuses(pool: Any, weights: Any, options: dict[str, Any], field: str, message: str) -> None:
    with pytest.raises(AllocationError) as raised:
        allocate(pool, weights, **options)

    assert raised.value.field == field
    assert message in raised.value.message


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({}, "a cap or floor takes exactly one of amount and share"),
        ({"amount": Decimal(1), "share": Decimal("0.1")}, "a cap or floor takes exactly one of amount and share"),
        ({"amount": Decimal("-0.01")}, "a cap or floor amount must be a Decimal of 0 or more, got Decimal('-0.01')"),
        ({"amount": Decimal("NaN")}, "a cap or floor amount must be a Decimal of 0 or more"),
        ({"amount": 5}, "a cap or floor amount must be a Decimal of 0 or more, got 5"),
        ({"share": Decimal("1.01")}, "a cap or floor share must be a Decimal from 0 to 1, got Decimal('1.01')"),
        ({"share": Decimal("-0.1")}, "a cap or floor share must be a Decimal from 0 to 1"),
    ],
)
def test_a_limit_refuses_anything_but_one_amount_or_one_share(options: dict[str, Any], message: str) -> None:
    with pytest.raises(AllocationError) as raised:
        Limit(**options)

    # A limit does not know whether it is a cap or a floor; the caller building it from the input does.
    assert raised.value.field is None
    assert message in raised.value.message


def test_a_limit_resolves_a_share_of_the_pool_exactly() -> None:
    # 29 significant digits: one more than the default Decimal context keeps.
    resolved = Limit(share=Decimal("0.4")).resolve(Decimal("123456789012345678901234567.89"))

    assert resolved == Decimal("49382715604938271560493827.156")
    assert Limit(amount=Decimal("1500.00")).resolve(Decimal("10.00")) == Decimal("1500.00")


# blend_peer_round


SQUAD = {1: 3, 2: 1, 3: 0}
PEERS = {1: {2: 60, 3: 40}, 2: {1: 100}, 3: {1: 50, 2: 50}}


def test_blend_weighs_normalised_contributions_against_normalised_points_received() -> None:
    # Contributions 3/4, 1/4, 0; points received 150, 110, 40 of 300.
    result = blend_peer_round(SQUAD, PEERS, Fraction(1, 4))

    assert result == {1: Fraction(11, 16), 2: Fraction(67, 240), 3: Fraction(1, 30)}
    assert sum(result.values()) == 1


def test_blend_without_peer_weight_is_the_normalised_contributions() -> None:
    assert blend_peer_round(SQUAD, PEERS, Fraction(0)) == {1: Fraction(3, 4), 2: Fraction(1, 4), 3: Fraction(0)}


def test_blend_with_full_peer_weight_is_the_normalised_points() -> None:
    assert blend_peer_round(SQUAD, PEERS, Fraction(1)) == {1: Fraction(1, 2), 2: Fraction(11, 30), 3: Fraction(2, 15)}


def test_blend_drops_the_peer_part_when_nobody_gave_points() -> None:
    assert blend_peer_round(SQUAD, {}, Fraction(1, 2)) == {1: Fraction(3, 4), 2: Fraction(1, 4), 3: Fraction(0)}


def test_blend_drops_the_contribution_part_when_nobody_contributed() -> None:
    result = blend_peer_round({1: 0, 2: 0, 3: 0}, PEERS, Fraction(1, 4))

    assert result == {1: Fraction(1, 2), 2: Fraction(11, 30), 3: Fraction(2, 15)}


def test_a_blended_round_splits_a_pool_exactly() -> None:
    weights = blend_peer_round(SQUAD, PEERS, Fraction(1, 4))

    assert allocate(Decimal("2400.00"), weights) == {1: Decimal("1650.00"), 2: Decimal("670.00"), 3: Decimal("80.00")}


@st.composite
def peer_rounds(draw: st.DrawFn) -> tuple[dict[int, int], dict[int, dict[int, int]]]:
    squad = draw(st.dictionaries(st.integers(0, 20), st.integers(0, 10**6), min_size=2, max_size=8))
    allocations: dict[int, dict[int, int]] = {}
    for giver in draw(st.lists(st.sampled_from(sorted(squad)), unique=True)):
        others = [member for member in squad if member != giver]
        cuts = sorted(draw(st.lists(st.integers(0, 100), min_size=len(others) - 1, max_size=len(others) - 1)))
        allocations[giver] = {
            other: high - low for other, low, high in zip(others, [0, *cuts], [*cuts, 100], strict=True)
        }
    return squad, allocations


@given(round_=peer_rounds(), peer_weight=st.fractions(min_value=0, max_value=1))
def test_blended_weights_are_non_negative_and_sum_to_one(
    round_: tuple[dict[int, int], dict[int, dict[int, int]]], peer_weight: Fraction
) -> None:
    squad, allocations = round_
    if not any(squad.values()) and not allocations:
        with pytest.raises(AllocationError, match="no contributions"):
            blend_peer_round(squad, allocations, peer_weight)
        return
    result = blend_peer_round(squad, allocations, peer_weight)

    assert result.keys() == squad.keys()
    assert sum(result.values()) == 1
    assert all(weight >= 0 for weight in result.values())


@pytest.mark.parametrize(
    ("squad", "allocations", "peer_weight", "field", "message"),
    [
        (SQUAD, {4: {1: 100}}, Fraction(1, 2), "peerAllocations", "giver 4 is not in the squad"),
        (SQUAD, {1: {2: 50, 4: 50}}, Fraction(1, 2), "peerAllocations", "receiver 4 of 1 is not in the squad"),
        (SQUAD, {1: {1: 50, 2: 50}}, Fraction(1, 2), "peerAllocations", "1 cannot give points to themselves"),
        (SQUAD, {1: {2: 110, 3: -10}}, Fraction(1, 2), "peerAllocations", "1 gives -10 points to 3"),
        (SQUAD, {2: {1: 50, 3: 40}}, Fraction(1, 2), "peerAllocations", "2 hands out 90 points"),
        (SQUAD, {2: {}}, Fraction(1, 2), "peerAllocations", "2 hands out 0 points; each giver hands out exactly 100"),
        (SQUAD, PEERS, Fraction(3, 2), "peerAllocations", "peer weight must be a Fraction from 0 to 1, got Fraction(3"),
        (SQUAD, PEERS, Fraction(-1, 10), "peerAllocations", "peer weight must be a Fraction from 0 to 1"),
        (SQUAD, PEERS, 0.5, "peerAllocations", "peer weight must be a Fraction from 0 to 1, got 0.5"),
        ({1: 1, 2: -1}, {}, Fraction(1, 2), "weights", "weight of 2 must not be negative"),
        ({1: 0, 2: 0}, {}, Fraction(1, 2), "weights", "no contributions to split the pool by"),
        ({}, {}, Fraction(1, 2), "weights", "no contributions to split the pool by"),
    ],
)
def test_blend_refuses(squad: Any, allocations: Any, peer_weight: Any, field: str, message: str) -> None:
    with pytest.raises(AllocationError) as raised:
        blend_peer_round(squad, allocations, peer_weight)

    assert raised.value.field == field
    assert message in raised.value.message
