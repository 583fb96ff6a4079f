"""RFC 9162 (Certificate Transparency v2, section 2.1) Merkle trees over a node store, for any hash function.

Storage model. The ledger never rebuilds a tree: it keeps, for every *perfect aligned subtree* that is complete,
its hash under the key ``(level, index)``: the hash of leaves ``[index * 2**level, (index + 1) * 2**level)``.
Level 0 holds the leaf hashes. Such a node never changes once its last leaf is in, so appending leaves only adds
keys (:func:`appended_nodes`), about two per leaf: the leaf itself and, amortized, one interior node.

A tree of any size, and every node on its right edge, is a range ``[start, end)`` that is not perfect; its hash is
folded from the O(log n) perfect subtrees that compose it (the binary digits of ``end - start``).

The module is pure: each operation comes as a pair. ``*_keys(...)`` names the O(log n) stored nodes it needs;
the caller fetches them in one batched read and passes them, as a mapping, to the function that computes the
result. Missing keys raise ``KeyError``.

Verification (:func:`verify_inclusion`, :func:`verify_consistency`) follows RFC 9162 2.1.3.2 and 2.1.4.2 step by
step, after checking that the leaf hash and every proof element have the digest's size; the subtree variants follow
the Merkle Tree Certificates draft (draft-ietf-plants-merkle-tree-certs, section 4), as transparency-dev/merkle
implements it. They raise :class:`ProofError` saying which check failed.
"""

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeAlias

from sha3 import keccak_256  # type: ignore[import-untyped]

from cellorg.ledger.hashing import keccak256

NodeKey: TypeAlias = tuple[int, int]
"""``(level, index)``: the perfect subtree over leaves ``[index * 2**level, (index + 1) * 2**level)``."""

_Span: TypeAlias = tuple[NodeKey, ...]
"""The perfect subtrees, left to right, whose fold is the hash of one range of leaves."""


class ProofError(ValueError):
    """A proof does not verify; the message says which check failed."""


class HashObject(Protocol):
    def digest(self) -> bytes: ...


@dataclass(frozen=True, slots=True)
class TreeHasher:
    """RFC 9162 domain separation: leaf = H(0x00 || data), node = H(0x01 || left || right), empty root = H("").

    ``new``, the hash's hashlib-style constructor, lets :meth:`parents` hash a row with no Python call per node
    (``digest`` is a Python function: its call costs a third of a keccak256 of two nodes).
    """

    digest: Callable[[bytes], bytes]
    new: Callable[[bytes], HashObject] | None = None
    digest_size: int = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "digest_size", len(self.digest(b"")))

    def leaf(self, data: bytes) -> bytes:
        return self.digest(b"\x00" + data)

    def node(self, left: bytes, right: bytes) -> bytes:
        return self.digest(b"\x01" + left + right)

    def parents(self, row: Sequence[bytes]) -> list[bytes]:
        """``node`` of each pair in ``row``, left to right (an odd last one has no parent yet)."""
        pairs = zip(row[::2], row[1::2], strict=False)
        if self.new is None:
            digest = self.digest
            return [digest(b"\x01" + left + right) for left, right in pairs]
        new = self.new
        return [new(b"\x01" + left + right).digest() for left, right in pairs]

    def empty_root(self) -> bytes:
        return self.digest(b"")


SHA256 = TreeHasher(lambda data: hashlib.sha256(data).digest(), hashlib.sha256)
KECCAK256 = TreeHasher(keccak256, keccak_256)  # the C constructor hashing.keccak256 calls


# --- Reading: root, inclusion and consistency proofs from stored nodes ---------------------------------------


def root_keys(size: int) -> list[NodeKey]:
    """The stored nodes :func:`root` needs for a tree of ``size`` leaves."""
    return subtree_root_keys(0, size)


