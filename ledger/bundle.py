"""Proof bundles: everything an auditor needs to check one entry without our database (docs/proof-bundle.md).

``verify_bundle`` trusts nothing in the bundle: it recomputes the EIP-712 digest from the typed data,
recovers the signer, rebuilds the leaf, walks the inclusion proof to the checkpoint's root, recovers the
checkpoint's signer, and, given a chain, reads the anchor transaction back. The first check that fails
is named in the error.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from web3 import Web3

from cellorg.ledger import chain, merkle
from cellorg.ledger.signatures import SignatureError, recover_signer
from cellorg.ledger.typed_data import ENTRY_TYPES, Domain, TypedDataError, digest, full_typed_data

BUNDLE_VERSION = 1
HASHER = merkle.KECCAK256


class BundleError(ValueError):
    """The bundle does not prove its entry; the message names the check that failed."""


@dataclass(frozen=True, slots=True)
class Verified:
    seq: int
    signer: str
    tree_size: int
    root: str
    anchored_on_chain: bool


def build_bundle(
    *,
    seq: int,
    domain: Domain,
    primary_type: str,
    message: Mapping[str, Any],
    signature: bytes,
    signer: str,
    leaf_hash: bytes,
    path: list[bytes],
    checkpoint: Mapping[str, Any],
    anchor: Mapping[str, Any] | None,
) -> dict[str, Any]:
    return {
        "version": BUNDLE_VERSION,
        "hash": "keccak256",
        "entry": {
            "seq": seq,
            "typedData": full_typed_data(domain, primary_type, message),
            "digest": _hex(digest(domain, primary_type, message)),
            "signature": _hex(signature),
            "signer": signer,
        },
        "leafHash": _hex(leaf_hash),
        "inclusion": {"leafIndex": seq - 1, "treeSize": checkpoint["treeSize"], "path": [_hex(p) for p in path]},
        "checkpoint": dict(checkpoint),
        "anchor": dict(anchor) if anchor is not None else None,
    }


def verify_bundle(bundle: Mapping[str, Any], w3: Web3 | None = None, service_address: str | None = None) -> Verified:
    """Check a bundle offline; with ``w3``, also check its anchor transaction on that chain."""
    try:
        return _verify(bundle, w3, service_address)
    except (KeyError, TypeError, ValueError) as error:
        if isinstance(error, BundleError):
            raise
        raise BundleError(f"the bundle is malformed: {type(error).__name__}: {error}") from error


def _verify(bundle: Mapping[str, Any], w3: Web3 | None, service_address: str | None) -> Verified:
    _check(bundle["version"] == BUNDLE_VERSION, f"bundle version {bundle['version']!r} is not {BUNDLE_VERSION}")
    _check(bundle["hash"] == "keccak256", "the bundle's hash function must be keccak256")
    entry, inclusion, checkpoint = bundle["entry"], bundle["inclusion"], bundle["checkpoint"]
    typed = entry["typedData"]
    primary_type = typed["primaryType"]
    _check(primary_type in ENTRY_TYPES, f"primaryType {primary_type!r} is not a ledger entry type")
    domain = _domain(typed["domain"])
    _check(
        typed["types"] == full_typed_data(domain, primary_type, typed["message"])["types"],
        "the typed data's types are not the ledger's EIP-712 types",
    )
    try:
        entry_digest = digest(domain, primary_type, typed["message"])
    except TypedDataError as error:
        raise BundleError(f"entry message: {error}") from error
    _check(_hex(entry_digest) == entry["digest"], "entry digest: it is not the EIP-712 digest of the typed data")
    signature = _bytes(entry["signature"], "entry signature")
    signer = _recover(entry_digest, signature, "entry signature")
    _check(signer.lower() == entry["signer"].lower(), f"entry signature: made by {signer}, not by {entry['signer']}")
    leaf_hash = HASHER.leaf(entry_digest + signature)
    _check(_hex(leaf_hash) == bundle["leafHash"], "leaf hash: it is not keccak256(0x00 || digest || signature)")
    _check(inclusion["leafIndex"] == entry["seq"] - 1, "inclusion proof: its leaf index is not the entry's")
    _check(inclusion["treeSize"] == checkpoint["treeSize"], "inclusion proof: its tree size is not the checkpoint's")
    root = _bytes(checkpoint["root"], "checkpoint root")
    path = [_bytes(node, "inclusion path") for node in inclusion["path"]]
    try:
        merkle.verify_inclusion(HASHER, inclusion["leafIndex"], inclusion["treeSize"], leaf_hash, path, root)
    except merkle.ProofError as error:
        raise BundleError(f"inclusion proof: {error}") from error
    _verify_checkpoint(domain, checkpoint, root, service_address)
    anchored = _verify_anchor(bundle["anchor"], w3, root, checkpoint)
    return Verified(entry["seq"], signer, checkpoint["treeSize"], checkpoint["root"], anchored)


def _verify_checkpoint(domain: Domain, checkpoint: Mapping[str, Any], root: bytes, service_address: str | None) -> None:
    message = {"treeSize": checkpoint["treeSize"], "root": _hex(root), "timestamp": checkpoint["timestamp"]}
    signer = _recover(
        digest(domain, "Checkpoint", message), _bytes(checkpoint["signature"], "checkpoint signature"), "checkpoint"
    )
    _check(signer.lower() == checkpoint["signer"].lower(), f"checkpoint signature: made by {signer}")
    if service_address is not None:
        _check(signer.lower() == service_address.lower(), f"checkpoint signature: {signer} is not the service key")


def _verify_anchor(
    anchor: Mapping[str, Any] | None, w3: Web3 | None, root: bytes, checkpoint: Mapping[str, Any]
) -> bool:
    if w3 is None:
        return False
    _check(anchor is not None, "anchor: the checkpoint has not been anchored on a chain")
    assert anchor is not None
    recorded = chain.Anchor(
        chain_id=anchor["chainId"],
        transaction_hash=anchor["transactionHash"],
        block_number=anchor["blockNumber"],
        block_hash=anchor["blockHash"],
    )
    try:
        chain.verify_anchor(w3, recorded, root, checkpoint["treeSize"], checkpoint["signer"])
    except chain.AnchorError as error:
        raise BundleError(f"anchor: {error}") from error
    return True


def _domain(value: Mapping[str, Any]) -> Domain:
    _check(set(value) == {"name", "version", "chainId", "verifyingContract"}, "the typed data's domain is incomplete")
    return Domain(value["name"], value["version"], value["chainId"], value["verifyingContract"])


def _recover(entry_digest: bytes, signature: bytes, what: str) -> str:
    try:
        return recover_signer(entry_digest, signature)
    except SignatureError as error:
        raise BundleError(f"{what}: {error}") from error


def _bytes(value: Any, what: str) -> bytes:
    _check(isinstance(value, str) and value.startswith("0x"), f"{what}: not 0x-prefixed hex")
    try:
        return bytes.fromhex(value[2:])
    except ValueError as error:
        raise BundleError(f"{what}: not hex") from error


def _hex(value: bytes) -> str:
    return "0x" + value.hex()


def _check(condition: bool, failure: str) -> None:
    if not condition:
        raise BundleError(failure)
