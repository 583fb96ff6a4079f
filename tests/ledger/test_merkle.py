"""cellorg.ledger.merkle against transparency-dev/merkle's probe files and a naive RFC 9162 reference."""

import base64
import hashlib
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from eth_hash.backends import pysha3
from eth_hash.main import Keccak256
from hypothesis import given, settings
from hypothesis import strategies as st

from cellorg.ledger.merkle import (
    KECCAK256,
    SHA256,
    NodeKey,
    ProofError,
    TreeHasher,
    append_keys,
    appended_nodes,
    consistency_keys,
    consistency_proof,
    inclusion_keys,
    inclusion_proof,
    root,
    root_keys,
    subtree_consistency_keys,
    subtree_consistency_proof,
    subtree_inclusion_keys,
    subtree_inclusion_proof,
    subtree_root,
    subtree_root_keys,
    verify_consistency,
    verify_inclusion,
    verify_subtree_consistency,
    verify_subtree_inclusion,
)

PROBE_DIR = Path(__file__).parents[1] / "data" / "merkle"
PROBES = sorted(path.relative_to(PROBE_DIR).as_posix() for path in PROBE_DIR.rglob("*.json"))
# The leaves behind the probes' happy paths (transparency-dev/merkle testonly, from RFC 6962's test vectors).
PROBE_LEAVES = [bytes.fromhex(h) for h in ("", "00", "10", "2021", "3031", "40414243", "5051525354555657")] + [
    bytes(range(0x60, 0x70))
]
MAX_SIZE = 70
HASHERS = pytest.mark.parametrize("hasher", [SHA256, KECCAK256], ids=["sha256", "keccak256"])


class NaiveTree:
    """MTH, PATH and PROOF written straight from RFC 9162 2.1, recursive, over ranges of the leaf hashes."""

    def __init__(self, hasher: TreeHasher, leaf_hashes: list[bytes]) -> None:
        self.hasher = hasher
        self.leaves = leaf_hashes
        self.mth = cache(self._mth)

    def _mth(self, start: int, end: int) -> bytes:
        if end == start:
            return self.hasher.empty_root()
        if end - start == 1:
            return self.leaves[start]
        k = start + _split(end - start)
        return self.hasher.node(self.mth(start, k), self.mth(k, end))

    def path(self, index: int, start: int, end: int) -> list[bytes]:
        """PATH(index - start, D[start:end])."""
        if end - start == 1:
            return []
        k = start + _split(end - start)
        if index < k:
            return [*self.path(index, start, k), self.mth(k, end)]
        return [*self.path(index, k, end), self.mth(start, k)]

    def proof(self, m: int, n: int) -> list[bytes]:
        """PROOF(m, D[n]) = SUBPROOF(m, D[n], true)."""
        return self._subproof(m, 0, n, known=True)

    def _subproof(self, m: int, start: int, end: int, known: bool) -> list[bytes]:
        if m == end - start:
            return [] if known else [self.mth(start, end)]
        k = _split(end - start)
        if m <= k:
            return [*self._subproof(m, start, start + k, known), self.mth(start + k, end)]
        return [*self._subproof(m - k, start + k, end, False), self.mth(start, start + k)]

    def complete_nodes(self, size: int) -> dict[NodeKey, bytes]:
        """Every perfect aligned subtree complete at ``size``: what the ledger should have stored."""
        return {
            (level, index): self.mth(index << level, (index + 1) << level)
            for level in range(size.bit_length())
            for index in range(size >> level)
        }


def _split(n: int) -> int:
    """The largest power of two smaller than n (RFC 9162's k)."""
    return 1 << ((n - 1).bit_length() - 1)


def leaf_hashes(hasher: TreeHasher, count: int) -> list[bytes]:
    return [hasher.leaf(f"entry {i}".encode()) for i in range(count)]


def fetch(store: Mapping[NodeKey, bytes], keys: list[NodeKey], size: int) -> dict[NodeKey, bytes]:
    """What the ledger's batched read returns: only the named keys, each a node already complete at ``size``."""
    assert all((index + 1) << level <= size for level, index in keys), keys
    return {key: store[key] for key in keys}


def build_store(hasher: TreeHasher, leaves: list[bytes], batch_sizes: Iterable[int]) -> dict[NodeKey, bytes]:
    store: dict[NodeKey, bytes] = {}
    size = 0
    for batch in batch_sizes:
        store.update(appended_nodes(hasher, size, leaves[size : size + batch], fetch(store, append_keys(size), size)))
        size += batch
    assert size == len(leaves)
    return store


