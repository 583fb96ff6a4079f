"""Proof bundles verify offline, against the embedded chain and a real node, and fail on any flipped bit."""

import copy
import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from sqlalchemy.ext.asyncio import AsyncSession
from typer.testing import CliRunner

from cellorg.core.settings import get_settings
from cellorg.ledger import chain
from cellorg.ledger import cli as ledger_cli
from cellorg.ledger import service as ledger
from cellorg.ledger.bundle import BundleError, verify_bundle
from cellorg.ledger.signatures import sign_digest
from cellorg.ledger.typed_data import digest
from tests.projects.conftest import Squad, SquadBuilder

KEYS = ledger.LedgerKeys.from_settings()


async def anchored_bundle(session: AsyncSession, squads: SquadBuilder, now: datetime) -> dict[str, Any]:
    squad: Squad = await squads.squad(now=now, roles=("member",))
    account = Account.create()
    person = await squads.join(squad, "member")
    person.eth_address = account.address
    for index in range(6):
        message = ledger.contribution_message(
            project_id=squad.project.id,
            contributor_id=person.id,
            kind="deliverable",
            title=f"Deliverable {index}",
            points=10 + index,
            occurred_at=now - timedelta(hours=1),
            skills=[],
            evidence=[("https://files.example.com/d.pdf", "0x" + "cd" * 32)],
        )
        signature = sign_digest(account, digest(KEYS.domain, "Contribution", message))
        await ledger.record_entry(session, KEYS, "Contribution", message, signature)
    checkpoint = await ledger.publish_checkpoint(session, KEYS)
    await ledger.anchor_checkpoint(session, checkpoint.id)
    return await ledger.proof_bundle(session, KEYS, 4)


def test_verifies_offline_without_a_chain(bundle: dict[str, Any]) -> None:
    verified = verify_bundle(bundle, service_address=KEYS.service.address)
    assert (verified.seq, verified.tree_size, verified.anchored_on_chain) == (4, 6, False)


def test_verifies_against_the_embedded_chain(bundle: dict[str, Any]) -> None:
    verified = verify_bundle(bundle, chain.connect(None), KEYS.service.address)
    assert verified.anchored_on_chain is True
    assert bundle["anchor"]["chainId"] == chain.connect(None).eth.chain_id


def leaves(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from leaves(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from leaves(item, (*path, index))
    else:
        yield path, value


def flipped(value: Any) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value ^ 1
    if isinstance(value, str) and value.startswith("0x") and len(value) > 2:
        return value[:-1] + format(int(value[-1], 16) ^ 1, "x")
    assert isinstance(value, str)
    return value[:-1] + chr(ord(value[-1]) ^ 1) if value else "x"


def with_flipped_bit(bundle: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    tampered = copy.deepcopy(bundle)
    target = tampered
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = flipped(value)
    return tampered


def test_one_flipped_bit_in_any_field_fails(bundle: dict[str, Any]) -> None:
    w3 = chain.connect(None)
    fields = list(leaves(bundle))
    assert len(fields) > 60
    for path, value in fields:
        with pytest.raises(BundleError):
            verify_bundle(with_flipped_bit(bundle, path, value), w3, KEYS.service.address)


@pytest.mark.parametrize(
    ("path", "value", "error"),
    [
        (("entry", "typedData", "message", "points"), 99, "entry digest"),
        (
            (
                "entry",
                "signature",
            ),
            None,
            "entry signature",
        ),
        (("inclusion", "path", 0), "0x" + "00" * 32, "inclusion proof"),
        (("checkpoint", "root"), "0x" + "00" * 32, "inclusion proof"),
        (("anchor", "blockNumber"), 1, "anchor"),
    ],
)
def test_the_failure_names_the_check(bundle: dict[str, Any], path: tuple[Any, ...], value: Any, error: str) -> None:
    tampered = copy.deepcopy(bundle)
    target = tampered
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value if value is not None else flipped(target[path[-1]])
    with pytest.raises(BundleError, match=error):
        verify_bundle(tampered, chain.connect(None), KEYS.service.address)


async def test_verifies_against_a_real_node(
    session: AsyncSession, squads: SquadBuilder, frozen_now: datetime, rpc_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CELLORG_CHAIN_RPC_URL", rpc_url)
    get_settings.cache_clear()
    try:
        w3 = chain.connect(rpc_url)
        chain.fund_for_development(w3, KEYS.service.address)
        bundle = await anchored_bundle(session, squads, frozen_now)
    finally:
        monkeypatch.delenv("CELLORG_CHAIN_RPC_URL")
        get_settings.cache_clear()
    assert bundle["anchor"]["chainId"] == w3.eth.chain_id
    assert verify_bundle(bundle, w3, KEYS.service.address).anchored_on_chain is True
    tampered = copy.deepcopy(bundle)
    tampered["anchor"]["transactionHash"] = flipped(bundle["anchor"]["transactionHash"])
    with pytest.raises(BundleError, match="anchor"):
        verify_bundle(tampered, w3, KEYS.service.address)


@pytest.fixture
async def bundle(session: AsyncSession, squads: SquadBuilder, frozen_now: datetime) -> dict[str, Any]:
    return await anchored_bundle(session, squads, frozen_now)


def test_the_cli_verifies_a_bundle_file_and_names_a_failure(bundle: dict[str, Any], tmp_path: Path) -> None:
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text(json.dumps(bundle))
    tampered = copy.deepcopy(bundle)
    tampered["inclusion"]["path"][0] = flipped(bundle["inclusion"]["path"][0])
    bad.write_text(json.dumps(tampered))
    runner = CliRunner()
    passed = runner.invoke(ledger_cli.app, ["verify-bundle", str(good), "--service-address", KEYS.service.address])
    assert passed.exit_code == 0, passed.output
    assert "OK entry 4 signed by" in passed.output
    failed = runner.invoke(ledger_cli.app, ["verify-bundle", str(bad)])
    assert failed.exit_code == 1
    assert "FAILED inclusion proof" in failed.output
