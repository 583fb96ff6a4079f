"""The fit score: its parts, and the vectorised computation matching the formula read one pair at a time."""

import random
from typing import NamedTuple

import numpy as np
import pytest

from cellorg.talent_pool.scoring import (
    ENDORSEMENT_CAP,
    ENDORSEMENT_VALUE,
    LEVEL_STEP,
    PARTS,
    HeldRequirements,
    ScoringRules,
    fits,
)


class Need(NamedTuple):
    """A slot's requirement."""

    skill_id: int
    min_level: int
    weight: float


PLC = Need(skill_id=1, min_level=4, weight=1.0)
ROBOTICS = Need(skill_id=2, min_level=3, weight=1.0)
DAY = 86400
DEFAULT_RULES = ScoringRules()


class Claim(NamedTuple):
    level: int
    age_seconds: float = 0.0
    endorsements: int = 0
    shared: int = 0


class Pair(NamedTuple):
    requirements: list[Need]
    claims: list[Claim]  # one per requirement, in the same order
    free_pct: int
    allocation_pct: int


def scored(pairs: list[Pair], rules: ScoringRules = DEFAULT_RULES) -> list[tuple[float, dict[str, float]]]:
    """``fits`` over all pairs at once, as (total, parts) per pair."""
    rows = [(index, need, claim) for index, pair in enumerate(pairs) for need, claim in zip(*pair[:2], strict=True)]
    held = HeldRequirements(
        pair=np.array([index for index, _, _ in rows], dtype=np.intp),
        level=np.array([claim.level for _, _, claim in rows], dtype=np.int64),
        min_level=np.array([need.min_level for _, need, _ in rows], dtype=np.int64),
        weight=np.array([need.weight for _, need, _ in rows], dtype=np.float64),
        age_seconds=np.array([claim.age_seconds for _, _, claim in rows], dtype=np.float64),
        endorsements=np.array([claim.endorsements for _, _, claim in rows], dtype=np.int64),
        shared_squad_endorsements=np.array([claim.shared for _, _, claim in rows], dtype=np.int64),
    )
    free = np.array([pair.free_pct for pair in pairs], dtype=np.int64)
    allocation = np.array([pair.allocation_pct for pair in pairs], dtype=np.int64)
    result = fits(held, free, allocation, rules)
    parts = zip(*(part.tolist() for part in result.parts), strict=True)
    return [
        (total, dict(zip(PARTS, values, strict=True)))
        for total, values in zip(result.total.tolist(), parts, strict=True)
    ]


def one(pair: Pair, rules: ScoringRules = DEFAULT_RULES) -> tuple[float, dict[str, float]]:
    return scored([pair], rules)[0]


def reference(pair: Pair, rules: ScoringRules) -> tuple[float, dict[str, float]]:
    """The formula of the module docstring, one pair and one skill at a time, in plain Python floats."""
    level = endorsements = staleness = 0.0
    for need, claim in zip(pair.requirements, pair.claims, strict=True):
        skill_level = need.weight * (1 + LEVEL_STEP * (claim.level - need.min_level))
        strength = claim.endorsements - claim.shared * (1 - rules.shared_squad_factor)
        skill_endorsements = need.weight * ENDORSEMENT_VALUE * min(strength, ENDORSEMENT_CAP)
        freshness = 0.5 ** (max(claim.age_seconds, 0) / DAY / rules.half_life_days)
        level += skill_level
        endorsements += skill_endorsements
        staleness -= (skill_level + skill_endorsements) * (1 - freshness)
    before_availability = level + endorsements + staleness
    unavailability = -before_availability * (1 - min(pair.free_pct / pair.allocation_pct, 1.0))
    parts = {
        "level": round(level, 6),
        "endorsements": round(endorsements, 6),
        "staleness": round(staleness, 6),
        "availability": round(unavailability, 6),
    }
    return round(parts["level"] + parts["endorsements"] + parts["staleness"] + parts["availability"], 6), parts


