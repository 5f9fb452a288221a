"""A third party's re-verification of a design evidence bundle, as docs/EVIDENCE.md tells it.

Public tools only: hashlib (sha256sum), iscc-core (with Pillow to turn the picture into the
32x32 grey pixels the Image-Code is computed from) and web3.py as a plain Ethereum JSON-RPC
client (eth_chainId, eth_getTransactionReceipt, eth_getTransactionByHash, eth_getBlockByNumber,
eth_getLogs, eth_call). Nothing here imports Hallmark: the contract interfaces are written out
from the published signatures.

`reverify` returns the list of checks that failed (empty: the bundle holds).
"""

from __future__ import annotations

import hashlib
import io
import json
from typing import Any

import iscc_core
from PIL import Image
from web3 import Web3

REGISTERED_SIGNATURE = (
    "DesignRegistered(bytes32,address,bytes32,uint64,bytes32,bytes32,address,bytes32)"
)
ANCHORED_SIGNATURE = "BatchAnchored(address,bytes32,uint8,uint24)"
REGISTER_SIGNATURE = (
    "register(bytes32,uint64,bytes32,bytes32,bytes32,(address,bytes32,bytes32,bytes32[]))"
)
REGISTER_TYPES = [
    "bytes32",
    "uint64",
    "bytes32",
    "bytes32",
    "bytes32",
    "(address,bytes32,bytes32,bytes32[])",
]

REGISTRY_ABI: list[dict[str, Any]] = [
    {
        "type": "function",
        "name": "designOf",
        "stateMutability": "view",
        "inputs": [{"name": "fingerprint", "type": "bytes32"}],
        "outputs": [
            {
                "name": "",
                "type": "tuple",
                "components": [
                    {"name": "registrant", "type": "address"},
                    {"name": "filedAt", "type": "uint64"},
                    {"name": "filedBlock", "type": "uint64"},
                    {"name": "finalAt", "type": "uint64"},
                    {"name": "ownerRef", "type": "bytes32"},
                    {"name": "metadataHash", "type": "bytes32"},
                ],
            }
        ],
    },
    {
        "type": "function",
        "name": "commitmentHash",
        "stateMutability": "pure",
        "inputs": [
            {"name": "fingerprint", "type": "bytes32"},
            {"name": "registrant", "type": "address"},
            {"name": "salt", "type": "bytes32"},
        ],
        "outputs": [{"name": "", "type": "bytes32"}],
    },
    {
        "type": "function",
        "name": "ledger",
        "stateMutability": "view",
        "inputs": [],
        "outputs": [{"name": "", "type": "address"}],
    },
]
LEDGER_ABI: list[dict[str, Any]] = [
    {
        "type": "function",
        "name": "verifyRecord",
        "stateMutability": "view",
        "inputs": [
            {"name": "anchorer", "type": "address"},
            {"name": "root", "type": "bytes32"},
            {"name": "kind", "type": "uint8"},
            {"name": "recordHash", "type": "bytes32"},
            {"name": "proof", "type": "bytes32[]"},
        ],
        "outputs": [{"name": "", "type": "bool"}],
    },
    {
        "type": "function",
        "name": "batchOf",
        "stateMutability": "view",
        "inputs": [
            {"name": "anchorer", "type": "address"},
            {"name": "root", "type": "bytes32"},
        ],
        "outputs": [
            {
                "name": "",
                "type": "tuple",
                "components": [
                    {"name": "kind", "type": "uint8"},
                    {"name": "count", "type": "uint24"},
                    {"name": "organisation", "type": "bytes16"},
                    {"name": "anchoredAt", "type": "uint64"},
                    {"name": "anchoredBlock", "type": "uint64"},
                ],
            }
        ],
    },
]
DESIGN_COMMITMENT = 5


def _hex(value: bytes) -> str:
    return "0x" + bytes(value).hex()


def _b32(value: str) -> bytes:
    raw = bytes.fromhex(value.removeprefix("0x"))
    assert len(raw) == 32
    return raw


def image_code(data: bytes) -> str:
    """ISO 24138 Image-Code: the picture in grey, 32x32 bicubic, then iscc-core (64 bits)."""
    with Image.open(io.BytesIO(data)) as picture:
        rgb = picture.convert("RGB")
    pixels = rgb.convert("L").resize((32, 32), Image.Resampling.BICUBIC)
    return str(iscc_core.gen_image_code_v0(list(pixels.tobytes()), bits=64)["iscc"])


