"""keccak256, the hash of every ledger record: eth-hash's function for its C (pysha3) backend.

eth-hash's default backend (pycryptodome) costs ~4-7 us per record against ~1 us here, and going through
``Keccak256(backend)`` adds 25%; a full replay hashes every entry several times.
``hashlib.sha3_256`` is not keccak256 (different padding).
"""

from eth_hash.backends.pysha3 import keccak256

__all__ = ["keccak256"]
