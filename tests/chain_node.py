"""A pytest plugin: real JSON-RPC nodes (anvil, installed by scripts/chain-node.sh), one process per session.

A node that cannot be installed or started fails the tests that need it: the anchors must be checked against
a real node, so a missing one is an error, never a skip.
"""

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

REPO_ROOT = Path(__file__).parents[1]
INSTALL_TIMEOUT_SECONDS = 600
START_TIMEOUT_SECONDS = 30


def install_node() -> str:
    """The path of the anvil executable, installed by the project's script if missing."""
    try:
        installed = subprocess.run(
            ["bash", str(REPO_ROOT / "scripts" / "chain-node.sh")],
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(
            f"scripts/chain-node.sh did not install the chain node in {INSTALL_TIMEOUT_SECONDS}s", pytrace=False
        )
    if installed.returncode != 0:
        pytest.fail(
            f"scripts/chain-node.sh could not install the chain node (exit {installed.returncode}):\n"
            f"{installed.stderr}",
            pytrace=False,
        )
    return installed.stdout.strip().splitlines()[-1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def answers_chain_id(url: str) -> bool:
    try:
        response = httpx.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}, timeout=1)
    except httpx.TransportError:
        return False
    return response.status_code == 200 and "result" in response.json()


@contextmanager
def running_node(anvil: str, log: Path, *arguments: str) -> Iterator[str]:
    """Run anvil on a free 127.0.0.1 port until the block ends; yields its URL once eth_chainId answers."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with log.open("wb") as output:
        # A session of its own: the npm wrapper runs the binary as a child, and both must go at the end.
        process = subprocess.Popen(
            [anvil, "--host", "127.0.0.1", "--port", str(port), *arguments],
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not answers_chain_id(url):
            if process.poll() is not None:
                pytest.fail(f"the chain node exited with {process.returncode}:\n{log.read_text()}", pytrace=False)
            if time.monotonic() > deadline:
                pytest.fail(f"the chain node did not answer on {url} in {START_TIMEOUT_SECONDS}s", pytrace=False)
            time.sleep(0.05)
        yield url
    finally:
        stop(process)


def stop(process: subprocess.Popen[bytes]) -> None:
    """Terminate the node's process group, killing it if it lingers."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=10)
    except ProcessLookupError:  # the whole group has already gone
        process.wait()
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@pytest.fixture(scope="session")
def chain_node() -> str:
    """The anvil executable, installed once per session."""
    return install_node()


@pytest.fixture(scope="session")
def rpc_url(chain_node: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A running anvil with its default (current) hardfork."""
    with running_node(chain_node, tmp_path_factory.mktemp("anvil") / "anvil.log") as url:
        yield url


@pytest.fixture(scope="session")
def legacy_rpc_url(chain_node: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A running anvil before London: blocks without a base fee, as on chains without EIP-1559."""
    with running_node(chain_node, tmp_path_factory.mktemp("anvil-berlin") / "anvil.log", "--hardfork", "berlin") as url:
        yield url
