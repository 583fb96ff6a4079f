"""The squad matcher: the exact optimum under squad constraints, pruning, alternatives and plain-word reasons."""

import itertools
import random
from collections import Counter
from collections.abc import Callable, Iterator, Sequence

import pytest

from cellorg.talent_pool import matcher
from cellorg.talent_pool.matcher import (
    Alternative,
    Candidate,
    Infeasible,
    MaxPerUnit,
    MinDistinctUnits,
    Proposal,
    Score,
    Slot,
    SquadConstraints,
    match,
)

Scores = dict[tuple[int, int], Score]
Instance = tuple[list[Slot], list[Candidate], Scores, SquadConstraints]


def seeded(seed: int) -> random.Random:
    return random.Random(seed)  # noqa: S311  (reproducible test data, not cryptography)


def score(total: float) -> Score:
    return Score(total, {"level": total})


def person(person_id: int, region: int | None = None, function: int | None = None) -> Candidate:
    return Candidate(person_id, {"region": region, "function": function})


def squad_of(result: Proposal | Infeasible) -> list[tuple[int, int]]:
    assert isinstance(result, Proposal), result
    return [(assignment.slot_id, assignment.person_id) for assignment in result.assignments]


def reasons_of(result: Proposal | Infeasible) -> tuple[str, ...]:
    assert isinstance(result, Infeasible), result
    return result.reasons


def meets_constraints(people: Sequence[int], candidates: Sequence[Candidate], constraints: SquadConstraints) -> bool:
    units = {candidate.person_id: candidate.units for candidate in candidates}
    for rule in constraints.max_per_unit:
        per_unit = Counter(units[p].get(rule.dimension) for p in people)
        per_unit.pop(None, None)
        if any(count > rule.limit for count in per_unit.values()):
            return False
    for spread in constraints.min_distinct:
        if len({units[p].get(spread.dimension) for p in people} - {None}) < spread.count:
            return False
    return constraints.include <= set(people) and not constraints.exclude & set(people)


def seatings(slots: Sequence[Slot], people: Sequence[int], scores: Scores) -> Iterator[list[tuple[int, int]]]:
    """Every way to fill the slots' headcounts from ``people``, one seat per person."""
    if not slots:
        yield []
        return
    slot, rest = slots[0], slots[1:]
    eligible = [p for p in people if (slot.slot_id, p) in scores]
    for group in itertools.combinations(eligible, slot.headcount):
        remaining = [p for p in people if p not in group]
        for seating in seatings(rest, remaining, scores):
            yield [(slot.slot_id, p) for p in group] + seating


def brute_force_best(instance: Instance) -> float | None:
    """The best total over every valid squad, by enumeration; None when no squad is valid."""
    slots, candidates, scores, constraints = instance
    people = [candidate.person_id for candidate in candidates]
    totals = [
        sum(scores[pair].total for pair in seating)
        for seating in seatings(slots, people, scores)
        if meets_constraints([p for _, p in seating], candidates, constraints)
    ]
    return max(totals, default=None)


def assert_valid(proposal: Proposal, instance: Instance) -> None:
    slots, candidates, scores, constraints = instance
    people = [assignment.person_id for assignment in proposal.assignments]
    assert len(people) == len(set(people))
    assert Counter(assignment.slot_id for assignment in proposal.assignments) == {s.slot_id: s.headcount for s in slots}
    assert all(scores[a.slot_id, a.person_id] == a.score for a in proposal.assignments)
    assert meets_constraints(people, candidates, constraints)
    assert proposal.total == sum(assignment.score.total for assignment in proposal.assignments)


