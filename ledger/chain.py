"""Checkpoints anchored on an Ethereum-compatible chain.

An anchor is a 0-value transaction from the service's account to itself whose input data is the 32-byte
Merkle root followed by the tree size as 8 bytes big-endian. Anyone holding the transaction hash can read
the checkpoint back from the chain and check who published it and when.
"""

from dataclasses import dataclass
from functools import cache

from eth_account.signers.local import LocalAccount
from eth_account.types import TransactionDictType
from eth_typing import ChecksumAddress, HexStr
from hexbytes import HexBytes
from web3 import EthereumTesterProvider, HTTPProvider, Web3
from web3.exceptions import TransactionNotFound
from web3.types import Wei

HASH_BYTES = 32
ROOT_BYTES = 32
SIZE_BYTES = 8
PAYLOAD_BYTES = ROOT_BYTES + SIZE_BYTES
RPC_TIMEOUT_SECONDS = 10.0
DEVELOPMENT_FUNDS_WEI = Wei(10**18)


class AnchorError(ValueError):
    """An anchor that cannot be read from the chain, failed to publish, or does not match its checkpoint."""


@dataclass(frozen=True)
class Anchor:
    """Where a checkpoint was published: enough to find the transaction again and to notice a reorg."""

    chain_id: int
    transaction_hash: HexStr
    block_number: int
    block_hash: HexStr


@dataclass(frozen=True)
class AnchoredCheckpoint:
    """A checkpoint as the chain records it."""

    chain_id: int
    transaction_hash: HexStr
    block_number: int
    block_hash: HexStr
    sender: ChecksumAddress
    root: bytes
    size: int


@cache
def _embedded_provider() -> EthereumTesterProvider:
    # Each EthereumTesterProvider is a chain of its own: sharing one per process lets an anchor published
    # through one connect(None) be read back through another.
    return EthereumTesterProvider()


def connect(rpc_url: str | None) -> Web3:
    """A node over HTTP JSON-RPC at rpc_url, or the process's embedded in-memory chain when it is None."""
    if rpc_url is None:
        return Web3(_embedded_provider())
    return Web3(HTTPProvider(rpc_url, request_kwargs={"timeout": RPC_TIMEOUT_SECONDS}))


def fund_for_development(w3: Web3, address: str, amount_wei: int = DEVELOPMENT_FUNDS_WEI) -> None:
    """Top address up to amount_wei from the node's first unlocked account: for the embedded chain and dev nodes.

    eth-tester, anvil and ganache all start with unlocked, pre-funded accounts, so one plain transfer works on
    each of them; a production node's account is funded by its operator, never by this.
    """
    balance = w3.eth.get_balance(Web3.to_checksum_address(address))
    if balance >= amount_wei:
        return
    accounts = w3.eth.accounts
    if not accounts:
        raise RuntimeError("the node has no unlocked account to fund the service account from; fund it by hand")
    transaction_hash = w3.eth.send_transaction(
        {
            "from": accounts[0],
            "to": Web3.to_checksum_address(address),
            "value": Wei(amount_wei - balance),
            # A legacy gas price: web3 would otherwise fill in EIP-1559 fees, which pre-London chains refuse.
            "gasPrice": w3.eth.gas_price,
        }
    )
    w3.eth.wait_for_transaction_receipt(transaction_hash)


def anchor_payload(root: bytes, size: int) -> bytes:
    """The transaction input of an anchor: root || size as 8 bytes big-endian."""
    if len(root) != ROOT_BYTES:
        raise ValueError(f"a checkpoint root is {ROOT_BYTES} bytes, got {len(root)}")
    if not 0 <= size < 2 ** (8 * SIZE_BYTES):
        raise ValueError(f"a tree size must fit in {SIZE_BYTES} unsigned bytes, got {size}")
    return root + size.to_bytes(SIZE_BYTES, "big")


