"""The EIP-712 typed data of ledger entries: what a contributor's wallet signs, and its digest.

Any wallet (``eth_signTypedData_v4``) and any EIP-712 library produce the same digest; the encoder here
is a direct transcription of the standard for the few field types the ledger uses, because the full
replay recomputes one digest per entry and eth-account's generic encoder is ~50x slower (a test checks
both agree). The domain names this ledger deployment, so a signature made for another chain id or
another deployment never verifies here.
"""

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from cellorg.ledger.hashing import keccak256

EIP712_DOMAIN = (("name", "string"), ("version", "string"), ("chainId", "uint256"), ("verifyingContract", "address"))
TYPES: dict[str, tuple[tuple[str, str], ...]] = {
    "Evidence": (("uri", "string"), ("contentHash", "bytes32")),
    "Contribution": (
        ("projectId", "uint256"),
        ("contributorId", "uint256"),
        ("kind", "string"),
        ("title", "string"),
        ("points", "uint32"),
        ("skills", "string[]"),
        ("evidence", "Evidence[]"),
        ("occurredAt", "uint64"),
        ("amends", "uint64"),
        ("nonce", "bytes32"),
    ),
    "Decision": (
        ("projectId", "uint256"),
        ("decidedById", "uint256"),
        ("title", "string"),
        ("rationale", "string"),
        ("alternatives", "string[]"),
        ("decidedAt", "uint64"),
        ("amends", "uint64"),
        ("nonce", "bytes32"),
    ),
    "BonusStatement": (
        ("projectId", "uint256"),
        ("round", "string"),
        ("statementHash", "bytes32"),
        ("amount", "uint256"),  # in minor units of the currency
        ("currency", "string"),
        ("treeSize", "uint64"),
        ("approvedById", "uint256"),
        ("approvedAt", "uint64"),
        ("amends", "uint64"),
        ("nonce", "bytes32"),
    ),
    "Checkpoint": (("treeSize", "uint64"), ("root", "bytes32"), ("timestamp", "uint64")),
}
ENTRY_TYPES = ("Contribution", "Decision", "BonusStatement")
PERSONAL_TYPES = ("Contribution", "Decision")  # what people sign; bonus statements are the service's record
_FIELD_NAMES = {name: sorted(field for field, _kind in fields) for name, fields in TYPES.items()}
_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
_BYTES32 = re.compile(r"^0x[0-9a-fA-F]{64}$")
_UINT = re.compile(r"^uint(\d+)$")


class TypedDataError(ValueError):
    """The typed data does not follow the ledger's EIP-712 types."""


@dataclass(frozen=True, slots=True)
class Domain:
    name: str
    version: str
    chain_id: int
    verifying_contract: str

    def as_message(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "chainId": self.chain_id,
            "verifyingContract": self.verifying_contract,
        }

    @property
    def separator(self) -> bytes:
        return _separator(self)


@cache  # one hash per deployment, not one per digest: the replay computes a digest for every entry
def _separator(domain: Domain) -> bytes:
    return _hash_struct("EIP712Domain", EIP712_DOMAIN, domain.as_message())


def encode_type(primary_type: str) -> str:
    """``Name(type field,...)`` followed by the referenced struct types in alphabetical order."""
    referenced = sorted({_base(kind) for _name, kind in TYPES[primary_type] if _base(kind) in TYPES})
    return "".join(_signature(name, TYPES[name]) for name in [primary_type, *referenced])


def struct_hash(primary_type: str, message: Mapping[str, Any]) -> bytes:
    """hashStruct(message), refusing a message without exactly the type's fields or with a value of another type."""
    _check_fields(primary_type, message)
    return _hash_struct(primary_type, TYPES[primary_type], message)


def digest(domain: Domain, primary_type: str, message: Mapping[str, Any]) -> bytes:
    """keccak256(0x1901 || domainSeparator || hashStruct(message)): the hash a wallet signs."""
    return signing_digest(domain, struct_hash(primary_type, message))


def signing_digest(domain: Domain, message_hash: bytes) -> bytes:
    """The digest of a message whose hashStruct is already known (validating it computed the hash)."""
    return keccak256(b"\x19\x01" + domain.separator + message_hash)


def full_typed_data(domain: Domain, primary_type: str, message: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON a wallet's ``eth_signTypedData_v4`` takes."""
    names = [primary_type, *sorted({_base(k) for _n, k in TYPES[primary_type] if _base(k) in TYPES})]
    types = {"EIP712Domain": _fields(EIP712_DOMAIN)} | {name: _fields(TYPES[name]) for name in names}
    return {"types": types, "primaryType": primary_type, "domain": domain.as_message(), "message": dict(message)}


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _check_fields(primary_type: str, message: Mapping[str, Any]) -> None:
    names = _FIELD_NAMES[primary_type]
    if sorted(message) != names:
        raise TypedDataError(
            f"{primary_type} takes the fields {', '.join(name for name, _ in TYPES[primary_type])}; "
            f"got {', '.join(sorted(message))}"
        )


def _fields(fields: Sequence[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"name": name, "type": kind} for name, kind in fields]


def _base(kind: str) -> str:
    return kind.removesuffix("[]")


def _signature(name: str, fields: Sequence[tuple[str, str]]) -> str:
    return f"{name}({','.join(f'{kind} {field}' for field, kind in fields)})"


_TYPE_HASHES: dict[str, bytes] = {}


def _type_hash(name: str, fields: Sequence[tuple[str, str]]) -> bytes:
    if name not in _TYPE_HASHES:
        text = _signature(name, fields) if name == "EIP712Domain" else encode_type(name)
        _TYPE_HASHES[name] = keccak256(text.encode())
    return _TYPE_HASHES[name]


def _hash_struct(name: str, fields: Sequence[tuple[str, str]], message: Mapping[str, Any]) -> bytes:
    parts = [_type_hash(name, fields)]
    parts.extend(_encode_value(kind, message[field], f"{name}.{field}") for field, kind in fields)
    return keccak256(b"".join(parts))


def _encode_value(kind: str, value: Any, where: str) -> bytes:
    if kind.endswith("[]"):
        if not isinstance(value, list):
            raise TypedDataError(f"{where} must be a list")
        return keccak256(b"".join(_encode_value(kind[:-2], item, f"{where}[]") for item in value))
    if kind in TYPES:
        if not isinstance(value, Mapping):
            raise TypedDataError(f"{where} must be an object")
        return struct_hash(kind, value)
    if kind == "string":
        if not isinstance(value, str):
            raise TypedDataError(f"{where} must be a string")
        return keccak256(value.encode())
    if kind == "bytes32":
        if not isinstance(value, str) or not _BYTES32.match(value):
            raise TypedDataError(f"{where} must be 32 bytes as 0x followed by 64 hex digits")
        return bytes.fromhex(value[2:])
    if kind == "address":
        if not isinstance(value, str) or not _ADDRESS.match(value):
            raise TypedDataError(f"{where} must be an address: 0x followed by 40 hex digits")
        return bytes(12) + bytes.fromhex(value[2:])
    bits = _UINT.match(kind)
    if bits is None:
        raise TypedDataError(f"{where} has the unsupported type {kind}")
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2 ** int(bits.group(1)):
        raise TypedDataError(f"{where} must be an integer from 0 to 2**{bits.group(1)} - 1")
    return value.to_bytes(32, "big")