def mixed_batches(total: int, pattern: tuple[int, ...] = (1, 3, 2, 8, 1, 13, 5, 21, 4)) -> list[int]:
    """Batch sizes of every parity and alignment; the hypothesis test below tries arbitrary ones."""
    batches: list[int] = []
    while (left := total - sum(batches)) > 0:
        batches.append(min(left, pattern[len(batches) % len(pattern)]))
    return batches


def is_subtree(start: int, end: int) -> bool:
    return start == end or start % (1 << (end - start - 1).bit_length()) == 0


# --- transparency-dev/merkle probe files ----------------------------------------------------------------------


def b64(value: str) -> bytes:
    return base64.b64decode(value)


def verify_probe(probe: str, case: dict[str, Any], corrupt_root: bool = False) -> None:
    """Runs the verifier a probe's folder is for; ``corrupt_root`` flips a bit of the first root it gives."""
    proof = [b64(element) for element in case["proof"] or []]
    first_root = b64(case["root"] if "root" in case else case["root1"])
    if corrupt_root:
        first_root = bytes([first_root[0] ^ 1, *first_root[1:]])
    match probe.split("/", maxsplit=1)[0]:
        case "inclusion":
            verify_inclusion(SHA256, case["leafIdx"], case["treeSize"], b64(case["leafHash"]), proof, first_root)
        case "consistency":
            verify_consistency(SHA256, case["size1"], case["size2"], first_root, b64(case["root2"]), proof)
        case "subtreeinclusion":
            start, end, leaf_hash = case["start"], case["end"], b64(case["leafHash"])
            verify_subtree_inclusion(SHA256, case["leafIdx"], start, end, leaf_hash, proof, first_root)
        case "subtreeconsistency":
            start, end, size = case["start"], case["end"], case["size"]
            verify_subtree_consistency(SHA256, start, end, size, first_root, b64(case["root2"]), proof)
        case _:
            pytest.fail(f"no verifier for {probe}")


def load_probe(probe: str) -> dict[str, Any]:
    case: dict[str, Any] = json.loads((PROBE_DIR / probe).read_text())
    return case


def test_all_probe_files_are_collected() -> None:
    folders = {probe.split("/")[0] for probe in PROBES}
    assert (len(PROBES), folders) == (518, {"inclusion", "consistency", "subtreeinclusion", "subtreeconsistency"})


@pytest.mark.parametrize("probe", PROBES)
def test_probe(probe: str) -> None:
    case = load_probe(probe)
    if case["wantErr"]:
        with pytest.raises(ProofError):
            verify_probe(probe, case)
        return
    verify_probe(probe, case)
    with pytest.raises(ProofError, match=r"differ|its hash is not"):
        verify_probe(probe, case, corrupt_root=True)


@pytest.mark.parametrize("probe", [probe for probe in PROBES if probe.endswith("/happy-path.json")])
def test_generated_proofs_equal_the_happy_paths(probe: str) -> None:
    case = load_probe(probe)
    leaves = [SHA256.leaf(data) for data in PROBE_LEAVES]
    store = build_store(SHA256, leaves, [3, 1, 4])
    proof = [b64(element) for element in case["proof"] or []]
    match probe.split("/", maxsplit=1)[0]:
        case "inclusion":
            index, size = case["leafIdx"], case["treeSize"]
            generated = inclusion_proof(SHA256, index, size, fetch(store, inclusion_keys(index, size), size))
            roots = [root(SHA256, size, fetch(store, root_keys(size), size))]
        case "consistency":
            old, new = case["size1"], case["size2"]
            generated = consistency_proof(SHA256, old, new, fetch(store, consistency_keys(old, new), new))
            roots = [root(SHA256, size, fetch(store, root_keys(size), size)) for size in (old, new)]
        case "subtreeinclusion":
            index, start, end = case["leafIdx"], case["start"], case["end"]
            keys = subtree_inclusion_keys(index, start, end)
            generated = subtree_inclusion_proof(SHA256, index, start, end, fetch(store, keys, end))
            roots = [subtree_root(SHA256, start, end, fetch(store, subtree_root_keys(start, end), end))]
        case _:
            start, end, size = case["start"], case["end"], case["size"]
            keys = subtree_consistency_keys(start, end, size)
            generated = subtree_consistency_proof(SHA256, start, end, size, fetch(store, keys, size))
            roots = [
                subtree_root(SHA256, start, end, fetch(store, subtree_root_keys(start, end), end)),
                root(SHA256, size, fetch(store, root_keys(size), size)),
            ]
    assert generated == proof
    assert roots == [b64(case[name]) for name in ("root", "root1", "root2") if name in case]


