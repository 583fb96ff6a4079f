"""How well a person fits a squad slot, as a score with a breakdown a manager can read.

Per required skill (weight w, minimum level m), a claim at level l scores
    w * ((1 + 0.25 (l - m)) + 0.1 * min(endorsement strength, 5)) * freshness
where an endorsement counts 1, or ``shared_squad_factor`` when endorser and claimant shared a squad
in the last 12 months, and freshness halves every ``half_life_days`` without fresh evidence. The sum
over the slot's skills is scaled by the share of the slot's allocation the person has free. The
breakdown's parts add up to the total: level, endorsements, and the (negative) cost of staleness and
of limited availability.

``fits`` scores many (slot, person) pairs at once with numpy, in exactly the floating-point operations of
the formula read left to right: each skill's terms are summed in the slot's requirement order, the parts are
rounded to 6 decimals as Python's ``round`` does, and the total is the rounded sum of the rounded parts.
"""

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

LEVEL_STEP = 0.25
ENDORSEMENT_VALUE = 0.1
ENDORSEMENT_CAP = 5.0
SECONDS_PER_DAY = 86400


@dataclass(frozen=True, slots=True)
class ScoringRules:
    half_life_days: float = 180.0
    shared_squad_factor: float = 0.5


@dataclass(frozen=True, slots=True)
class HeldRequirements:
    """One row per requirement of a pair's slot and the pair's person's claim meeting it; a pair's rows are
    contiguous and in the slot's requirement order."""

    pair: NDArray[np.intp]  # the pair (0, 1, ...) the row belongs to
    level: NDArray[np.int64]  # the claim's level
    min_level: NDArray[np.int64]
    weight: NDArray[np.float64]
    age_seconds: NDArray[np.float64]  # since the claim's latest evidence
    endorsements: NDArray[np.int64]
    shared_squad_endorsements: NDArray[np.int64]


PARTS = ("level", "endorsements", "staleness", "availability")


@dataclass(frozen=True, slots=True)
class Fits:
    """Per pair, the total and its parts in the order of ``PARTS``, each rounded to 6 decimals."""

    total: NDArray[np.float64]
    parts: tuple[NDArray[np.float64], ...]


def fits(
    held: HeldRequirements,
    free_pct: NDArray[np.int64],
    allocation_pct: NDArray[np.int64],
    rules: ScoringRules = ScoringRules(),
) -> Fits:
    """Each pair's fit, given per pair the percentage its person has free and its slot's allocation (a pair with
    nothing free gets a fit too: the caller leaves it out).

    The caller makes sure each pair's person holds every required skill of the slot at its minimum level.
    """
    count = len(free_pct)
    skill_level = held.weight * (1 + LEVEL_STEP * (held.level - held.min_level))
    strength = held.endorsements - held.shared_squad_endorsements * (1 - rules.shared_squad_factor)
    skill_endorsements = held.weight * ENDORSEMENT_VALUE * np.minimum(strength, ENDORSEMENT_CAP)
    exponents = np.maximum(held.age_seconds, 0) / SECONDS_PER_DAY / rules.half_life_days
    # Python's power, not numpy's: numpy may use a SIMD power that differs in the last bit.
    freshness = np.array([0.5**exponent for exponent in exponents.tolist()], dtype=np.float64)
    level = _per_pair(held.pair, skill_level, count)
    endorsements = _per_pair(held.pair, skill_endorsements, count)
    staleness = _per_pair(held.pair, -(skill_level + skill_endorsements) * (1 - freshness), count)
    availability_share = np.minimum(free_pct / allocation_pct, 1.0)
    unavailability = -(level + endorsements + staleness) * (1 - availability_share)
    parts = tuple(_round_6(part) for part in (level, endorsements, staleness, unavailability))
    return Fits(_round_6(parts[0] + parts[1] + parts[2] + parts[3]), parts)


def _per_pair(pair: NDArray[np.intp], values: NDArray[np.float64], count: int) -> NDArray[np.float64]:
    """The sum of each pair's values, added in row order from 0.0 as a loop over the skills would (bincount)."""
    return np.bincount(pair, weights=values, minlength=count).astype(np.float64, copy=False)


def _round_6(values: NDArray[np.float64]) -> NDArray[np.float64]:
    """Python's ``round(value, 6)`` of each value, bit for bit.

    Python rounds the exact binary value to a multiple of 1e-6 (ties to even), then takes the nearest double.
    Scaling by 1e6 in floating point errs by at most half an ulp, so ``rint`` picks the same multiple unless the
    scaled value lies within an ulp of a tie; those few are left to Python. Dividing the exact integer by 1e6
    then rounds once, to the same nearest double.
    """
    scaled = values * 1e6
    rounded: NDArray[np.float64] = np.rint(scaled) / 1e6
    near_tie = np.abs(np.abs(scaled - np.trunc(scaled)) - 0.5) <= np.abs(np.spacing(scaled))
    rounded[near_tie] = [round(value, 6) for value in values[near_tie].tolist()]
    return rounded
