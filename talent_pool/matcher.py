"""Staff a squad exactly: the highest-scoring squad that fills every slot and meets every constraint.

``match`` fills each slot's headcount from the candidates scored for it (the caller computes the scores),
one seat per person at most, so that the total score is the maximum over all squads that meet the
constraints. Without squad-level constraints this is an assignment problem (``linear_sum_assignment``
over one row per seat); with them it is a MILP solved by HiGHS (``scipy.optimize.milp``).

Pruning keeps the answer exact. Let T be the number of seats and a candidate's *signature* its units in
the dimensions the constraints name. Take a feasible squad S, a seat of it (slot s, person p, p not
included) and a kept candidate q outside S who ranks above p for slot s. If q can take p's seat without
breaking a constraint, the swap loses no score and adds one kept pair; repeating it ends in a squad of
kept pairs only, so both the optimum and feasibility survive pruning. Two rules guarantee such a q for
every dropped p:

1. Per slot and signature, keep the best T, or the best ``limit`` if a ``MaxPerUnit`` caps the signature's
   unit: S holds at most that many people of p's signature, so one of them is outside S, and having p's
   units it changes no count.
2. Per slot, keep only a prefix L of the rule-1 survivors in which fewer than |L| candidates can be blocked
   by S: the T - 1 other members of S; for each ``MaxPerUnit``, the people of the (T - 1) // limit units S
   may already fill; for each ``MinDistinctUnits``, the people without a unit and those of the count - 1
   units S may cover without p (bounded by the largest such groups in L). Any unblocked q is a valid swap.

Included people keep all their pairs, since they are never swapped out; excluded people are dropped first.
"""

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from heapq import nlargest
from itertools import chain, islice
from typing import Self

import numpy as np
from numpy.typing import NDArray
from scipy import sparse  # type: ignore[import-untyped]
from scipy.optimize import Bounds, LinearConstraint, linear_sum_assignment, milp  # type: ignore[import-untyped]
from scipy.sparse.csgraph import maximum_bipartite_matching  # type: ignore[import-untyped]


@dataclass(frozen=True, slots=True)
class Candidate:
    person_id: int
    units: Mapping[str, int | None]  # dimension key -> unit id; None or missing: no unit in that dimension


@dataclass(frozen=True, slots=True)
class Slot:
    slot_id: int
    headcount: int

    def __post_init__(self) -> None:
        if self.headcount < 1:
            raise ValueError(f"slot {self.slot_id} has headcount {self.headcount}; it must be at least 1")


@dataclass(frozen=True, slots=True)
class Score:
    total: float
    parts: Mapping[str, float]


@dataclass(frozen=True, slots=True)
class MaxPerUnit:
    dimension: str
    limit: int

    def __post_init__(self) -> None:
        if self.limit < 0:
            raise ValueError(f"the limit per {self.dimension} unit must not be negative, got {self.limit}")

    def __str__(self) -> str:
        return f"at most {_people(self.limit)} per {self.dimension} unit"


@dataclass(frozen=True, slots=True)
class MinDistinctUnits:
    dimension: str
    count: int

    def __post_init__(self) -> None:
        if self.count < 0:
            raise ValueError(f"the count of distinct {self.dimension} units must not be negative, got {self.count}")

    def __str__(self) -> str:
        return f"at least {self.count} distinct {self.dimension} units"


@dataclass(frozen=True, slots=True)
class SquadConstraints:
    max_per_unit: tuple[MaxPerUnit, ...] = ()
    min_distinct: tuple[MinDistinctUnits, ...] = ()
    include: frozenset[int] = frozenset()
    exclude: frozenset[int] = frozenset()


NO_CONSTRAINTS = SquadConstraints()


@dataclass(frozen=True, slots=True)
class Alternative:
    person_id: int
    score: Score


@dataclass(frozen=True, slots=True)
class Assignment:
    slot_id: int
    person_id: int
    score: Score
    alternatives: tuple[Alternative, ...]  # the slot's next-best candidates outside the squad, best first