# --- Hashers -------------------------------------------------------------------------------------------------


def test_sha256_hasher_separates_leaves_from_nodes() -> None:
    assert SHA256.empty_root() == hashlib.sha256(b"").digest()
    assert SHA256.leaf(b"") == b64("bjQLnP+zepicpUTmu3gKLHiQHT+zNzh2hRGjBhevoB0=")
    assert SHA256.node(b"a", b"b") == hashlib.sha256(b"\x01ab").digest()
    assert SHA256.digest_size == 32


def test_keccak256_hasher_is_keccak_not_sha3() -> None:
    keccak = Keccak256(pysha3.backend)
    assert KECCAK256.empty_root().hex() == "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
    assert KECCAK256.empty_root() != hashlib.sha3_256(b"").digest()
    assert KECCAK256.leaf(b"entry") == keccak(b"\x00entry")
    assert KECCAK256.node(b"l", b"r") == keccak(b"\x01lr")
    assert KECCAK256.digest_size == 32


# --- Reads from stored nodes against the naive reference -------------------------------------------------------


@HASHERS
def test_roots_and_proofs_from_stored_nodes_equal_the_naive_ones(hasher: TreeHasher) -> None:
    leaves = leaf_hashes(hasher, MAX_SIZE)
    naive = NaiveTree(hasher, leaves)
    store = build_store(hasher, leaves, mixed_batches(MAX_SIZE))
    for size in range(MAX_SIZE + 1):
        tree_root = root(hasher, size, fetch(store, root_keys(size), size))
        assert tree_root == naive.mth(0, size)
        for index in range(size):
            proof = inclusion_proof(hasher, index, size, fetch(store, inclusion_keys(index, size), size))
            assert proof == naive.path(index, 0, size)
            verify_inclusion(hasher, index, size, leaves[index], proof, tree_root)
        for old in range(1, size + 1):
            proof = consistency_proof(hasher, old, size, fetch(store, consistency_keys(old, size), size))
            assert proof == naive.proof(old, size)
            verify_consistency(hasher, old, size, naive.mth(0, old), tree_root, proof)


@given(batches=st.lists(st.integers(min_value=0, max_value=24), min_size=1, max_size=40))
@settings(max_examples=80, deadline=None)
def test_appending_in_any_batches_stores_every_complete_node_once(batches: list[int]) -> None:
    leaves = leaf_hashes(SHA256, MAX_SIZE)
    naive = NaiveTree(SHA256, leaves)
    store: dict[NodeKey, bytes] = {}
    size = 0
    for wanted in batches:
        batch = leaves[size : size + wanted]
        created = appended_nodes(SHA256, size, batch, fetch(store, append_keys(size), size))
        assert not created.keys() & store.keys()
        store.update(created)
        size += len(batch)
        assert store == naive.complete_nodes(size)
        assert root(SHA256, size, fetch(store, root_keys(size), size)) == naive.mth(0, size)


def test_a_tree_stores_its_leaves_and_one_interior_node_per_leaf_but_the_border() -> None:
    store = build_store(SHA256, leaf_hashes(SHA256, MAX_SIZE), [MAX_SIZE])
    assert len(store) == 2 * MAX_SIZE - MAX_SIZE.bit_count()
    assert appended_nodes(SHA256, MAX_SIZE, [], {}) == {}


@HASHERS
def test_subtree_proofs_from_stored_nodes_verify(hasher: TreeHasher) -> None:
    size = 40
    leaves = leaf_hashes(hasher, size)
    naive = NaiveTree(hasher, leaves)
    store = build_store(hasher, leaves, mixed_batches(size, (5, 2, 7, 1, 16)))
    for end in range(size + 1):
        for start in [start for start in range(end + 1) if is_subtree(start, end)]:
            subtree_hash = subtree_root(hasher, start, end, fetch(store, subtree_root_keys(start, end), end))
            assert subtree_hash == naive.mth(start, end)
            for index in range(start, end):
                keys = subtree_inclusion_keys(index, start, end)
                proof = subtree_inclusion_proof(hasher, index, start, end, fetch(store, keys, end))
                assert proof == naive.path(index, start, end)
                verify_subtree_inclusion(hasher, index, start, end, leaves[index], proof, subtree_hash)
            for tree_size in range(end, size + 1):
                keys = subtree_consistency_keys(start, end, tree_size)
                proof = subtree_consistency_proof(hasher, start, end, tree_size, fetch(store, keys, tree_size))
                if start == 0 < end:
                    assert proof == naive.proof(end, tree_size)
                verify_subtree_consistency(hasher, start, end, tree_size, subtree_hash, naive.mth(0, tree_size), proof)


