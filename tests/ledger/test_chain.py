"""Checkpoints anchored on the embedded chain and on a real JSON-RPC node: published, read back, verified."""

import hashlib
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_typing import HexStr
from web3 import EthereumTesterProvider, Web3
from web3.types import RPCEndpoint

from cellorg.ledger.chain import (
    DEVELOPMENT_FUNDS_WEI,
    Anchor,
    AnchoredCheckpoint,
    AnchorError,
    anchor_payload,
    connect,
    fund_for_development,
    publish_checkpoint,
    read_anchor,
    verify_anchor,
)

ROOT = hashlib.sha256(b"the root of a checkpoint").digest()
SIZE = 1234


@pytest.fixture(scope="module", params=["embedded", "anvil"])
def chain_url(request: pytest.FixtureRequest) -> str | None:
    """What connect() takes: None for the embedded chain, the URL of a real node otherwise."""
    if request.param == "embedded":
        return None
    url: str = request.getfixturevalue("rpc_url")
    return url


@pytest.fixture(scope="module")
def w3(chain_url: str | None) -> Web3:
    return connect(chain_url)


@pytest.fixture(scope="module")
def service_account(w3: Web3) -> LocalAccount:
    account: LocalAccount = Account.create()
    fund_for_development(w3, account.address)
    return account


@pytest.fixture(scope="module")
def anchor(w3: Web3, service_account: LocalAccount) -> Anchor:
    return publish_checkpoint(w3, service_account, ROOT, SIZE)


@contextmanager
def mining_paused(w3: Web3) -> Iterator[None]:
    """New transactions wait in the pool until the block ends; then they are mined."""
    if isinstance(w3.provider, EthereumTesterProvider):
        tester = w3.provider.ethereum_tester
        assert tester is not None
        tester.disable_auto_mine_transactions()
        try:
            yield
        finally:
            tester.enable_auto_mine_transactions()
    else:
        w3.provider.make_request(RPCEndpoint("evm_setAutomine"), [False])
        try:
            yield
        finally:
            w3.provider.make_request(RPCEndpoint("evm_setAutomine"), [True])
            w3.provider.make_request(RPCEndpoint("evm_mine"), [])


def test_the_payload_is_the_root_then_the_size_as_8_bytes_big_endian() -> None:
    root = bytes(range(32))
    assert anchor_payload(root, 0x0102030405060708) == root + bytes([1, 2, 3, 4, 5, 6, 7, 8])
    assert anchor_payload(ROOT, SIZE) == ROOT + SIZE.to_bytes(8, "big")
    assert anchor_payload(root, 0) == root + bytes(8)
    assert anchor_payload(root, 2**64 - 1) == root + b"\xff" * 8