@dataclass(frozen=True, slots=True)
class Proposal:
    total: float
    assignments: tuple[Assignment, ...]  # slot order, then score descending, then person id


@dataclass(frozen=True, slots=True)
class Infeasible:
    reasons: tuple[str, ...]


def match(
    slots: Sequence[Slot],
    candidates: Sequence[Candidate],
    scores: Mapping[tuple[int, int], Score],
    constraints: SquadConstraints = NO_CONSTRAINTS,
    alternatives: int = 3,
) -> Proposal | Infeasible:
    """The squad with the maximum total score, or the reasons no squad exists.

    ``scores`` holds the eligible (slot_id, person_id) pairs; pairs naming a slot or person not passed in
    are ignored. Ties are broken deterministically: the model is built in a canonical order, and among
    interchangeable people (same score for the seat, same units where the constraints look) the lower
    person id is seated.
    """
    if alternatives < 0:
        raise ValueError(f"alternatives must not be negative, got {alternatives}")
    pool = _Pool(slots, candidates, scores, constraints.exclude)
    rules = _Rules.of(constraints, pool.seats)
    squad = None if _plainly_infeasible(pool, constraints) else _solve(pool, rules)
    if squad is None:
        return Infeasible(_explain(pool, constraints))
    return _proposal(pool, _prefer_lower_ids(pool, rules, squad), alternatives)


# Candidates ranked per seat on a slot's first look: enough for pruning on realistic data, grown if not.
_FIRST_LOOK_PER_SEAT = 8
_GROWTH = 2
# Rule 2 is checked at prefix lengths growing by 1/16: finer steps cost time, coarser ones keep more pairs.
_CHECK_STEP_DIVISOR = 16
# HiGHS stops within an absolute gap of 1e-6 (mip_rel_gap is set to 0); scaling the largest |score| to 1e5
# keeps that gap within 1e-10 score points while |scores| stay up to 10.
_SCALED_MAX_SCORE = 1e5
_HIGHS_INFEASIBLE = 2

Signature = tuple[int | None, ...]
Squad = list[list[int]]  # person ids per slot, in slot order


@dataclass(frozen=True, slots=True)
class _Ranked:
    """A prefix of one slot's eligible candidates, best first (score descending, then person id)."""

    person_ids: list[int]
    totals: list[float]
    complete: bool


