"""How well a person fits a squad slot, as a score with a breakdown a manager can read.

Per required skill (weight w, minimum level m), a claim at level l scores
    w * ((1 + 0.25 (l - m)) + 0.1 * min(endorsement strength, 5)) * freshness
where an endorsement counts 1, or ``shared_squad_factor`` when endorser and claimant shared a squad
in the last 12 months, and freshness halves every ``half_life_days`` without fresh evidence. The sum
over the slot's skills is scaled by the share of the slot's allocation the person has free. The
breakdown's parts add up to the total: level, endorsements, and the (negative) cost of staleness and
of limited availability.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

LEVEL_STEP = 0.25
ENDORSEMENT_VALUE = 0.1
ENDORSEMENT_CAP = 5.0


@dataclass(frozen=True, slots=True)
class ScoringRules:
    half_life_days: float = 180.0
    shared_squad_factor: float = 0.5


@dataclass(frozen=True, slots=True)
class Requirement:
    skill_id: int
    min_level: int
    weight: float


class ClaimFacts(NamedTuple):
    """A person's current claim on a skill, with what the score needs to know about it.

    A NamedTuple: a proposal builds tens of thousands of them, and a frozen dataclass costs 3x more.
    """

    level: int
    evidence_at: datetime
    endorsements: int
    shared_squad_endorsements: int


@dataclass(frozen=True, slots=True)
class Fit:
    total: float
    parts: Mapping[str, float]


def fit(
    requirements: Sequence[Requirement],
    claims: Mapping[int, ClaimFacts],
    *,
    free_pct: float,
    allocation_pct: int,
    now: datetime,
    rules: ScoringRules = ScoringRules(),
) -> Fit | None:
    """The person's fit for a slot, or None when a required skill is missing or below its minimum level."""
    if free_pct <= 0:
        return None
    level = endorsements = staleness = 0.0
    for requirement in requirements:
        claim = claims.get(requirement.skill_id)
        if claim is None or claim.level < requirement.min_level:
            return None
        skill_level = requirement.weight * (1 + LEVEL_STEP * (claim.level - requirement.min_level))
        strength = claim.endorsements - claim.shared_squad_endorsements * (1 - rules.shared_squad_factor)
        skill_endorsements = requirement.weight * ENDORSEMENT_VALUE * min(strength, ENDORSEMENT_CAP)
        freshness = 0.5 ** (max((now - claim.evidence_at).total_seconds(), 0) / 86400 / rules.half_life_days)
        level += skill_level
        endorsements += skill_endorsements
        staleness -= (skill_level + skill_endorsements) * (1 - freshness)
    before_availability = level + endorsements + staleness
    availability_share = min(free_pct / allocation_pct, 1.0)
    unavailability = -before_availability * (1 - availability_share)
    parts = {
        "level": round(level, 6),
        "endorsements": round(endorsements, 6),
        "staleness": round(staleness, 6),
        "availability": round(unavailability, 6),
    }
    return Fit(total=round(sum(parts.values()), 6), parts=parts)