@pytest.mark.parametrize(
    ("root", "size", "message"),
    [
        (bytes(31), 1, "a checkpoint root is 32 bytes, got 31"),
        (bytes(33), 1, "a checkpoint root is 32 bytes, got 33"),
        (bytes(32), -1, "a tree size must fit in 8 unsigned bytes, got -1"),
        (bytes(32), 2**64, f"a tree size must fit in 8 unsigned bytes, got {2**64}"),
    ],
)
def test_the_payload_refuses_what_does_not_fit(root: bytes, size: int, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        anchor_payload(root, size)


def test_a_published_checkpoint_reads_back_through_a_new_connection(
    chain_url: str | None, w3: Web3, service_account: LocalAccount, anchor: Anchor
) -> None:
    # A new connection: on the embedded chain it must be the same in-process chain, or the anchor is lost.
    checkpoint = read_anchor(connect(chain_url), anchor.transaction_hash)

    assert anchor.chain_id == w3.eth.chain_id
    assert checkpoint == AnchoredCheckpoint(
        chain_id=anchor.chain_id,
        transaction_hash=anchor.transaction_hash,
        block_number=anchor.block_number,
        block_hash=anchor.block_hash,
        sender=service_account.address,
        root=ROOT,
        size=SIZE,
    )
    transaction = w3.eth.get_transaction(anchor.transaction_hash)
    assert (transaction["type"], transaction["to"], transaction["value"], bytes(transaction["input"])) == (
        2,
        service_account.address,
        0,
        ROOT + SIZE.to_bytes(8, "big"),
    )
    verify_anchor(connect(chain_url), anchor, ROOT, SIZE, service_account.address)


def test_a_root_with_one_bit_flipped_fails_the_root_check(
    w3: Web3, service_account: LocalAccount, anchor: Anchor
) -> None:
    flipped = bytes([ROOT[0] ^ 0x01]) + ROOT[1:]
    with pytest.raises(AnchorError) as failure:
        verify_anchor(w3, anchor, flipped, SIZE, service_account.address)
    assert str(failure.value) == f"root differs: expected {flipped.hex()}, the chain has {ROOT.hex()}"


def test_another_size_fails_the_size_check(w3: Web3, service_account: LocalAccount, anchor: Anchor) -> None:
    with pytest.raises(AnchorError) as failure:
        verify_anchor(w3, anchor, ROOT, SIZE + 1, service_account.address)
    assert str(failure.value) == f"size differs: expected {SIZE + 1}, the chain has {SIZE}"


def test_another_sender_fails_the_sender_check(w3: Web3, service_account: LocalAccount, anchor: Anchor) -> None:
    impostor = Account.create().address
    with pytest.raises(AnchorError) as failure:
        verify_anchor(w3, anchor, ROOT, SIZE, impostor)
    assert (
        str(failure.value) == f"sender differs: expected {impostor}, the transaction is from {service_account.address}"
    )


def test_another_chain_id_fails_the_chain_check(w3: Web3, service_account: LocalAccount, anchor: Anchor) -> None:
    elsewhere = replace(anchor, chain_id=anchor.chain_id + 1)
    with pytest.raises(AnchorError) as failure:
        verify_anchor(w3, elsewhere, ROOT, SIZE, service_account.address)
    assert str(failure.value) == (
        f"chain id differs: the anchor is on chain {anchor.chain_id + 1}, the node is on {anchor.chain_id}"
    )


def test_another_block_number_fails_the_block_check(w3: Web3, service_account: LocalAccount, anchor: Anchor) -> None:
    later = replace(anchor, block_number=anchor.block_number + 1)
    with pytest.raises(AnchorError) as failure:
        verify_anchor(w3, later, ROOT, SIZE, service_account.address)
    assert str(failure.value) == (
        f"block number differs: the anchor says {anchor.block_number + 1}, the chain has {anchor.block_number}"
    )


def test_another_block_hash_fails_the_block_hash_check(w3: Web3, service_account: LocalAccount, anchor: Anchor) -> None:
    reorganised = replace(anchor, block_hash=HexStr("0x" + "00" * 32))
    with pytest.raises(AnchorError) as failure:
        verify_anchor(w3, reorganised, ROOT, SIZE, service_account.address)
    assert str(failure.value) == (
        f"block hash differs: the anchor says 0x{'00' * 32}, the chain has {anchor.block_hash}"
    )


def test_an_unknown_transaction_is_not_found(w3: Web3, service_account: LocalAccount, anchor: Anchor) -> None:
    unknown = HexStr("0x" + "ab" * 32)
    with pytest.raises(AnchorError) as failure:
        verify_anchor(w3, replace(anchor, transaction_hash=unknown), ROOT, SIZE, service_account.address)
    assert str(failure.value) == f"transaction {unknown} not found on chain {anchor.chain_id}"


@pytest.mark.parametrize("transaction_hash", ["0x1234", "not hex at all"])
def test_a_malformed_hash_is_refused(w3: Web3, transaction_hash: str) -> None:
    with pytest.raises(AnchorError, match=f"^{re.escape(repr(transaction_hash))} is not a transaction hash"):
        read_anchor(w3, transaction_hash)


def test_a_transaction_with_other_input_is_not_an_anchor(w3: Web3) -> None:
    sender = w3.eth.accounts[0]
    transaction_hash = w3.eth.send_transaction({"from": sender, "to": sender, "data": b"\x01" * 39})
    w3.eth.wait_for_transaction_receipt(transaction_hash)
    with pytest.raises(AnchorError) as failure:
        read_anchor(w3, transaction_hash.to_0x_hex())
    assert str(failure.value) == (
        f"transaction {transaction_hash.to_0x_hex()} is not an anchor: its input is 39 bytes, not 40"
    )


def test_a_pending_transaction_is_not_mined_yet_then_reads_back(w3: Web3) -> None:
    sender = w3.eth.accounts[0]
    with mining_paused(w3):
        transaction_hash = w3.eth.send_transaction({"from": sender, "to": sender, "data": anchor_payload(ROOT, 7)})
        with pytest.raises(AnchorError) as failure:
            read_anchor(w3, transaction_hash.to_0x_hex())
        assert str(failure.value) == f"transaction {transaction_hash.to_0x_hex()} is not mined yet"
    receipt = w3.eth.wait_for_transaction_receipt(transaction_hash)

    checkpoint = read_anchor(w3, transaction_hash.to_0x_hex())

    assert (checkpoint.block_number, checkpoint.sender, checkpoint.root, checkpoint.size) == (
        receipt["blockNumber"],
        sender,
        ROOT,
        7,
    )


def test_development_funding_tops_up_once(w3: Web3) -> None:
    address = Account.create().address
    fund_for_development(w3, address)
    block = w3.eth.block_number

    fund_for_development(w3, address)

    assert (w3.eth.get_balance(address), w3.eth.block_number) == (DEVELOPMENT_FUNDS_WEI, block)


def test_a_chain_without_eip1559_gets_a_legacy_transaction(legacy_rpc_url: str) -> None:
    w3 = connect(legacy_rpc_url)
    assert "baseFeePerGas" not in w3.eth.get_block("latest")
    account: LocalAccount = Account.create()
    fund_for_development(w3, account.address)

    anchor = publish_checkpoint(w3, account, ROOT, SIZE)

    assert w3.eth.get_transaction(anchor.transaction_hash)["type"] == 0
    verify_anchor(w3, anchor, ROOT, SIZE, account.address)