def root(hasher: TreeHasher, size: int, nodes: Mapping[NodeKey, bytes]) -> bytes:
    """MTH(D[size]); the empty tree's root is H("")."""
    return subtree_root(hasher, 0, size, nodes)


def inclusion_keys(index: int, size: int) -> list[NodeKey]:
    return _flatten(_inclusion_plan(index, size))


def inclusion_proof(hasher: TreeHasher, index: int, size: int, nodes: Mapping[NodeKey, bytes]) -> list[bytes]:
    """PATH(index, D[size]) of RFC 9162 2.1.3.1, sibling hashes from the leaf upwards."""
    return _hashes(hasher, _inclusion_plan(index, size), nodes)


def consistency_keys(old_size: int, new_size: int) -> list[NodeKey]:
    return _flatten(_consistency_plan(old_size, new_size))


def consistency_proof(hasher: TreeHasher, old_size: int, new_size: int, nodes: Mapping[NodeKey, bytes]) -> list[bytes]:
    """PROOF(old_size, D[new_size]) of RFC 9162 2.1.4.1; empty when the sizes are equal."""
    return _hashes(hasher, _consistency_plan(old_size, new_size), nodes)


def subtree_root_keys(start: int, end: int) -> list[NodeKey]:
    _require_subtree(start, end)
    return list(_cover(start, end))


def subtree_root(hasher: TreeHasher, start: int, end: int, nodes: Mapping[NodeKey, bytes]) -> bytes:
    """The hash of the subtree ``[start, end)``; H("") when it is empty."""
    keys = subtree_root_keys(start, end)
    return _fold(hasher, keys, nodes) if keys else hasher.empty_root()


def subtree_inclusion_keys(index: int, start: int, end: int) -> list[NodeKey]:
    return _flatten(_subtree_inclusion_plan(index, start, end))


def subtree_inclusion_proof(
    hasher: TreeHasher, index: int, start: int, end: int, nodes: Mapping[NodeKey, bytes]
) -> list[bytes]:
    """The inclusion proof of leaf ``index`` in the subtree ``[start, end)``, up to the subtree's root."""
    return _hashes(hasher, _subtree_inclusion_plan(index, start, end), nodes)


def subtree_consistency_keys(start: int, end: int, size: int) -> list[NodeKey]:
    return _flatten(_subtree_consistency_plan(start, end, size))


def subtree_consistency_proof(
    hasher: TreeHasher, start: int, end: int, size: int, nodes: Mapping[NodeKey, bytes]
) -> list[bytes]:
    """SUBTREE_PROOF(start, end, D[size]) of the Merkle Tree Certificates draft, section 4.4.1."""
    return _hashes(hasher, _subtree_consistency_plan(start, end, size), nodes)


# --- Writing: the nodes a batch of leaves completes ------------------------------------------------------------


def append_keys(size_before: int) -> list[NodeKey]:
    """The right border of the tree: the only stored nodes that leaves appended after ``size_before`` can pair with."""
    return root_keys(size_before)


def appended_nodes(
    hasher: TreeHasher, size_before: int, new_leaf_hashes: Sequence[bytes], nodes: Mapping[NodeKey, bytes]
) -> dict[NodeKey, bytes]:
    """Every node that appending ``new_leaf_hashes`` completes, the new leaves (level 0) included."""
    return {
        (level, first + offset): hash_
        for level, first, row in appended_levels(hasher, size_before, new_leaf_hashes, nodes)
        for offset, hash_ in enumerate(row)
    }


def appended_levels(
    hasher: TreeHasher, size_before: int, new_leaf_hashes: Sequence[bytes], nodes: Mapping[NodeKey, bytes]
) -> list[tuple[int, int, list[bytes]]]:
    """The nodes of :func:`appended_nodes` as rows, from the leaves up: ``(level, first index, hashes)``.

    A caller that compares them with stored rows (the replay) skips building a million-key dict.
    """
    _require(size_before >= 0, f"tree size {size_before} is negative")
    levels: list[tuple[int, int, list[bytes]]] = []
    level, first, row = 0, size_before, list(new_leaf_hashes)
    while row:
        levels.append((level, first, row))
        if first & 1:  # the first new node is a right child: its left sibling completed before this batch
            first -= 1
            row = [nodes[(level, first)], *row]
        row = hasher.parents(row)
        level, first = level + 1, first >> 1
    return levels