def reverify(bundle: dict[str, Any], file: bytes, w3: Web3) -> list[str]:
    """The checks of docs/EVIDENCE.md that fail for this bundle, file and chain."""
    failed: list[str] = []

    def check(ok: bool, what: str) -> None:
        if not ok:
            failed.append(what)

    fingerprint = bundle["fingerprint"]
    sha = fingerprint["sha256"]
    # 1. sha256sum
    check(hashlib.sha256(file).hexdigest() == sha, "sha256 of the file")
    # 2. iscc-core
    iscc = fingerprint["iscc"]
    check(
        iscc_core.gen_instance_code_v0(io.BytesIO(file))["iscc"] == iscc["instance"],
        "ISCC Instance-Code",
    )
    check(iscc_core.gen_data_code_v0(io.BytesIO(file))["iscc"] == iscc["data"], "ISCC Data-Code")
    if "image" in iscc:
        check(image_code(file) == iscc["image"][0], "ISCC Image-Code")
        body = int(iscc_core.Code(iscc["image"][0]).hash_uint)
        check(f"{body:016x}" == fingerprint["perceptual_code"], "perceptual code")

    chain = bundle["chain"]
    # 3. chain id, receipt and the DesignRegistered log
    check(w3.eth.chain_id == chain["chain_id"], "chain id")
    receipt = w3.eth.get_transaction_receipt(chain["transaction"])
    check(receipt["status"] == 1, "transaction status")
    check(receipt["blockNumber"] == chain["block_number"], "block number")
    check(_hex(receipt["blockHash"]) == chain["block_hash"], "block hash of the receipt")
    registry_address = Web3.to_checksum_address(chain["contract"])
    check(Web3.to_checksum_address(receipt["to"]) == registry_address, "contract address")
    topic = Web3.keccak(text=REGISTERED_SIGNATURE)
    logs = [
        log
        for log in receipt["logs"]
        if Web3.to_checksum_address(log["address"]) == registry_address
        and log["topics"][0] == topic
        and _hex(log["topics"][1]) == "0x" + sha
    ]
    check(len(logs) == 1, "one DesignRegistered log of the fingerprint in the transaction")
    if len(logs) != 1:
        return failed
    log = logs[0]
    registrant = Web3.to_checksum_address(log["topics"][2][-20:])
    owner_ref = _hex(log["topics"][3])
    perceptual, metadata_hash, _parent, anchorer, root = w3.codec.decode(
        ["uint64", "bytes32", "bytes32", "address", "bytes32"], bytes(log["data"])
    )
    anchorer = Web3.to_checksum_address(anchorer)
    event = chain["event"]
    check(registrant == chain["registrant"] == event["registrant"], "registrant")
    check(owner_ref == event["owner_ref"], "ownerRef of the log")
    check(f"{perceptual:016x}" == fingerprint["perceptual_code"], "perceptual code of the log")
    check(_hex(metadata_hash) == event["metadata_hash"], "metadataHash of the log")
    # 4. the block
    block = w3.eth.get_block(chain["block_number"])
    check(_hex(block["hash"]) == chain["block_hash"], "block hash")
    check(block["timestamp"] == chain["block_timestamp"], "block timestamp")
    # 5. eth_getLogs by fingerprint
    found = w3.eth.get_logs(
        {
            "address": registry_address,
            "fromBlock": 0,
            "toBlock": "latest",
            "topics": [topic, "0x" + sha],
        }
    )
    check(
        [_hex(entry["transactionHash"]) for entry in found] == [chain["transaction"]],
        "eth_getLogs finds the registration",
    )
    # 6. designOf and the metadata document
    registry = w3.eth.contract(address=registry_address, abi=REGISTRY_ABI)
    registrant_now, filed_at, filed_block, final_at, owner_now, metadata_now = (
        registry.functions.designOf(_b32(sha)).call()
    )
    document = bundle["metadata"]["document"]
    document_hash = "0x" + hashlib.sha256(document.encode("utf-8")).hexdigest()
    check(document_hash == bundle["metadata"]["sha256"], "metadata document hash")
    check(_hex(metadata_now) == document_hash, "designOf metadataHash")
    check(_hex(metadata_hash) == document_hash, "log metadataHash")
    check(_hex(owner_now) == bundle["owner"]["current_ref_on_chain"], "designOf ownerRef")
    check(registrant_now == chain["design_of"]["registrant"], "designOf registrant")
    parsed = json.loads(document)
    check(parsed["fingerprint"] == sha, "the metadata document names the fingerprint")
    check(
        parsed["authorization"]["level"] == bundle["authorization"]["level"]
        and parsed["authorization"]["documentSha256"] == bundle["authorization"]["document_sha256"],
        "authorization in the metadata document",
    )
    check(
        [lic["documentSha256"] for lic in parsed["licences"]]
        == [lic["document_sha256"] for lic in bundle["documents"]["licences"]],
        "licence document hashes in the metadata document",
    )
    # 7. the owner reference
    owner = bundle["owner"]
    salted = bytes.fromhex(owner["salt"]) + owner["reference"].encode("utf-8")
    check("0x" + hashlib.sha256(salted).hexdigest() == owner_ref, "ownerRef recomputed")
    check(
        parsed["owner"] == {"ref": owner["reference"], "salt": owner["salt"]},
        "owner in metadata",
    )
    # 8. priority: the commitment revealed in the transaction's input, its proof and batch
    priority = bundle["priority"]
    transaction = w3.eth.get_transaction(chain["transaction"])
    data = bytes(transaction["input"])
    check(data[:4] == Web3.keccak(text=REGISTER_SIGNATURE)[:4], "register call")
    arguments = w3.codec.decode(REGISTER_TYPES, data[4:])
    c_anchorer, c_root, c_salt, c_proof = arguments[5]
    check(_hex(arguments[0]) == "0x" + sha, "fingerprint of the register call")
    check(_hex(c_salt) == priority["salt"], "commitment salt")
    check([_hex(node) for node in c_proof] == priority["proof"], "commitment proof")
    check(Web3.to_checksum_address(c_anchorer) == anchorer == priority["anchorer"], "anchorer")
    check(_hex(c_root) == _hex(root) == priority["batch_root"], "batch root")
    commitment = Web3.keccak(
        w3.codec.encode(
            ["bytes32", "address", "bytes32"], [_b32(sha), registrant, _b32(priority["salt"])]
        )
    )
    check(_hex(commitment) == priority["commitment"], "commitment recomputed")
    check(
        registry.functions.commitmentHash(_b32(sha), registrant, _b32(priority["salt"])).call()
        == commitment,
        "commitmentHash",
    )
    node = Web3.keccak(Web3.keccak(w3.codec.encode(["bytes32"], [commitment])))
    check(_hex(node) == priority["leaf"], "leaf")
    for sibling in priority["proof"]:
        pair = sorted([bytes(node), _b32(sibling)])
        node = Web3.keccak(pair[0] + pair[1])
    check(_hex(node) == _hex(root), "the proof gives the batch root")
    ledger = w3.eth.contract(
        address=Web3.to_checksum_address(registry.functions.ledger().call()), abi=LEDGER_ABI
    )
    check(ledger.address == Web3.to_checksum_address(chain["ledger"]), "ledger address")
    check(
        ledger.functions.verifyRecord(
            anchorer,
            bytes(root),
            DESIGN_COMMITMENT,
            commitment,
            [_b32(n) for n in priority["proof"]],
        ).call()
        is True,
        "verifyRecord",
    )
    kind, _count, _organisation, anchored_at, anchored_block = ledger.functions.batchOf(
        anchorer, bytes(root)
    ).call()
    check(kind == DESIGN_COMMITMENT, "a DesignCommitment batch")
    check(anchored_at == filed_at == priority["filed_at"], "filing time is the anchoring time")
    check(anchored_block == filed_block == priority["filed_block"], "filing block")
    check(anchored_block < chain["block_number"], "the commitment is earlier than the registration")
    check(final_at == priority["final_at"], "final time")
    anchored = w3.eth.get_logs(
        {
            "address": ledger.address,
            "fromBlock": anchored_block,
            "toBlock": anchored_block,
            "topics": [
                Web3.keccak(text=ANCHORED_SIGNATURE),
                "0x" + bytes(12).hex() + anchorer[2:].lower(),
                _hex(root),
            ],
        }
    )
    check(
        [_hex(entry["transactionHash"]) for entry in anchored] == [priority["anchor_transaction"]],
        "BatchAnchored log",
    )
    check(
        [_hex(entry["blockHash"]) for entry in anchored] == [priority["anchor_block_hash"]],
        "anchoring block hash",
    )
    return failed
