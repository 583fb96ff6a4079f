"""One squad proposal from 100,000 candidates with a diversity constraint (pure computation, no database).

Builds a synthetic pool: every candidate is eligible for a random subset of the 20 slots (headcount 1 each)
with random scores, and belongs to one of 30 regions and one of 40 functions. Times
``talent_pool.matcher.match`` under MinDistinctUnits("region", 5) and MaxPerUnit("function", 2), after one
warm-up call.

    python benchmarks/matcher.py [--candidates 100000] [--max-slots-per-candidate 4] [--runs 20] [--seed 7]
"""

import argparse
import gc
import random
import statistics
import time

from cellorg.talent_pool.matcher import (
    Candidate,
    MaxPerUnit,
    MinDistinctUnits,
    Proposal,
    Score,
    Slot,
    SquadConstraints,
    match,
)

SLOTS, REGIONS, FUNCTIONS = 20, 30, 40
CONSTRAINTS = SquadConstraints(max_per_unit=(MaxPerUnit("function", 2),), min_distinct=(MinDistinctUnits("region", 5),))


def build(
    candidate_count: int, max_slots_per_candidate: int, seed: int
) -> tuple[list[Slot], list[Candidate], dict[tuple[int, int], Score]]:
    rng = random.Random(seed)
    slots = [Slot(slot_id, 1) for slot_id in range(1, SLOTS + 1)]
    candidates = [
        Candidate(person_id, {"region": rng.randrange(REGIONS), "function": rng.randrange(FUNCTIONS)})
        for person_id in range(1, candidate_count + 1)
    ]
    scores = {}
    for candidate in candidates:
        for slot in rng.sample(slots, rng.randint(1, max_slots_per_candidate)):
            parts = {
                "level": rng.randint(0, 4) / 2,
                "endorsements": round(rng.random(), 3),
                "freshness": round(rng.random(), 3),
                "availability": rng.choice((0.5, 1.0)),
            }
            scores[slot.slot_id, candidate.person_id] = Score(sum(parts.values()), parts)
    return slots, candidates, scores


def main(candidate_count: int, max_slots_per_candidate: int, runs: int, seed: int) -> None:
    started = time.perf_counter()
    slots, candidates, scores = build(candidate_count, max_slots_per_candidate, seed)
    print(
        f"built {len(candidates):,} candidates and {len(scores):,} scored pairs for {len(slots)} slots"
        f" in {time.perf_counter() - started:.1f} s"
    )
    proposal = match(slots, candidates, scores, CONSTRAINTS)  # warm-up
    assert isinstance(proposal, Proposal), proposal
    gc.freeze()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        match(slots, candidates, scores, CONSTRAINTS)
        samples.append((time.perf_counter() - start) * 1000)
    ordered = sorted(samples)
    p95 = ordered[max(0, round(len(ordered) * 0.95) - 1)]
    print(f"squad total {proposal.total:.3f} from {len({a.person_id for a in proposal.assignments})} people")
    print(
        f"match over {len(candidates):,} candidates: median {statistics.median(ordered):.1f} ms,"
        f" p95 {p95:.1f} ms, n={runs} (target well under 300 ms)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--candidates", type=int, default=100_000)
    parser.add_argument("--max-slots-per-candidate", type=int, default=4)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    arguments = parser.parse_args()
    main(arguments.candidates, arguments.max_slots_per_candidate, arguments.runs, arguments.seed)