class _Pool:
    """The scored pairs of one ``match`` call as arrays, each slot's candidates ranked on demand."""

    def __init__(
        self,
        slots: Sequence[Slot],
        candidates: Sequence[Candidate],
        scores: Mapping[tuple[int, int], Score],
        exclude: frozenset[int],
    ) -> None:
        slot_ids = [slot.slot_id for slot in slots]
        if len(set(slot_ids)) != len(slot_ids):
            raise ValueError("slot ids must be unique")
        by_id = {candidate.person_id: candidate for candidate in candidates}
        if len(by_id) != len(candidates):
            raise ValueError("candidate person ids must be unique")
        for person_id in exclude:
            by_id.pop(person_id, None)
        self.slots = tuple(slots)
        self.headcounts = np.array([slot.headcount for slot in slots], dtype=np.intp)
        self.seats = int(self.headcounts.sum())
        self.candidates = by_id
        self.scores = scores
        keys = np.fromiter(chain.from_iterable(scores), dtype=np.int64, count=2 * len(scores))
        self.pair_person = keys[1::2]
        self.pair_total = np.fromiter((score.total for score in scores.values()), dtype=np.float64, count=len(scores))
        if not np.isfinite(self.pair_total).all():
            raise ValueError("score totals must be finite")
        self.slot_pairs = _pairs_by_slot(keys[0::2], slot_ids)
        self._ranked: list[_Ranked | None] = [None] * len(slots)
        self._signatures: dict[tuple[str, ...], dict[int, Signature]] = {}

    def score(self, slot_index: int, person_id: int) -> Score:
        return self.scores[(self.slots[slot_index].slot_id, person_id)]

    def signature(self, person_id: int, dimensions: tuple[str, ...]) -> Signature:
        known = self._signatures.setdefault(dimensions, {})
        signature = known.get(person_id)
        if signature is None:  # remembered: growing windows and re-solves ask again
            units = self.candidates[person_id].units
            signature = known[person_id] = tuple(units.get(dimension) for dimension in dimensions)
        return signature

    def ranked(self, slot_index: int, length: int) -> _Ranked:
        """At least ``length`` of the slot's eligible candidates best first, or all of them."""
        cached = self._ranked[slot_index]
        if cached is not None and (cached.complete or len(cached.person_ids) >= length):
            return cached
        window = max(length, 1)
        while True:
            ranked = self._rank(self.slot_pairs[slot_index], window)
            if ranked.complete or len(ranked.person_ids) >= length:
                self._ranked[slot_index] = ranked
                return ranked
            window *= 2  # exclusions or unknown people thinned the window

    def _rank(self, pairs: NDArray[np.intp], window: int) -> _Ranked:
        totals = self.pair_total[pairs]
        if window < len(pairs):
            threshold = np.partition(totals, len(pairs) - window)[len(pairs) - window]
            best = totals >= threshold  # ties included, so the window is a prefix of the full ranking
            complete = bool(best.all())
            pairs, totals = pairs[best], totals[best]
        else:
            complete = True
        persons = self.pair_person[pairs]
        order = np.lexsort((persons, -totals))
        ranked = [
            (person_id, total)
            for person_id, total in zip(persons[order].tolist(), totals[order].tolist(), strict=True)
            if person_id in self.candidates
        ]
        return _Ranked([person_id for person_id, _ in ranked], [total for _, total in ranked], complete)


def _pairs_by_slot(pair_slot_ids: NDArray[np.int64], slot_ids: list[int]) -> list[NDArray[np.intp]]:
    """The pair indices of each slot; pairs of unknown slots are dropped."""
    ids = np.array(slot_ids, dtype=np.int64)
    by_id = np.argsort(ids)
    position = np.searchsorted(ids[by_id], pair_slot_ids).clip(max=max(len(ids) - 1, 0))
    slot_index = np.full(len(pair_slot_ids), len(ids), dtype=np.intp)
    if len(ids):
        known = ids[by_id][position] == pair_slot_ids
        slot_index[known] = by_id[position[known]]
    # A small unsigned dtype lets numpy use a linear-time radix sort.
    order = np.argsort(slot_index.astype(np.min_scalar_type(len(ids))), kind="stable")
    bounds = np.cumsum(np.bincount(slot_index, minlength=len(ids) + 1))
    return np.split(order, bounds[:-1])[: len(ids)]