def random_instance(rng: random.Random, candidate_count: int, slot_count: int) -> Instance:
    """Slots of headcount 1-2, people with 1-3 units per dimension (or none), random eligibility and constraints."""
    slots = [Slot(slot_id, rng.randint(1, 2)) for slot_id in range(1, slot_count + 1)]
    units = {dimension: [None, *range(1, rng.randint(1, 3) + 1)] for dimension in ("region", "function")}
    candidates = [
        Candidate(p, {dimension: rng.choice(choices) for dimension, choices in units.items()})
        for p in range(1, candidate_count + 1)
    ]
    decimals = rng.choice((0, 1, 6))  # few decimals make ties common
    scores = {
        (slot.slot_id, c.person_id): score(round(rng.uniform(-1, 5), decimals))
        for slot in slots
        for c in candidates
        if rng.random() < 0.7
    }
    people = [c.person_id for c in candidates]
    dimensions = list(units)
    constraints = SquadConstraints(
        max_per_unit=tuple(MaxPerUnit(rng.choice(dimensions), rng.randint(0, 2)) for _ in range(rng.randint(0, 2))),
        min_distinct=tuple(
            MinDistinctUnits(rng.choice(dimensions), rng.randint(1, 3)) for _ in range(rng.randint(0, 1))
        ),
        include=frozenset(rng.sample(people, rng.choice((0, 0, 1, 2)))),
        exclude=frozenset(rng.sample(people, rng.choice((0, 0, 1, 2)))),
    )
    return slots, candidates, scores, constraints


def assert_matches_brute_force(instance: Instance, seed: int) -> None:
    result = match(*instance)
    best = brute_force_best(instance)
    if best is None:
        assert isinstance(result, Infeasible), f"seed {seed}: brute force finds no squad, matcher proposed {result}"
        assert result.reasons, f"seed {seed}: no reason given"
        return
    assert isinstance(result, Proposal), f"seed {seed}: brute force finds {best}, matcher says {result}"
    assert abs(result.total - best) <= 1e-9, f"seed {seed}: matcher total {result.total} != brute force {best}"
    assert_valid(result, instance)


@pytest.mark.parametrize("seed", range(200))
def test_small_random_instance_matches_brute_force_optimum_and_feasibility(seed: int) -> None:
    rng = seeded(seed)
    assert_matches_brute_force(random_instance(rng, rng.randint(3, 7), rng.randint(1, 3)), seed)


@pytest.mark.parametrize("seed", range(40))
def test_pruned_random_instance_with_many_candidates_matches_brute_force(seed: int) -> None:
    rng = seeded(10_000 + seed)
    assert_matches_brute_force(random_instance(rng, rng.randint(15, 25), 2), seed)