def test_level_above_the_minimum_and_endorsements_add_up() -> None:
    total, parts = one(Pair([PLC, ROBOTICS], [Claim(5, endorsements=2), Claim(3)], 100, 50))
    assert parts == {"level": 2.25, "endorsements": 0.2, "staleness": 0.0, "availability": 0.0}
    assert total == 2.45


def test_an_endorser_from_a_shared_squad_counts_half() -> None:
    stranger = one(Pair([PLC], [Claim(4, endorsements=2)], 100, 50))
    teammates = one(Pair([PLC], [Claim(4, endorsements=2, shared=2)], 100, 50))
    assert (stranger[1]["endorsements"], teammates[1]["endorsements"]) == (0.2, 0.1)
    custom = one(Pair([PLC], [Claim(4, endorsements=2, shared=2)], 100, 50), ScoringRules(shared_squad_factor=0.25))
    assert custom[1]["endorsements"] == 0.05


def test_endorsements_count_up_to_five() -> None:
    assert one(Pair([PLC], [Claim(4, endorsements=9)], 100, 50))[1]["endorsements"] == 0.5


def test_a_claim_loses_half_its_weight_per_half_life() -> None:
    total, parts = one(Pair([PLC], [Claim(4, age_seconds=180 * DAY)], 100, 50))
    assert parts["staleness"] == -0.5
    assert total == 0.5
    assert one(Pair([PLC], [Claim(4, age_seconds=-DAY)], 100, 50))[1]["staleness"] == 0.0  # evidence dated ahead


def test_limited_availability_scales_the_fit() -> None:
    total, parts = one(Pair([PLC], [Claim(4)], 25, 50))
    assert parts["availability"] == -0.5
    assert total == 0.5


def test_pairs_scored_together_score_as_each_alone() -> None:
    pairs = [
        Pair([PLC, ROBOTICS], [Claim(5, endorsements=2), Claim(3, age_seconds=90 * DAY)], 100, 50),
        Pair([PLC], [Claim(4)], 25, 50),
    ]
    assert scored(pairs) == [one(pairs[0]), one(pairs[1])]
    assert scored([]) == []


def random_pair(rng: random.Random) -> Pair:
    requirements = [
        Need(skill, rng.randint(1, 5), rng.choice([1.0, 0.5, 2.0, rng.uniform(0.01, 100)]))
        for skill in range(rng.randint(1, 4))
    ]
    claims = []
    for need in requirements:
        endorsements = rng.randint(0, 9)
        age = rng.choice([0.0, rng.uniform(-DAY, 900 * DAY), rng.randrange(900 * 86_400_000_000) / 1e6])
        claims.append(Claim(rng.randint(need.min_level, 5), age, endorsements, rng.randint(0, endorsements)))
    return Pair(requirements, claims, rng.randint(1, 100), rng.randint(1, 100))


@pytest.mark.parametrize("seed", range(20))
def test_vectorised_scores_equal_the_formula_bit_for_bit(seed: int) -> None:
    rng = random.Random(seed)  # noqa: S311  (reproducible test data, not cryptography)
    rules = ScoringRules(half_life_days=rng.choice([180.0, 30.0, 365.25]), shared_squad_factor=rng.random())
    pairs = [random_pair(rng) for _ in range(500)]
    assert scored(pairs, rules) == [reference(pair, rules) for pair in pairs]


def test_rounding_matches_python_next_to_ties() -> None:
    """Values a hair either side of a tie at the 7th decimal, where scaling by 1e6 may round the wrong way."""
    rng = random.Random(3)  # noqa: S311  (reproducible test data, not cryptography)
    ties = [(rng.randrange(-(10**9), 10**9) + 0.5) / 1e6 for _ in range(2000)]
    values = [float(np.nextafter(tie, side)) for tie in ties for side in (-np.inf, np.inf)] + ties
    # at the minimum level, with no endorsements, fresh evidence and full availability, the level is the weight
    pairs = [Pair([Need(1, 1, value)], [Claim(1)], 100, 100) for value in values]
    levels = [parts["level"] for _, parts in scored(pairs)]
    assert levels == [round(value, 6) for value in values]