@pytest.mark.parametrize(
    ("start", "end", "size"), [(0, 5, 13), (8, 14, 16), (8, 12, 13), (16, 21, 29), (4, 6, 6), (32, 33, 40)]
)
def test_a_tampered_subtree_consistency_proof_fails(start: int, end: int, size: int) -> None:
    leaves = leaf_hashes(SHA256, size)
    store = build_store(SHA256, leaves, [size])
    naive = NaiveTree(SHA256, leaves)
    proof = subtree_consistency_proof(SHA256, start, end, size, store)
    subtree_hash, tree_root = naive.mth(start, end), naive.mth(0, size)
    for position in range(len(proof)):
        tampered = [*proof[:position], bytes([proof[position][0] ^ 0x80, *proof[position][1:]]), *proof[position + 1 :]]
        with pytest.raises(ProofError, match="differs"):
            verify_subtree_consistency(SHA256, start, end, size, subtree_hash, tree_root, tampered)
    with pytest.raises(ProofError, match=r"proof has 1 extra element$"):
        verify_subtree_consistency(SHA256, start, end, size, subtree_hash, tree_root, [*proof, proof[0]])
    with pytest.raises(ProofError, match=r"proof is missing 1 element$"):
        verify_subtree_consistency(SHA256, start, end, size, subtree_hash, tree_root, proof[:-1])


# --- What verification rejects, and why -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tree7() -> NaiveTree:
    return NaiveTree(SHA256, leaf_hashes(SHA256, 7))


@pytest.mark.parametrize(
    ("index", "size", "edit", "message"),
    [
        (7, 7, None, "leaf index 7 is not below the tree size 7"),
        (-1, 7, None, "index -1 is negative"),
        (2, 7, "append", "proof has 1 extra element"),
        (2, 7, "append twice", "proof has 2 extra elements"),
        (2, 7, "drop last", "proof is missing 1 element"),
        (6, 7, "drop all", "proof is missing 2 elements"),
        (2, 7, "short element", "proof element 1 has 31 bytes, not 32"),
        (2, 7, "other leaf", "computed root differs from the expected root"),
    ],
)
def test_inclusion_rejections_say_which_check_failed(
    tree7: NaiveTree, index: int, size: int, edit: str | None, message: str
) -> None:
    in_tree = 0 <= index < size
    proof = tree7.path(index, 0, size) if in_tree else []
    leaf_hash = tree7.leaves[index] if in_tree else tree7.leaves[0]
    if edit == "append":
        proof = [*proof, proof[0]]
    elif edit == "append twice":
        proof = [*proof, proof[0], proof[0]]
    elif edit == "drop last":
        proof = proof[:-1]
    elif edit == "drop all":
        proof = []
    elif edit == "short element":
        proof = [proof[0], proof[1][:31], *proof[2:]]
    elif edit == "other leaf":
        leaf_hash = tree7.leaves[index + 1]
    with pytest.raises(ProofError, match=f"^{re.escape(message)}$"):
        verify_inclusion(SHA256, index, size, leaf_hash, proof, tree7.mth(0, size))


@pytest.mark.parametrize(
    ("old", "new", "edit", "message"),
    [
        (5, 4, None, "old size 5 exceeds new size 4"),
        (0, 0, None, "a consistency proof from the empty tree proves nothing"),
        (0, 3, None, "a consistency proof from the empty tree proves nothing"),
        (3, 3, "append", "sizes are equal, yet the proof has 1 element"),
        (3, 3, "other new root", "sizes are equal, yet the roots differ"),
        (3, 7, "drop all", "proof is empty"),
        (3, 7, "append", "proof has 1 extra element"),
        (3, 7, "drop last", "proof is missing 1 element"),
        (6, 7, "drop last", "proof is missing 1 element"),
        (3, 7, "other old root", "computed old root differs from the expected old root"),
        (3, 7, "other new root", "computed new root differs from the expected new root"),
        (4, 7, "other old root", "computed new root differs from the expected new root"),
    ],
)
def test_consistency_rejections_say_which_check_failed(
    tree7: NaiveTree, old: int, new: int, edit: str | None, message: str
) -> None:
    proof = tree7.proof(old, new) if 0 < old <= new else []
    old_root, new_root = tree7.mth(0, min(old, new)), tree7.mth(0, new)
    if edit == "append":
        proof = [*proof, tree7.leaves[0]]
    elif edit == "drop last":
        proof = proof[:-1]
    elif edit == "drop all":
        proof = []
    elif edit == "other old root":
        old_root = tree7.mth(0, old - 1)
    elif edit == "other new root":
        new_root = tree7.mth(0, new - 1)
    with pytest.raises(ProofError, match=f"^{re.escape(message)}$"):
        verify_consistency(SHA256, old, new, old_root, new_root, proof)


