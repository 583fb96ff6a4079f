"""The ledger's Merkle tree in memory (no database): appending 1,000,000 leaves in batches, then proofs.

Builds the node store with ``appended_nodes`` batch after batch, as the ledger does, then times an inclusion
proof (naming the keys, fetching them from the dict, hashing the right edge) for random leaves, and its
verification. Target: an inclusion proof well under 1 ms.

    python benchmarks/merkle.py [--leaves 1000000] [--batch 1000] [--proofs 1000] [--hasher keccak256 sha256]
"""

import argparse
import gc
import random
import statistics
import sys
import time
from pathlib import Path

from cellorg.ledger.merkle import (
    KECCAK256,
    SHA256,
    NodeKey,
    TreeHasher,
    append_keys,
    appended_nodes,
    inclusion_keys,
    inclusion_proof,
    root,
    root_keys,
    verify_inclusion,
)

sys.path.insert(0, str(Path(__file__).parent))
from _common import describe

HASHERS = {"keccak256": KECCAK256, "sha256": SHA256}


def build(hasher: TreeHasher, leaf_hashes: list[bytes], batch: int) -> tuple[dict[NodeKey, bytes], float]:
    """The node store of the whole tree, and the seconds ``appended_nodes`` took (border reads included)."""
    nodes: dict[NodeKey, bytes] = {}
    started = time.perf_counter()
    for size in range(0, len(leaf_hashes), batch):
        border = {key: nodes[key] for key in append_keys(size)}
        nodes.update(appended_nodes(hasher, size, leaf_hashes[size : size + batch], border))
    return nodes, time.perf_counter() - started


def time_proofs(hasher: TreeHasher, nodes: dict[NodeKey, bytes], size: int, indices: list[int]) -> list[float]:
    """Milliseconds per inclusion proof: keys, the batched read (here a dict), the proof."""
    samples = []
    for index in indices:
        started = time.perf_counter()
        inclusion_proof(hasher, index, size, {key: nodes[key] for key in inclusion_keys(index, size)})
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def time_verifications(hasher: TreeHasher, nodes: dict[NodeKey, bytes], size: int, indices: list[int]) -> list[float]:
    tree_root = root(hasher, size, {key: nodes[key] for key in root_keys(size)})
    samples = []
    for index in indices:
        proof = inclusion_proof(hasher, index, size, {key: nodes[key] for key in inclusion_keys(index, size)})
        started = time.perf_counter()
        verify_inclusion(hasher, index, size, nodes[(0, index)], proof, tree_root)
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def report(samples: list[float]) -> str:
    """``describe`` rounds to 10 us; these calls take tens of them."""
    return f"{describe(samples)}; median {statistics.median(samples) * 1000:.1f} us"


def run(name: str, leaves: int, batch: int, proofs: int) -> None:
    hasher = HASHERS[name]
    started = time.perf_counter()
    leaf_hashes = [hasher.leaf(i.to_bytes(8, "big")) for i in range(leaves)]
    hashing = time.perf_counter() - started
    nodes, appending = build(hasher, leaf_hashes, batch)
    gc.collect()
    gc.freeze()
    indices = random.Random(20).sample(range(leaves), proofs)
    print(f"{name}: {leaves:,} leaves, batches of {batch:,}, {len(nodes):,} stored nodes")
    print(f"  leaf hashes           {leaves / hashing:,.0f} leaves/s")
    print(f"  appended_nodes        {leaves / appending:,.0f} leaves/s ({appending:.2f} s)")
    print(f"  inclusion proof       {report(time_proofs(hasher, nodes, leaves, indices))} (target well under 1 ms)")
    print(f"  inclusion check       {report(time_verifications(hasher, nodes, leaves, indices))}")
    gc.unfreeze()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leaves", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=1_000)
    parser.add_argument("--proofs", type=int, default=1_000)
    parser.add_argument("--hasher", nargs="+", choices=sorted(HASHERS), default=["keccak256", "sha256"])
    args = parser.parse_args()
    for name in args.hasher:
        run(name, args.leaves, args.batch, args.proofs)


if __name__ == "__main__":
    main()