def test_pruning_drops_candidates_yet_keeps_the_unpruned_optimum(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = seeded(2024)
    slots = [Slot(1, 2), Slot(2, 1)]
    candidates = [person(p, region=rng.randint(1, 3), function=rng.randint(1, 2)) for p in range(1, 41)]
    scores = {(s.slot_id, c.person_id): score(rng.randint(0, 30) / 3) for s in slots for c in candidates}
    constraints = SquadConstraints(
        max_per_unit=(MaxPerUnit("function", 2),), min_distinct=(MinDistinctUnits("region", 3),), include=frozenset({7})
    )
    instance = (slots, candidates, scores, constraints)
    model_sizes: list[int] = []
    build_model = matcher._model

    def recorded_model(pool: matcher._Pool, rules: matcher._Rules) -> matcher._Model:
        model = build_model(pool, rules)
        model_sizes.append(len(model.person))
        return model

    monkeypatch.setattr(matcher, "_model", recorded_model)

    pruned = match(*instance)
    monkeypatch.setattr(matcher, "_shortlist", lambda pool, _rules, slot: pool.ranked(slot, len(scores)).person_ids)
    unpruned = match(*instance)

    assert isinstance(pruned, Proposal) and isinstance(unpruned, Proposal)
    assert model_sizes[0] < len(scores) / 2 and model_sizes[1] == len(scores)
    best = brute_force_best(instance)
    assert best is not None
    assert abs(pruned.total - best) <= 1e-9 and abs(unpruned.total - best) <= 1e-9
    assert_valid(pruned, instance)


def test_large_pool_with_many_exclusions_matches_the_unpruned_optimum(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = seeded(5)
    slots = [Slot(slot_id, rng.randint(1, 3)) for slot_id in range(1, 7)]
    candidates = [person(p, region=rng.randint(1, 4), function=rng.randint(1, 10)) for p in range(1, 2001)]
    scores = {
        (slot.slot_id, c.person_id): score(rng.randint(0, 400) / 100)
        for c in candidates
        for slot in rng.sample(slots, rng.randint(1, 3))
    }
    top = sorted(scores, key=lambda pair: -scores[pair].total)[:600]
    constraints = SquadConstraints(
        max_per_unit=(MaxPerUnit("function", 2),),
        min_distinct=(MinDistinctUnits("region", 4),),
        exclude=frozenset(p for _, p in top),  # the best are gone: each slot's ranking must widen past them
    )

    pruned = match(slots, candidates, scores, constraints)
    monkeypatch.setattr(matcher, "_shortlist", lambda pool, _rules, slot: pool.ranked(slot, len(scores)).person_ids)
    unpruned = match(slots, candidates, scores, constraints)

    assert isinstance(pruned, Proposal) and isinstance(unpruned, Proposal)
    assert abs(pruned.total - unpruned.total) <= 1e-9
    assert_valid(pruned, (slots, candidates, scores, constraints))


def test_without_constraints_the_best_scoring_people_fill_the_slots() -> None:
    slots = [Slot(1, 1), Slot(2, 2)]
    candidates = [person(p) for p in range(1, 5)]
    scores = {(1, 1): score(5), (1, 2): score(4), (2, 1): score(4.5), (2, 3): score(1), (2, 4): score(2)}

    result = match(slots, candidates, scores)

    assert squad_of(result) == [(1, 2), (2, 1), (2, 4)]
    assert isinstance(result, Proposal) and result.total == 10.5


def test_diversity_forces_a_lower_scoring_person_in() -> None:
    slots = [Slot(1, 2)]
    candidates = [person(1, region=1), person(2, region=1), person(3, region=2)]
    scores = {(1, 1): score(9), (1, 2): score(8), (1, 3): score(1)}

    plain = match(slots, candidates, scores)
    diverse = match(slots, candidates, scores, SquadConstraints(min_distinct=(MinDistinctUnits("region", 2),)))

    assert squad_of(plain) == [(1, 1), (1, 2)]
    assert squad_of(diverse) == [(1, 1), (1, 3)]
    assert isinstance(diverse, Proposal) and diverse.total == 10


def test_people_without_a_unit_do_not_count_as_a_distinct_unit() -> None:
    slots = [Slot(1, 2)]
    candidates = [person(1, region=1), person(2), Candidate(3, {}), person(4, region=2)]
    scores = {(1, 1): score(9), (1, 2): score(8), (1, 3): score(7), (1, 4): score(1)}

    result = match(slots, candidates, scores, SquadConstraints(min_distinct=(MinDistinctUnits("region", 2),)))

    assert squad_of(result) == [(1, 1), (1, 4)]


def test_max_per_unit_caps_how_many_people_share_a_unit() -> None:
    slots = [Slot(1, 2), Slot(2, 1)]
    candidates = [person(1, function=7), person(2, function=7), person(3, function=7), person(4, function=8)]
    scores = {(s, p): score(10 - p) for s in (1, 2) for p in range(1, 5)}

    result = match(slots, candidates, scores, SquadConstraints(max_per_unit=(MaxPerUnit("function", 2),)))

    assert sorted(p for _, p in squad_of(result)) == [1, 2, 4]
    assert isinstance(result, Proposal) and result.total == 9 + 8 + 6


def test_max_per_unit_ignores_people_without_a_unit() -> None:
    slots = [Slot(1, 3)]
    candidates = [person(1), person(2), person(3, function=7), person(4, function=7)]
    scores = {(1, p): score(10 - p) for p in range(1, 5)}

    result = match(slots, candidates, scores, SquadConstraints(max_per_unit=(MaxPerUnit("function", 1),)))

    assert squad_of(result) == [(1, 1), (1, 2), (1, 3)]


def test_included_person_is_seated_although_others_score_higher() -> None:
    slots = [Slot(1, 1), Slot(2, 1)]
    candidates = [person(p) for p in range(1, 4)]
    scores = {(1, 1): score(9), (2, 2): score(8), (1, 3): score(1), (2, 3): score(2)}

    result = match(slots, candidates, scores, SquadConstraints(include=frozenset({3})))

    assert squad_of(result) == [(1, 1), (2, 3)]


def test_excluded_person_is_never_seated_nor_offered_as_alternative() -> None:
    slots = [Slot(1, 1)]
    candidates = [person(p) for p in range(1, 5)]
    scores = {(1, p): score(10 - p) for p in range(1, 5)}

    result = match(slots, candidates, scores, SquadConstraints(exclude=frozenset({1, 3})))

    assert isinstance(result, Proposal)
    assert squad_of(result) == [(1, 2)]
    assert result.assignments[0].alternatives == (Alternative(4, scores[1, 4]),)


def test_alternatives_are_the_next_best_eligible_candidates_outside_the_squad() -> None:
    slots = [Slot(1, 1), Slot(2, 1)]
    candidates = [person(p) for p in range(1, 8)]
    scores = {(1, p): score(10 - p) for p in range(1, 7)} | {(2, 2): score(20), (2, 7): score(1)}

    result = match(slots, candidates, scores, alternatives=3)

    assert isinstance(result, Proposal)
    first, second = result.assignments
    assert (first.person_id, second.person_id) == (1, 2)
    assert first.alternatives == tuple(Alternative(p, scores[1, p]) for p in (3, 4, 5))
    assert second.alternatives == (Alternative(7, scores[2, 7]),)


def test_every_seat_of_a_slot_lists_the_same_alternatives_and_seats_are_ordered_by_score() -> None:
    slots = [Slot(1, 2)]
    candidates = [person(p) for p in range(1, 6)]
    scores = {(1, p): score(p) for p in range(1, 6)}

    result = match(slots, candidates, scores, alternatives=2)

    assert isinstance(result, Proposal)
    assert [a.person_id for a in result.assignments] == [5, 4]
    expected = (Alternative(3, scores[1, 3]), Alternative(2, scores[1, 2]))
    assert [a.alternatives for a in result.assignments] == [expected, expected]


def test_same_input_gives_the_same_squad_whatever_the_input_order() -> None:
    rng = seeded(77)
    slots = [Slot(1, 2), Slot(2, 2), Slot(3, 1)]
    candidates = [person(p, region=rng.randint(1, 3), function=rng.randint(1, 3)) for p in range(1, 31)]
    scores = {(s.slot_id, c.person_id): score(rng.randint(0, 3)) for s in slots for c in candidates}
    constraints = SquadConstraints(
        max_per_unit=(MaxPerUnit("function", 2),), min_distinct=(MinDistinctUnits("region", 3),)
    )
    shuffled_candidates = rng.sample(candidates, len(candidates))
    shuffled_scores = dict(rng.sample(list(scores.items()), len(scores)))

    first = match(slots, candidates, scores, constraints)
    second = match(slots, candidates, scores, constraints)
    shuffled = match(slots, shuffled_candidates, shuffled_scores, constraints)

    assert first == second == shuffled


def test_equal_scores_seat_the_lowest_person_ids() -> None:
    slots = [Slot(1, 2)]
    candidates = [person(p, region=1 + p % 2) for p in range(1, 9)]
    scores = {(1, p): score(1.0) for p in range(1, 9)}
    diverse = SquadConstraints(min_distinct=(MinDistinctUnits("region", 2),))

    assert squad_of(match(slots, candidates, scores)) == [(1, 1), (1, 2)]
    assert squad_of(match(slots, candidates, scores, diverse)) == [(1, 1), (1, 2)]
    assert squad_of(match(slots, candidates, scores, SquadConstraints(exclude=frozenset({1})))) == [(1, 2), (1, 3)]


def test_scores_for_unknown_slots_or_people_are_ignored() -> None:
    slots = [Slot(1, 1)]
    scores = {(1, 1): score(1), (1, 99): score(50), (9, 1): score(70)}

    result = match(slots, [person(1)], scores)

    assert squad_of(result) == [(1, 1)]
    assert isinstance(result, Proposal) and result.total == 1


def test_no_slots_give_an_empty_squad() -> None:
    assert match([], [person(1)], {}) == Proposal(0.0, ())


@pytest.mark.parametrize(
    ("slots", "candidates", "scores", "constraints", "reasons"),
    [
        pytest.param(
            [Slot(7, 2)],
            [person(1), person(2)],
            {(7, 1): score(1)},
            SquadConstraints(),
            ("slot 7 needs 2 people but only 1 candidate is eligible",),
            id="slot-short-of-candidates",
        ),
        pytest.param(
            [Slot(7, 1)],
            [person(1)],
            {(7, 1): score(1)},
            SquadConstraints(exclude=frozenset({1})),
            ("slot 7 needs 1 person but no candidate is eligible",),
            id="slot-emptied-by-exclusion",
        ),
        pytest.param(
            [Slot(1, 3)],
            [person(1, region=1), person(2, region=2), person(3, region=2), person(4)],
            {(1, p): score(1) for p in range(1, 5)},
            SquadConstraints(min_distinct=(MinDistinctUnits("region", 3),)),
            ("at least 3 distinct region units cannot be met: eligible candidates come from 2",),
            id="too-few-units",
        ),
        pytest.param(
            [Slot(1, 2)],
            [person(p, region=p) for p in range(1, 5)],
            {(1, p): score(1) for p in range(1, 5)},
            SquadConstraints(min_distinct=(MinDistinctUnits("region", 3),)),
            ("at least 3 distinct region units cannot be met: the squad has only 2 seats",),
            id="more-units-than-seats",
        ),
        pytest.param(
            [Slot(1, 1)],
            [person(1), person(12)],
            {(1, 1): score(1)},
            SquadConstraints(include=frozenset({12})),
            ("person 12 must be included but is eligible for no slot",),
            id="included-but-ineligible",
        ),
        pytest.param(
            [Slot(1, 1)],
            [person(1)],
            {(1, 1): score(1)},
            SquadConstraints(include=frozenset({13})),
            ("person 13 must be included but is not a candidate",),
            id="included-but-not-a-candidate",
        ),
        pytest.param(
            [Slot(1, 1)],
            [person(1), person(5)],
            {(1, 1): score(1), (1, 5): score(1)},
            SquadConstraints(include=frozenset({5}), exclude=frozenset({5})),
            ("person 5 is both included and excluded",),
            id="included-and-excluded",
        ),
        pytest.param(
            [Slot(1, 1)],
            [person(1), person(2)],
            {(1, 1): score(1), (1, 2): score(1)},
            SquadConstraints(include=frozenset({1, 2})),
            ("2 people must be included but the squad has only 1 seat",),
            id="more-included-than-seats",
        ),
        pytest.param(
            [Slot(1, 2)],
            [person(3, function=7), person(4, function=7)],
            {(1, 3): score(1), (1, 4): score(1)},
            SquadConstraints(max_per_unit=(MaxPerUnit("function", 1),), include=frozenset({3, 4})),
            ("at most 1 person per function unit cannot be met: included people 3, 4 are all in function unit 7",),
            id="included-people-over-a-cap",
        ),
        pytest.param(
            [Slot(1, 1), Slot(2, 1), Slot(3, 1)],
            [person(1), person(2)],
            {(1, 1): score(1), (2, 1): score(1), (3, 1): score(1), (3, 2): score(1)},
            SquadConstraints(),
            ("slots 1, 2 need 2 people together but only 1 candidate is eligible for any of them",),
            id="slots-competing-for-one-person",
        ),
        pytest.param(
            [Slot(1, 2)],
            [person(1, region=1, function=1), person(2, region=1, function=2), person(3, region=2, function=1)],
            {(1, p): score(1) for p in range(1, 4)},
            SquadConstraints(
                max_per_unit=(MaxPerUnit("function", 1),),
                min_distinct=(MinDistinctUnits("region", 2),),
                include=frozenset({1}),
            ),
            (
                "no squad meets every constraint at once; dropping any one of these makes it possible: "
                "at most 1 person per function unit; at least 2 distinct region units; including person 1",
            ),
            id="three-constraints-clash",
        ),
        pytest.param(
            [Slot(1, 2)],
            [person(1, region=1, function=1), person(2, region=1, function=1), person(3, region=2, function=1)],
            {(1, p): score(1) for p in range(1, 4)},
            SquadConstraints(max_per_unit=(MaxPerUnit("function", 1),), min_distinct=(MinDistinctUnits("region", 2),)),
            (
                "no squad meets every constraint at once; dropping any one of these makes it possible: "
                "at most 1 person per function unit",
            ),
            id="only-the-cap-is-to-blame",
        ),
        pytest.param(
            [Slot(1, 2)],
            [person(1, function=1), person(2, function=1)],
            {(1, 1): score(1), (1, 2): score(1)},
            SquadConstraints(max_per_unit=(MaxPerUnit("function", 1), MaxPerUnit("function", 1))),
            (
                "no squad meets every constraint at once, not even with any single one dropped: "
                "at most 1 person per function unit; at most 1 person per function unit",
            ),
            id="no-single-constraint-to-blame",
        ),
    ],
)
def test_infeasible_instance_says_which_constraint_fails(
    slots: list[Slot], candidates: list[Candidate], scores: Scores, constraints: SquadConstraints, reasons: tuple[str]
) -> None:
    assert reasons_of(match(slots, candidates, scores, constraints)) == reasons


def test_infeasible_instance_lists_every_plain_conflict() -> None:
    slots = [Slot(1, 2), Slot(2, 1)]
    candidates = [person(1), person(5)]
    scores = {(1, 1): score(1), (2, 1): score(1)}

    result = match(slots, candidates, scores, SquadConstraints(include=frozenset({5}), exclude=frozenset({5})))

    assert reasons_of(result) == (
        "person 5 is both included and excluded",
        "slot 1 needs 2 people but only 1 candidate is eligible",
    )


@pytest.mark.parametrize(
    ("build", "message"),
    [
        pytest.param(lambda: Slot(1, 0), "slot 1 has headcount 0", id="headcount-below-one"),
        pytest.param(lambda: MaxPerUnit("region", -1), "must not be negative", id="negative-limit"),
        pytest.param(lambda: MinDistinctUnits("region", -2), "must not be negative", id="negative-count"),
        pytest.param(lambda: match([Slot(1, 1), Slot(1, 2)], [], {}), "slot ids must be unique", id="duplicate-slots"),
        pytest.param(lambda: match([], [person(1), person(1)], {}), "person ids must be unique", id="duplicate-people"),
        pytest.param(
            lambda: match([], [], {}, alternatives=-1), "alternatives must not be", id="negative-alternatives"
        ),
        pytest.param(lambda: match([Slot(1, 1)], [person(1)], {(1, 1): score(float("nan"))}), "finite", id="nan-score"),
    ],
)
def test_malformed_input_raises_value_error(build: Callable[[], object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build()