# --- Verification (pure, for auditors) -------------------------------------------------------------------------


def verify_inclusion(
    hasher: TreeHasher, index: int, size: int, leaf_hash: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    """RFC 9162 2.1.3.2: ``proof`` shows that ``leaf_hash`` is leaf ``index`` of the tree of ``size`` with ``root``."""
    _require_natural(index=index, size=size)
    _check_root(_root_from_inclusion_path(hasher, index, size, leaf_hash, proof), root, "root")


def verify_consistency(
    hasher: TreeHasher, old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """RFC 9162 2.1.4.2: the tree of ``new_size`` and ``new_root`` extends the one of ``old_size`` and ``old_root``."""
    _require_natural(old_size=old_size, new_size=new_size)
    _proof_check(old_size <= new_size, f"old size {old_size} exceeds new size {new_size}")
    _proof_check(old_size > 0, "a consistency proof from the empty tree proves nothing")
    if old_size == new_size:
        _proof_check(not proof, f"sizes are equal, yet the proof has {_elements(len(proof))}")
        _proof_check(old_root == new_root, "sizes are equal, yet the roots differ")
        return
    _proof_check(bool(proof), "proof is empty")  # step 1
    _check_elements(hasher, proof)
    path = [old_root, *proof] if old_size & (old_size - 1) == 0 else list(proof)  # step 2
    fn, sn = old_size - 1, new_size - 1  # step 3
    while fn & 1:  # step 4
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]  # step 5
    for position, c in enumerate(path[1:], start=1):  # step 6
        if sn == 0:
            raise ProofError(f"proof has {_elements(len(path) - position, 'extra ')}")
        if fn & 1 or fn == sn:
            fr, sr = hasher.node(c, fr), hasher.node(c, sr)
            while fn and not fn & 1:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = hasher.node(sr, c)
        fn, sn = fn >> 1, sn >> 1
    _proof_check(sn == 0, f"proof is missing {_elements(_remaining_steps(fn, sn))}")  # step 7
    _check_root(fr, old_root, "old root")
    _check_root(sr, new_root, "new root")


def verify_subtree_inclusion(
    hasher: TreeHasher,
    index: int,
    start: int,
    end: int,
    leaf_hash: bytes,
    proof: Sequence[bytes],
    subtree_hash: bytes,
) -> None:
    """Leaf ``index`` of the subtree ``[start, end)`` whose hash is ``subtree_hash`` has hash ``leaf_hash``."""
    _require_natural(index=index, start=start, end=end)
    _proof_check(_is_subtree(start, end), f"[{start}, {end}) is not a valid subtree")
    _proof_check(start <= index < end, f"leaf index {index} is outside the subtree [{start}, {end})")
    computed = _root_from_inclusion_path(hasher, index - start, end - start, leaf_hash, proof)
    _check_root(computed, subtree_hash, "subtree hash")


def verify_subtree_consistency(
    hasher: TreeHasher,
    start: int,
    end: int,
    size: int,
    subtree_hash: bytes,
    root: bytes,
    proof: Sequence[bytes],
) -> None:
    """The subtree ``[start, end)`` with hash ``subtree_hash`` is part of the tree of ``size`` with ``root``.

    Draft section 4.4.3. An empty subtree is part of every tree: the proof must be empty and the subtree hash H("");
    the tree's root is not examined (transparency-dev/merkle's probes expect exactly that).
    """
    _require_natural(start=start, end=end, size=size)
    _proof_check(_is_subtree(start, end), f"[{start}, {end}) is not a valid subtree")
    _proof_check(end <= size, f"subtree end {end} exceeds the tree size {size}")
    if start == end:
        _proof_check(not proof, f"the subtree is empty, yet the proof has {_elements(len(proof))}")
        _proof_check(subtree_hash == hasher.empty_root(), 'the subtree is empty, yet its hash is not H("")')
        return
    _check_elements(hasher, proof)
    fn, sn, tn = start, end - 1, size - 1  # step 2: paths to the subtree's first and last leaves, the tree's last
    while fn != sn and (sn == tn or sn & 1):  # steps 3-4: climb to where the proof starts
        fn, sn, tn = fn >> 1, sn >> 1, tn >> 1
    path = [subtree_hash, *proof] if fn == sn else list(proof)  # step 5: the subtree itself is a node of the tree
    _proof_check(bool(path), "proof is empty")
    fr = sr = path[0]  # step 6
    for position, c in enumerate(path[1:], start=1):  # step 7
        if tn == 0:
            raise ProofError(f"proof has {_elements(len(path) - position, 'extra ')}")
        if sn & 1 or sn == tn:
            fr = hasher.node(c, fr) if fn < sn else fr
            sr = hasher.node(c, sr)
            while not sn & 1:
                fn, sn, tn = fn >> 1, sn >> 1, tn >> 1
        else:
            sr = hasher.node(sr, c)
        fn, sn, tn = fn >> 1, sn >> 1, tn >> 1
    _proof_check(tn == 0, f"proof is missing {_elements(_remaining_steps(sn, tn))}")  # step 8
    _check_root(fr, subtree_hash, "subtree hash")
    _check_root(sr, root, "root")


# --- Proof plans: which ranges a proof is made of --------------------------------------------------------------


def _inclusion_plan(index: int, size: int) -> list[_Span]:
    _require(0 <= index < size, f"leaf index {index} is not in a tree of {size} leaves")
    return _path(0, index, size)


def _consistency_plan(old_size: int, new_size: int) -> list[_Span]:
    _require(0 < old_size <= new_size, f"no consistency proof from size {old_size} to size {new_size}")
    return _subtree_consistency_plan(0, old_size, new_size)


def _subtree_inclusion_plan(index: int, start: int, end: int) -> list[_Span]:
    _require_subtree(start, end)
    _require(start <= index < end, f"leaf index {index} is outside the subtree [{start}, {end})")
    # The subtree's nodes are those of a tree of end - start leaves, shifted right by start.
    relative = _path(0, index - start, end - start)
    return [tuple((level, i + (start >> level)) for level, i in span) for span in relative]


def _subtree_consistency_plan(start: int, end: int, size: int) -> list[_Span]:
    _require_subtree(start, end)
    _require(end <= size, f"subtree end {end} exceeds the tree size {size}")
    if start == end:
        return []
    if end == size:  # the subtree is a node of the tree: only its left siblings up to the root are missing
        level = ((end - 1) ^ start).bit_length()
        return _path(level, start >> level, size)
    # The largest perfect subtree ending at `end`, followed by its path to the root; the subtree's other nodes
    # lie on that path. The verifier knows that first node already when it is the whole subtree.
    level = ((end - start) & (start - end)).bit_length() - 1
    index = (end - 1) >> level
    path = _path(level, index, size)
    return path if end - start == 1 << level else [((level, index),), *path]


def _path(level: int, index: int, size: int) -> list[_Span]:
    """The siblings of node ``(level, index)`` on its way to the root of the tree of ``size``, bottom up."""
    spans: list[_Span] = []
    last = (size - 1) >> level  # the node on the tree's right edge at this level, maybe incomplete
    while last:
        sibling = index ^ 1
        if sibling < last:
            spans.append(((level, sibling),))
        elif sibling == last:
            spans.append(_cover(sibling << level, size))
        index, last, level = index >> 1, last >> 1, level + 1
    return spans


def _cover(start: int, end: int) -> _Span:
    """The perfect subtrees composing ``[start, end)``, largest first; ``start`` is aligned to the range's size."""
    keys: list[NodeKey] = []
    while start < end:
        level = (end - start).bit_length() - 1
        keys.append((level, start >> level))
        start += 1 << level
    return tuple(keys)


def _fold(hasher: TreeHasher, span: Sequence[NodeKey], nodes: Mapping[NodeKey, bytes]) -> bytes:
    """The hash of a range from its perfect subtrees: each one is the left child of the rest (RFC's split at k)."""
    result = nodes[span[-1]]
    for key in reversed(span[:-1]):
        result = hasher.node(nodes[key], result)
    return result


def _hashes(hasher: TreeHasher, plan: list[_Span], nodes: Mapping[NodeKey, bytes]) -> list[bytes]:
    return [_fold(hasher, span, nodes) for span in plan]


def _flatten(plan: list[_Span]) -> list[NodeKey]:
    return [key for span in plan for key in span]


# --- Checks ----------------------------------------------------------------------------------------------------


def _root_from_inclusion_path(
    hasher: TreeHasher, index: int, size: int, leaf_hash: bytes, proof: Sequence[bytes]
) -> bytes:
    """RFC 9162 2.1.3.2, steps 1 to 4 and the size half of step 5."""
    _proof_check(index < size, f"leaf index {index} is not below the tree size {size}")  # step 1
    _proof_check(len(leaf_hash) == hasher.digest_size, f"leaf hash has {len(leaf_hash)} bytes")
    _check_elements(hasher, proof)
    fn, sn, r = index, size - 1, leaf_hash  # steps 2-3
    for position, p in enumerate(proof):  # step 4
        if sn == 0:
            raise ProofError(f"proof has {_elements(len(proof) - position, 'extra ')}")
        if fn & 1 or fn == sn:
            r = hasher.node(p, r)
            while fn and not fn & 1:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = hasher.node(r, p)
        fn, sn = fn >> 1, sn >> 1
    _proof_check(sn == 0, f"proof is missing {_elements(_remaining_steps(fn, sn))}")  # step 5
    return r


def _remaining_steps(fn: int, sn: int) -> int:
    """How many more elements the verification loops consume from state (fn, sn): the levels below the point
    where the two paths meet, then one left sibling per set bit above it."""
    below = (fn ^ sn).bit_length()
    return below + (fn >> below).bit_count()


def _check_elements(hasher: TreeHasher, proof: Sequence[bytes]) -> None:
    # Sizes matter: a 31-byte element next to a 33-byte one feeds the hash the same bytes as two right ones.
    for position, element in enumerate(proof):
        if len(element) != hasher.digest_size:
            raise ProofError(f"proof element {position} has {len(element)} bytes, not {hasher.digest_size}")


def _check_root(computed: bytes, expected: bytes, name: str) -> None:
    _proof_check(computed == expected, f"computed {name} differs from the expected {name}")


def _proof_check(condition: bool, failure: str) -> None:
    if not condition:
        raise ProofError(failure)


def _require_natural(**values: int) -> None:
    for name, value in values.items():
        _proof_check(value >= 0, f"{name} {value} is negative")


def _require(condition: bool, failure: str) -> None:
    if not condition:
        raise ValueError(failure)


def _require_subtree(start: int, end: int) -> None:
    _require(_is_subtree(start, end), f"[{start}, {end}) is not a valid subtree")


def _is_subtree(start: int, end: int) -> bool:
    """Draft section 4.1: ``start`` is a multiple of the smallest power of two at least ``end - start``."""
    if not 0 <= start <= end:
        return False
    return start == end or start % (1 << (end - start - 1).bit_length()) == 0


def _elements(count: int, kind: str = "") -> str:
    return f"{count} {kind}element" if count == 1 else f"{count} {kind}elements"