@dataclass(frozen=True, slots=True)
class _Rules:
    """The constraints in the form pruning and the model use; dimensions are indexes into ``dimensions``."""

    seats: int
    dimensions: tuple[str, ...]
    caps: tuple[tuple[int, int], ...]  # (dimension, limit)
    spreads: tuple[tuple[int, int], ...]  # (dimension, count), count >= 1
    include: frozenset[int]

    @classmethod
    def of(cls, constraints: SquadConstraints, seats: int) -> Self:
        spreads = [rule for rule in constraints.min_distinct if rule.count > 0]
        dimensions = tuple(
            sorted({rule.dimension for rule in constraints.max_per_unit} | {rule.dimension for rule in spreads})
        )
        return cls(
            seats,
            dimensions,
            tuple((dimensions.index(rule.dimension), rule.limit) for rule in constraints.max_per_unit),
            tuple((dimensions.index(rule.dimension), rule.count) for rule in spreads),
            constraints.include,
        )

    @property
    def squad_level(self) -> bool:
        return bool(self.caps or self.spreads or self.include)

    def cap(self, signature: Signature) -> int:
        """How many people of one signature a feasible squad can hold."""
        return min([self.seats, *(limit for dimension, limit in self.caps if signature[dimension] is not None)])

    def blockable(self, unit_sizes: Sequence[Counter[int]], without_unit: Sequence[int]) -> int:
        """An upper bound on how many candidates of a ranking prefix a squad can block from taking one member's
        seat, given the prefix's count of people per unit and without a unit, per dimension."""
        others = self.seats - 1
        bound = others
        for dimension, limit in self.caps:
            if limit:  # a limit of 0 leaves no unit-holder among the survivors (rule 1)
                bound += sum(nlargest(others // limit, unit_sizes[dimension].values()))
        for dimension, count in self.spreads:
            bound += without_unit[dimension] + sum(nlargest(count - 1, unit_sizes[dimension].values()))
        return bound


def _shortlist(pool: _Pool, rules: _Rules, slot_index: int) -> list[int]:
    """The slot's candidates that pruning keeps (see the module docstring), best first."""
    pruner = _SlotPruner(pool, rules)
    length = _FIRST_LOOK_PER_SEAT * rules.seats
    while True:
        ranked = pool.ranked(slot_index, length)
        pruner.feed(ranked.person_ids)
        kept = pruner.robust_length()
        if kept is not None or ranked.complete:
            return pruner.survivors[:kept]
        length = _GROWTH * len(ranked.person_ids)


class _SlotPruner:
    """Rules 1 and 2 of the module docstring for one slot, fed the slot's ranking as it grows."""

    def __init__(self, pool: _Pool, rules: _Rules) -> None:
        self._pool = pool
        self._rules = rules
        self.survivors: list[int] = []
        self._signatures: list[Signature] = []
        self._taken: Counter[Signature] = Counter()
        self._caps: dict[Signature, int] = {}
        self._seen = 0
        self._unit_sizes: list[Counter[int]] = [Counter() for _ in rules.dimensions]
        self._without_unit = [0] * len(rules.dimensions)
        self._counted = 0
        self._next_check = rules.seats

    def feed(self, ranked: list[int]) -> None:
        """Rule 1 over the candidates not seen yet: the best ``cap`` of each signature survive."""
        for person_id in ranked[self._seen :]:
            signature = self._pool.signature(person_id, self._rules.dimensions)
            if signature not in self._caps:
                self._caps[signature] = self._rules.cap(signature)
            if self._taken[signature] < self._caps[signature]:
                self._taken[signature] += 1
                self.survivors.append(person_id)
                self._signatures.append(signature)
        self._seen = len(ranked)

    def robust_length(self) -> int | None:
        """Rule 2: the length of a survivor prefix that no squad can block entirely, tried at growing lengths."""
        while self._next_check <= len(self._signatures):
            self._count_up_to(self._next_check)
            if self._next_check > self._rules.blockable(self._unit_sizes, self._without_unit):
                return self._next_check
            self._next_check += max(1, self._next_check // _CHECK_STEP_DIVISOR)
        return None

    def _count_up_to(self, length: int) -> None:
        for signature in self._signatures[self._counted : length]:
            for dimension, unit in enumerate(signature):
                if unit is None:
                    self._without_unit[dimension] += 1
                else:
                    self._unit_sizes[dimension][unit] += 1
        self._counted = length


@dataclass(frozen=True, slots=True)
class _Model:
    """The kept (slot, person) pairs, slot by slot and best first within a slot."""

    slot: NDArray[np.intp]
    person: NDArray[np.int64]
    total: NDArray[np.float64]


def _model(pool: _Pool, rules: _Rules) -> _Model:
    """The kept pairs: each slot's shortlist, then the included people eligible for it."""
    slot_indexes: list[int] = []
    person_ids: list[int] = []
    totals: list[float] = []
    for slot_index, slot in enumerate(pool.slots):
        kept = _shortlist(pool, rules, slot_index)
        kept_set = set(kept)
        kept.extend(
            person_id
            for person_id in sorted(rules.include)
            if person_id not in kept_set and person_id in pool.candidates and (slot.slot_id, person_id) in pool.scores
        )
        slot_indexes.extend([slot_index] * len(kept))
        person_ids.extend(kept)
        totals.extend(pool.score(slot_index, person_id).total for person_id in kept)
    return _Model(
        np.array(slot_indexes, dtype=np.intp),
        np.array(person_ids, dtype=np.int64),
        np.array(totals, dtype=np.float64),
    )


def _solve(pool: _Pool, rules: _Rules) -> Squad | None:
    """The best squad under ``rules``, or None when there is none."""
    model = _model(pool, rules)
    if not rules.include <= set(model.person.tolist()):
        return None  # an included person is eligible for no slot
    if not len(model.person):  # HiGHS needs a variable; only the squad of no seats is left to check
        return [] if pool.seats == 0 and not rules.spreads else None
    chosen = _milp(pool, rules, model) if rules.squad_level else _assign(pool, model)
    if chosen is None:
        return None
    squad: Squad = [[] for _ in pool.slots]
    for slot_index, person_id in zip(model.slot[chosen].tolist(), model.person[chosen].tolist(), strict=True):
        squad[slot_index].append(person_id)
    return squad


def _assign(pool: _Pool, model: _Model) -> NDArray[np.bool_] | None:
    """The best assignment of people to seats, one column per person and one row per seat."""
    people, column = np.unique(model.person, return_inverse=True)
    seat_slot = np.repeat(np.arange(len(pool.slots)), pool.headcounts)
    if len(people) < len(seat_slot):
        return None
    cost_per_slot = np.full((len(pool.slots), len(people)), np.inf)
    cost_per_slot[model.slot, column] = -model.total
    try:
        seats, columns = linear_sum_assignment(cost_per_slot[seat_slot])
    except ValueError:  # raised when no complete assignment exists
        return None
    chosen = np.zeros((len(pool.slots), len(people)), dtype=np.bool_)
    chosen[seat_slot[seats], columns] = True
    mask: NDArray[np.bool_] = chosen[model.slot, column]
    return mask


class _Rows:
    """Sparse constraint rows; each ``add`` appends one row per group, summing the coefficients of its columns."""

    def __init__(self, columns: int) -> None:
        self.columns = columns
        self._rows: list[NDArray[np.intp]] = []
        self._columns: list[NDArray[np.intp]] = []
        self._values: list[NDArray[np.float64]] = []
        self._lower: list[NDArray[np.float64]] = []
        self._upper: list[NDArray[np.float64]] = []
        self._count = 0

    def new_columns(self, count: int) -> NDArray[np.intp]:
        added = np.arange(self.columns, self.columns + count)
        self.columns += count
        return added

    def add(
        self,
        group: NDArray[np.intp],
        column: NDArray[np.intp],
        value: NDArray[np.float64],
        lower: NDArray[np.float64],
        upper: NDArray[np.float64],
    ) -> None:
        self._rows.append(group + self._count)
        self._columns.append(column)
        self._values.append(value)
        self._lower.append(lower)
        self._upper.append(upper)
        self._count += len(lower)

    def constraint(self) -> LinearConstraint:
        rows, columns = np.concatenate(self._rows), np.concatenate(self._columns)
        matrix = sparse.csr_array((np.concatenate(self._values), (rows, columns)), shape=(self._count, self.columns))
        return LinearConstraint(matrix, np.concatenate(self._lower), np.concatenate(self._upper))


def _milp(pool: _Pool, rules: _Rules, model: _Model) -> NDArray[np.bool_] | None:
    """The best choice of pairs under every constraint, by HiGHS; one binary column per pair."""
    pairs = np.arange(len(model.person))
    ones = np.ones(len(pairs))
    people, person_column = np.unique(model.person, return_inverse=True)
    rows = _Rows(len(pairs))
    headcounts = pool.headcounts.astype(np.float64)
    rows.add(model.slot, pairs, ones, headcounts, headcounts)
    included = np.isin(people, np.array(sorted(rules.include), dtype=np.int64)).astype(np.float64)
    rows.add(person_column, pairs, ones, included, np.ones(len(people)))
    units = _unit_codes(pool, rules, people.tolist())
    for dimension, limit in rules.caps:
        codes, count = units[dimension]
        unit = codes[person_column]
        held = unit >= 0
        rows.add(unit[held], pairs[held], ones[held], np.zeros(count), np.full(count, float(limit)))
    for dimension, need in rules.spreads:
        codes, count = units[dimension]
        unit = codes[person_column]
        held = unit >= 0
        # covered[u] <= people chosen from unit u, and the covered units add up to at least ``need``.
        covered = rows.new_columns(count)
        rows.add(
            np.concatenate([unit[held], np.arange(count)]),
            np.concatenate([pairs[held], covered]),
            np.concatenate([-ones[held], np.ones(count)]),
            np.full(count, -np.inf),
            np.zeros(count),
        )
        rows.add(np.zeros(count, dtype=np.intp), covered, np.ones(count), np.array([float(need)]), np.array([np.inf]))
    objective = np.zeros(rows.columns)
    objective[pairs] = -model.total * (_SCALED_MAX_SCORE / max(1.0, float(np.abs(model.total).max(initial=0.0))))
    integrality = np.zeros(rows.columns)
    integrality[pairs] = 1
    result = milp(
        objective,
        integrality=integrality,
        bounds=Bounds(0, 1),
        constraints=rows.constraint(),
        # Presolve costs more than it saves here: the root LP of these assignment-shaped models is nearly
        # integral (measured 30 ms with it, 17 ms without on the benchmark; 150 vs 56 ms on 5,000 pairs).
        options={"mip_rel_gap": 0.0, "presolve": False},
    )
    if result.status == _HIGHS_INFEASIBLE:
        return None
    if not result.success:
        raise RuntimeError(f"HiGHS stopped without a squad: {result.message}")
    chosen: NDArray[np.bool_] = result.x[pairs] > 0.5
    return chosen


def _unit_codes(pool: _Pool, rules: _Rules, people: list[int]) -> list[tuple[NDArray[np.intp], int]]:
    """Per constrained dimension: each person's unit as a dense code (-1 for none), and the number of units."""
    signatures = [pool.signature(person_id, rules.dimensions) for person_id in people]
    codes = []
    for dimension in range(len(rules.dimensions)):
        dense: dict[int, int] = {}
        person_codes = [
            -1 if (unit := signature[dimension]) is None else dense.setdefault(unit, len(dense))
            for signature in signatures
        ]
        codes.append((np.array(person_codes, dtype=np.intp), len(dense)))
    return codes


def _prefer_lower_ids(pool: _Pool, rules: _Rules, squad: Squad) -> Squad:
    """Seat the lowest person id among people interchangeable with a member: same score, same signature."""
    members = {person_id for people in squad for person_id in people}
    for slot_index, people in enumerate(squad):
        ranked = pool.ranked(slot_index, 1)  # cached by the solve; holds every member who is not included
        for seat, person_id in enumerate(people):
            if person_id in rules.include:
                continue
            total = pool.score(slot_index, person_id).total
            signature = pool.signature(person_id, rules.dimensions)
            # Best first: higher totals, then equal totals of lower ids, then the member.
            for other, other_total in zip(ranked.person_ids, ranked.totals, strict=True):
                if other == person_id:
                    break
                if (
                    other_total == total
                    and other not in members
                    and pool.signature(other, rules.dimensions) == signature
                ):
                    people[seat] = other
                    members.remove(person_id)
                    members.add(other)
                    break
    return squad


def _proposal(pool: _Pool, squad: Squad, alternatives: int) -> Proposal:
    members = {person_id for people in squad for person_id in people}
    assignments: list[Assignment] = []
    for slot_index, (slot, people) in enumerate(zip(pool.slots, squad, strict=True)):
        ranked = pool.ranked(slot_index, pool.seats + alternatives)
        outside = (person_id for person_id in ranked.person_ids if person_id not in members)
        backups = tuple(
            Alternative(person_id, pool.score(slot_index, person_id)) for person_id in islice(outside, alternatives)
        )
        seated = sorted(people, key=lambda person_id: (-pool.score(slot_index, person_id).total, person_id))
        assignments.extend(
            Assignment(slot.slot_id, person_id, pool.score(slot_index, person_id), backups) for person_id in seated
        )
    return Proposal(sum((assignment.score.total for assignment in assignments), 0.0), tuple(assignments))


def _plainly_infeasible(pool: _Pool, constraints: SquadConstraints) -> bool:
    """Conflicts seen without looking at any pair, checked first: the model they would build is large."""
    return (
        bool(constraints.include & constraints.exclude)
        or len(constraints.include) > pool.seats
        or any(rule.count > pool.seats for rule in constraints.min_distinct)
    )


def _explain(pool: _Pool, constraints: SquadConstraints) -> tuple[str, ...]:
    """Why no squad exists: plain conflicts first, then a shortage across slots, then a clash of constraints."""
    conflicts = _plain_conflicts(pool, constraints)
    if conflicts:
        return conflicts
    shortage = _shortage_across_slots(pool)
    if shortage is not None:
        return (shortage,)
    return (_clashing_constraints(pool, constraints),)


def _plain_conflicts(pool: _Pool, constraints: SquadConstraints) -> tuple[str, ...]:
    """Conflicts visible without solving: each names one constraint and the fact that breaks it."""
    eligible_by_slot = _eligible_by_slot(pool)
    eligible = set(chain.from_iterable(eligible_by_slot))
    reasons = [
        f"person {person_id} is both included and excluded"
        for person_id in sorted(constraints.include & constraints.exclude)
    ]
    for person_id in sorted(constraints.include - constraints.exclude):
        if person_id not in pool.candidates:
            reasons.append(f"person {person_id} must be included but is not a candidate")
        elif person_id not in eligible:
            reasons.append(f"person {person_id} must be included but is eligible for no slot")
    if len(constraints.include) > pool.seats:
        reasons.append(
            f"{_people(len(constraints.include))} must be included but the squad has only {_seats(pool.seats)}"
        )
    for slot, people in zip(pool.slots, eligible_by_slot, strict=True):
        if len(people) < slot.headcount:
            reasons.append(f"slot {slot.slot_id} needs {_people(slot.headcount)} but {_only_eligible(len(people))}")
    reasons.extend(_spread_conflicts(pool, constraints.min_distinct, eligible))
    reasons.extend(_cap_conflicts(pool, constraints))
    return tuple(reasons)


def _eligible_by_slot(pool: _Pool) -> list[set[int]]:
    """Each slot's eligible candidates, exclusions removed."""
    candidate_ids = np.fromiter(pool.candidates, dtype=np.int64, count=len(pool.candidates))
    usable = np.isin(pool.pair_person, candidate_ids)
    return [set(pool.pair_person[pairs[usable[pairs]]].tolist()) for pairs in pool.slot_pairs]


def _spread_conflicts(pool: _Pool, rules: Sequence[MinDistinctUnits], eligible: set[int]) -> list[str]:
    reasons = []
    for rule in rules:
        units = {pool.candidates[person_id].units.get(rule.dimension) for person_id in eligible} - {None}
        if rule.count > pool.seats:
            reasons.append(f"{rule} cannot be met: the squad has only {_seats(pool.seats)}")
        elif len(units) < rule.count:
            reasons.append(f"{rule} cannot be met: eligible candidates come from {len(units)}")
    return reasons


def _cap_conflicts(pool: _Pool, constraints: SquadConstraints) -> list[str]:
    included = sorted(person_id for person_id in constraints.include if person_id in pool.candidates)
    reasons = []
    for rule in constraints.max_per_unit:
        by_unit: dict[int, list[int]] = {}
        for person_id in included:
            unit = pool.candidates[person_id].units.get(rule.dimension)
            if unit is not None:
                by_unit.setdefault(unit, []).append(person_id)
        for unit, people in sorted(by_unit.items()):
            if len(people) > rule.limit:
                who = f"person {people[0]} is" if len(people) == 1 else f"people {_listed(people)} are all"
                reasons.append(f"{rule} cannot be met: included {who} in {rule.dimension} unit {unit}")
    return reasons


def _shortage_across_slots(pool: _Pool) -> str | None:
    """Slots that together need more people than are eligible for any of them (Hall's condition), if any."""
    model = _model(pool, _Rules.of(NO_CONSTRAINTS, pool.seats))
    people, column = np.unique(model.person, return_inverse=True)
    seat_slot = np.repeat(np.arange(len(pool.slots)), pool.headcounts)
    columns_of_slot = [column[model.slot == slot_index] for slot_index in range(len(pool.slots))]
    rows: list[int] = []
    columns: list[int] = []
    for seat, slot_index in enumerate(seat_slot.tolist()):
        rows.extend([seat] * len(columns_of_slot[slot_index]))
        columns.extend(columns_of_slot[slot_index].tolist())
    graph = sparse.csr_array((np.ones(len(rows)), (rows, columns)), shape=(len(seat_slot), len(people)))
    seat_partner = maximum_bipartite_matching(graph, perm_type="column")
    unmatched = np.flatnonzero(seat_partner < 0)
    if not len(unmatched):
        return None
    # Slots reachable from an unmatched seat by alternating paths need more people than they can reach.
    person_seat = np.full(len(people), -1)
    matched = seat_partner >= 0
    person_seat[seat_partner[matched]] = np.flatnonzero(matched)
    reached, reached_people = {int(seat_slot[unmatched[0]])}, set()
    frontier = list(reached)
    while frontier:
        for person in columns_of_slot[frontier.pop()].tolist():
            if person not in reached_people:
                reached_people.add(person)
                slot_index = int(seat_slot[person_seat[person]])
                if slot_index not in reached:
                    reached.add(slot_index)
                    frontier.append(slot_index)
    ids = _listed(pool.slots[slot_index].slot_id for slot_index in sorted(reached))
    need = sum(pool.slots[slot_index].headcount for slot_index in reached)
    return f"slots {ids} need {_people(need)} together but {_only_eligible(len(reached_people))} for any of them"


def _clashing_constraints(pool: _Pool, constraints: SquadConstraints) -> str:
    """The squad-level constraints whose removal alone makes a squad possible, found by re-solving."""
    relaxations = _relaxations(constraints)
    culprits = [name for name, relaxed in relaxations if _solve(pool, _Rules.of(relaxed, pool.seats)) is not None]
    if culprits:
        names = "; ".join(culprits)
        return f"no squad meets every constraint at once; dropping any one of these makes it possible: {names}"
    names = "; ".join(name for name, _ in relaxations)
    return f"no squad meets every constraint at once, not even with any single one dropped: {names}"


def _relaxations(constraints: SquadConstraints) -> list[tuple[str, SquadConstraints]]:
    """Each squad-level constraint, named, with the constraints that remain without it."""
    caps, spreads = constraints.max_per_unit, constraints.min_distinct
    return [
        *((str(rule), replace(constraints, max_per_unit=(*caps[:i], *caps[i + 1 :]))) for i, rule in enumerate(caps)),
        *(
            (str(rule), replace(constraints, min_distinct=(*spreads[:i], *spreads[i + 1 :])))
            for i, rule in enumerate(spreads)
        ),
        *(
            (f"including person {person_id}", replace(constraints, include=constraints.include - {person_id}))
            for person_id in sorted(constraints.include)
        ),
    ]


def _people(count: int) -> str:
    return "1 person" if count == 1 else f"{count} people"


def _seats(count: int) -> str:
    return "1 seat" if count == 1 else f"{count} seats"


def _only_eligible(count: int) -> str:
    if count == 0:
        return "no candidate is eligible"
    return "only 1 candidate is eligible" if count == 1 else f"only {count} candidates are eligible"


def _listed(ids: Iterable[int]) -> str:
    return ", ".join(str(value) for value in ids)