def test_subtree_rejections_say_which_check_failed(tree7: NaiveTree) -> None:
    empty, proof, tree_root = SHA256.empty_root(), tree7.proof(4, 7), tree7.mth(0, 7)
    failures: dict[str, Callable[[], None]] = {
        "subtree end 8 exceeds the tree size 7": lambda: verify_subtree_consistency(
            SHA256, 0, 8, 7, tree_root, tree_root, []
        ),
        "[2, 6) is not a valid subtree": lambda: verify_subtree_consistency(SHA256, 2, 6, 7, tree_root, tree_root, []),
        "start -4 is negative": lambda: verify_subtree_consistency(SHA256, -4, 0, 7, empty, tree_root, []),
        "the subtree is empty, yet the proof has 1 element": lambda: verify_subtree_consistency(
            SHA256, 3, 3, 7, empty, tree_root, proof
        ),
        'the subtree is empty, yet its hash is not H("")': lambda: verify_subtree_consistency(
            SHA256, 3, 3, 7, tree_root, tree_root, []
        ),
        "leaf index 3 is outside the subtree [4, 6)": lambda: verify_subtree_inclusion(
            SHA256, 3, 4, 6, tree7.leaves[3], [], tree_root
        ),
        "[1, 3) is not a valid subtree": lambda: verify_subtree_inclusion(
            SHA256, 1, 1, 3, tree7.leaves[1], [], tree_root
        ),
    }
    for message, verify in failures.items():
        with pytest.raises(ProofError, match=f"^{re.escape(message)}$"):
            verify()


def test_proof_generation_rejects_impossible_requests() -> None:
    with pytest.raises(ValueError, match="leaf index 5 is not in a tree of 5 leaves"):
        inclusion_keys(5, 5)
    with pytest.raises(ValueError, match="no consistency proof from size 0 to size 3"):
        consistency_keys(0, 3)
    with pytest.raises(ValueError, match="no consistency proof from size 4 to size 3"):
        consistency_keys(4, 3)
    with pytest.raises(ValueError, match=r"\[2, 6\) is not a valid subtree"):
        subtree_root_keys(2, 6)
    with pytest.raises(ValueError, match="subtree end 8 exceeds the tree size 7"):
        subtree_consistency_keys(0, 8, 7)
    with pytest.raises(ValueError, match=r"leaf index 3 is outside the subtree \[4, 6\)"):
        subtree_inclusion_keys(3, 4, 6)
    assert consistency_keys(6, 6) == []
    assert root_keys(0) == []
    assert root(SHA256, 0, {}) == SHA256.empty_root()


# --- O(log n) reads -------------------------------------------------------------------------------------------


def test_every_operation_needs_o_log_n_keys_at_a_million_leaves() -> None:
    size = 1_000_000
    bound = 2 * math.log2(size) + 2
    edges = [i for k in range(size.bit_length()) for i in ((1 << k) - 1, 1 << k, (1 << k) + 1) if i < size]
    indices = [*edges, size - 1, *range(0, size, 197)]
    most = {
        "root": max(len(root_keys(s)) for s in range(size - 1024, size + 1)),
        "append": max(len(append_keys(s)) for s in range(size - 1024, size + 1)),
        "inclusion": max(len(inclusion_keys(i, size)) for i in indices),
        "consistency": max(len(consistency_keys(old, size)) for old in indices if old > 0),
        "subtree inclusion": max(len(subtree_inclusion_keys(i, 1 << 19, size)) for i in indices if i >= 1 << 19),
        "subtree consistency": max(
            len(subtree_consistency_keys(1 << 19, end, size)) for end in indices if end >= 1 << 19
        ),
    }
    assert all(count <= bound for count in most.values()), most
    assert most["inclusion"] >= math.log2(size) - 1  # the sample does reach deep proofs
