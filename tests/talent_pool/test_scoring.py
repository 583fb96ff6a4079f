from datetime import UTC, datetime, timedelta

import pytest

from cellorg.talent_pool.scoring import ClaimFacts, Requirement, ScoringRules, fit

NOW = datetime(2026, 12, 4, tzinfo=UTC)
PLC = Requirement(skill_id=1, min_level=4, weight=1.0)
ROBOTICS = Requirement(skill_id=2, min_level=3, weight=1.0)


def claim(level: int, *, age_days: float = 0, endorsements: int = 0, shared: int = 0) -> ClaimFacts:
    return ClaimFacts(level, NOW - timedelta(days=age_days), endorsements, shared)


def test_missing_or_too_low_claims_are_not_eligible() -> None:
    assert fit([PLC, ROBOTICS], {1: claim(5)}, free_pct=100, allocation_pct=50, now=NOW) is None
    assert fit([PLC], {1: claim(3)}, free_pct=100, allocation_pct=50, now=NOW) is None
    assert fit([PLC], {1: claim(4)}, free_pct=0, allocation_pct=50, now=NOW) is None


def test_level_above_the_minimum_and_endorsements_add_up() -> None:
    result = fit([PLC, ROBOTICS], {1: claim(5, endorsements=2), 2: claim(3)}, free_pct=100, allocation_pct=50, now=NOW)
    assert result is not None
    assert result.parts == {"level": 2.25, "endorsements": 0.2, "staleness": 0.0, "availability": 0.0}
    assert result.total == 2.45


def test_an_endorser_from_a_shared_squad_counts_half() -> None:
    stranger = fit([PLC], {1: claim(4, endorsements=2)}, free_pct=100, allocation_pct=50, now=NOW)
    teammates = fit([PLC], {1: claim(4, endorsements=2, shared=2)}, free_pct=100, allocation_pct=50, now=NOW)
    assert stranger is not None and teammates is not None
    assert (stranger.parts["endorsements"], teammates.parts["endorsements"]) == (0.2, 0.1)
    custom = fit(
        [PLC],
        {1: claim(4, endorsements=2, shared=2)},
        free_pct=100,
        allocation_pct=50,
        now=NOW,
        rules=ScoringRules(shared_squad_factor=0.25),
    )
    assert custom is not None and custom.parts["endorsements"] == 0.05


def test_a_claim_loses_half_its_weight_per_half_life() -> None:
    result = fit([PLC], {1: claim(4, age_days=180)}, free_pct=100, allocation_pct=50, now=NOW)
    assert result is not None
    assert result.parts["staleness"] == pytest.approx(-0.5)
    assert result.total == pytest.approx(0.5)


def test_limited_availability_scales_the_fit() -> None:
    result = fit([PLC], {1: claim(4)}, free_pct=25, allocation_pct=50, now=NOW)
    assert result is not None
    assert result.parts["availability"] == -0.5
    assert result.total == 0.5