def publish_checkpoint(w3: Web3, account: LocalAccount, root: bytes, size: int, *, timeout: float = 120) -> Anchor:
    """Send the anchor transaction signed by account and wait up to timeout seconds for it to be mined.

    Raises AnchorError if the mined transaction failed, web3's TimeExhausted if it was not mined in time.
    """
    payload = anchor_payload(root, size)
    chain_id = w3.eth.chain_id
    transaction: TransactionDictType = {
        "to": account.address,
        "value": 0,
        "data": payload,
        "gas": w3.eth.estimate_gas({"from": account.address, "to": account.address, "data": payload}),
        "chainId": chain_id,
        # 'pending' counts this account's transactions still in the pool, so back-to-back anchors do not collide.
        "nonce": w3.eth.get_transaction_count(account.address, "pending"),
    }
    base_fee = w3.eth.get_block("latest").get("baseFeePerGas")
    if base_fee is None:  # a chain without EIP-1559
        transaction["gasPrice"] = w3.eth.gas_price
    else:
        priority_fee = w3.eth.max_priority_fee
        transaction["maxPriorityFeePerGas"] = priority_fee
        # Twice the base fee keeps the transaction includable through about six full blocks of base-fee increases.
        transaction["maxFeePerGas"] = 2 * base_fee + priority_fee
    signed = account.sign_transaction(transaction)
    transaction_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
    receipt = w3.eth.wait_for_transaction_receipt(transaction_hash, timeout=timeout)
    # A transfer to itself fails only where the account delegates to code (EIP-7702) that reverts.
    if receipt["status"] != 1:
        raise AnchorError(
            f"anchor transaction {transaction_hash.to_0x_hex()} failed in block {receipt['blockNumber']} "
            f"(status {receipt['status']})"
        )
    return Anchor(
        chain_id=chain_id,
        transaction_hash=HexStr(transaction_hash.to_0x_hex()),
        block_number=receipt["blockNumber"],
        block_hash=HexStr(receipt["blockHash"].to_0x_hex()),
    )


def read_anchor(w3: Web3, transaction_hash: str) -> AnchoredCheckpoint:
    """The checkpoint that transaction_hash anchors, as recorded on the chain w3 is connected to.

    Raises AnchorError if the transaction is unknown, not mined yet, or its input is not an anchor's 40 bytes.
    """
    return _read_anchor(w3, transaction_hash, w3.eth.chain_id)


def verify_anchor(w3: Web3, anchor: Anchor, root: bytes, size: int, expected_sender: str) -> None:
    """Check that the chain holds anchor for the checkpoint (root, size), sent by expected_sender.

    Raises AnchorError naming the first check that failed.
    """
    chain_id = w3.eth.chain_id
    if chain_id != anchor.chain_id:
        raise AnchorError(f"chain id differs: the anchor is on chain {anchor.chain_id}, the node is on {chain_id}")
    found = _read_anchor(w3, anchor.transaction_hash, chain_id)
    if found.block_number != anchor.block_number:
        raise AnchorError(
            f"block number differs: the anchor says {anchor.block_number}, the chain has {found.block_number}"
        )
    if found.block_hash != anchor.block_hash:
        raise AnchorError(f"block hash differs: the anchor says {anchor.block_hash}, the chain has {found.block_hash}")
    if found.sender != Web3.to_checksum_address(expected_sender):
        raise AnchorError(f"sender differs: expected {expected_sender}, the transaction is from {found.sender}")
    if found.root != root:
        raise AnchorError(f"root differs: expected {root.hex()}, the chain has {found.root.hex()}")
    if found.size != size:
        raise AnchorError(f"size differs: expected {size}, the chain has {found.size}")


def _read_anchor(w3: Web3, transaction_hash: str, chain_id: int) -> AnchoredCheckpoint:
    try:
        hash_bytes = HexBytes(transaction_hash)
    except ValueError as error:
        raise AnchorError(f"{transaction_hash!r} is not a transaction hash") from error
    if len(hash_bytes) != HASH_BYTES:
        raise AnchorError(f"{transaction_hash!r} is not a transaction hash: {len(hash_bytes)} bytes, not {HASH_BYTES}")
    normalised = HexStr(hash_bytes.to_0x_hex())
    try:
        transaction = w3.eth.get_transaction(normalised)
    except TransactionNotFound as error:
        raise AnchorError(f"transaction {normalised} not found on chain {chain_id}") from error
    block_number = transaction.get("blockNumber")
    block_hash = transaction.get("blockHash")
    if block_number is None or block_hash is None:
        raise AnchorError(f"transaction {normalised} is not mined yet")
    data = bytes(transaction["input"])
    if len(data) != PAYLOAD_BYTES:
        raise AnchorError(
            f"transaction {normalised} is not an anchor: its input is {len(data)} bytes, not {PAYLOAD_BYTES}"
        )
    return AnchoredCheckpoint(
        chain_id=chain_id,
        transaction_hash=normalised,
        block_number=block_number,
        block_hash=HexStr(block_hash.to_0x_hex()),
        sender=transaction["from"],
        root=data[:ROOT_BYTES],
        size=int.from_bytes(data[ROOT_BYTES:], "big"),
    )
