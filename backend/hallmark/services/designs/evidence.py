"""Evidence reports: what a court or a third party needs to re-check a design registration.

`collect_registration` reads the stored registration (its metadata document, its thumbnail) in
one database session; `build_evidence` then reads from the chain everything the chain holds,
cross-checks the stored facts against it and returns the bundle (a JSON-ready dict):

* fingerprints: SHA-256 of the file and its ISCC Instance-, Data- and Image-Codes (iscc-core);
* the registration transaction: its receipt (status, block number and hash), the block's
  timestamp, the `DesignRegistered` log (registrant, `ownerRef`, perceptual code, metadata
  hash, parent, the commitment's batch), the contract address and the chain id;
* `designOf(fingerprint)` as the chain answers it now (current registrant and owner reference,
  filing time and block, final time, metadata hash);
* the owner: the reference, its salt, and the recipe `SHA-256(salt ‖ UTF-8 reference)` that
  gives the `ownerRef` of the log;
* the metadata document exactly as hashed and its SHA-256 (the on-chain `metadataHash`), the
  authorization level and the document hashes (signed confirmation, licences);
* priority: the commitment's salt and Merkle proof as revealed in the registration
  transaction's input, the commitment `keccak256(abi.encode(fingerprint, registrant, salt))`,
  its leaf, the batch root, the ledger's `verifyRecord` answer, the batch (`batchOf`) and its
  `BatchAnchored` log (transaction, block, block hash).

For a comparison (`suspect` given) the suspect file is fingerprinted the same way and compared
with the registration alone: Image-Code distances over the registration's 8 orientations, the
Data-Code distance, and the similarity engine's figures (structure-code distance, geometric
inliers and coverage, or the shape-descriptor distance of a model) with the thresholds in
force. Similarity is a prompt for a person, never a verdict: the bundle and the PDF say so.

Each step of `RECIPE` is what `docs/EVIDENCE.md` tells a third party to do with public tools;
`tests/designs/test_evidence.py` does it with hashlib, iscc-core and web3 alone.

Raises:
    NotFoundError: no such registration.
    ConflictError: the registration is not on chain (yet), or failed.
    EvidenceMismatchError: a stored fact disagrees with the chain (no evidence is produced).
    ChainUnavailableError: the node does not answer.
    DesignFileError: the suspect file is refused (415, 413, 422).
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from eth_abi.abi import encode as abi_encode
from hexbytes import HexBytes
from PIL import Image
from sqlalchemy.orm import Session
from web3 import Web3
from web3.logs import DISCARD

from hallmark.chain.ledger import Ledger
from hallmark.chain.registry import DesignRegistryContract
from hallmark.core.errors import ConflictError, PermissionDeniedError
from hallmark.core.merkle import leaf_hash, process_proof
from hallmark.services.access.keys import Actor
from hallmark.services.designs import images
from hallmark.services.designs.fingerprints import DesignFingerprint, probe_file
from hallmark.services.designs.index import DesignIndex, SearchSettings
from hallmark.services.designs.registry import find_registration, lineage, owner_ref_hash
from hallmark.store.files import EncryptedFileStore

SCHEMA = "hallmark.design-evidence/1"
#: The record kind of a design commitment on the ProvenanceLedger (`RecordKind.DesignCommitment`).
DESIGN_COMMITMENT_KIND = 5
NOTE_EN = (
    "Similarity is a prompt for a person, never a verdict: the distances and coverage below "
    "say how alike two files are, not whether one was copied from the other."
)
NOTE_ZH = "相似度只是提示人工审查的线索，绝不是结论：以下距离与覆盖率说明两个文件有多相似，并不说明其中一个抄袭了另一个。"
THUMBNAIL_SIZE = 256

#: The re-verification recipe, step by step (docs/EVIDENCE.md explains each in full).
RECIPE: tuple[dict[str, str], ...] = (
    {
        "en": "sha256sum FILE: the digest equals fingerprint.sha256 (and the DesignRegistered "
        "log's fingerprint topic).",
        "zh": "sha256sum 文件：摘要等于 fingerprint.sha256（也等于 DesignRegistered 日志的指纹主题）。",
    },
    {
        "en": "iscc-core: gen_instance_code_v0 and gen_data_code_v0 of the file give "
        "fingerprint.iscc.instance and .data; for an image, gen_image_code_v0(bits=64) of the "
        "picture in grey, resized to 32x32 (Pillow, bicubic), gives .image[0] (the 8 "
        "orientations: rotations 0/90/180/270, then the same mirrored).",
        "zh": "iscc-core：对文件计算 gen_instance_code_v0 与 gen_data_code_v0，得到 "
        "fingerprint.iscc.instance 与 .data；图片转灰度并缩放为 32x32（Pillow，双三次）后 "
        "gen_image_code_v0(bits=64) 得到 .image[0]（8 个方向：旋转 0/90/180/270 度及其镜像）。",
    },
    {
        "en": "eth_chainId equals chain.chain_id; eth_getTransactionReceipt(chain.transaction): "
        "status 1, blockNumber and blockHash as stated, to = chain.contract, and a "
        "DesignRegistered log of the contract with the stated fields.",
        "zh": "eth_chainId 等于 chain.chain_id；eth_getTransactionReceipt(chain.transaction)："
        "状态为 1，区块号与区块哈希如所述，接收方为 chain.contract，并含所述字段的 "
        "DesignRegistered 日志。",
    },
    {
        "en": "eth_getBlockByNumber(block_number): its hash is chain.block_hash and its timestamp "
        "chain.block_timestamp.",
        "zh": "eth_getBlockByNumber(区块号)：其哈希为 chain.block_hash，时间戳为 chain.block_timestamp。",
    },
    {
        "en": "eth_getLogs for DesignRegistered with topic1 = the fingerprint: the registration "
        "log is there, on the canonical chain.",
        "zh": "以 topic1 = 指纹调用 eth_getLogs 查询 DesignRegistered：登记日志在规范链上。",
    },
    {
        "en": "eth_call designOf(fingerprint): metadataHash = 0x + SHA-256 of metadata.document "
        "(UTF-8 bytes, exactly as given); filedAt, filedBlock as under priority.",
        "zh": "eth_call designOf(指纹)：metadataHash = 0x + metadata.document（UTF-8 字节，原样）"
        "的 SHA-256；filedAt、filedBlock 与优先权部分一致。",
    },
    {
        "en": "ownerRef of the log = 0x + SHA-256(bytes of owner.salt ‖ UTF-8 bytes of "
        "owner.reference).",
        "zh": "日志中的 ownerRef = 0x + SHA-256(owner.salt 的字节 ‖ owner.reference 的 UTF-8 字节)。",
    },
    {
        "en": "Priority: the commitment = keccak256(abi.encode(fingerprint, registrant, salt)) "
        "(eth_call commitmentHash agrees); its leaf keccak256(keccak256(abi.encode(commitment))) "
        "with the proof (sorted pairs, keccak256) gives the batch root of the log; eth_call "
        "verifyRecord(anchorer, root, 5, commitment, proof) on the ledger is true; batchOf "
        "(anchorer, root) gives anchoredAt = filedAt and anchoredBlock = filedBlock, earlier than "
        "the registration's block; eth_getLogs BatchAnchored (anchorer, root) names the "
        "anchoring transaction.",
        "zh": "优先权：承诺值 = keccak256(abi.encode(指纹, 登记人, salt))（与 eth_call "
        "commitmentHash 一致）；其叶子 keccak256(keccak256(abi.encode(承诺值))) 按证明（排序配对，"
        "keccak256）得到日志中的批次根；账本的 eth_call verifyRecord(anchorer, root, 5, 承诺值, "
        "证明) 为真；batchOf(anchorer, root) 的 anchoredAt = filedAt、anchoredBlock = filedBlock，"
        "早于登记区块；eth_getLogs BatchAnchored(anchorer, root) 给出锚定交易。",
    },
)


class EvidenceMismatchError(ConflictError):
    """A stored fact of a registration disagrees with the chain: no evidence is produced."""

    code = "evidence_mismatch"

    def __init__(self, registration: str, differences: list[str]) -> None:
        super().__init__(
            f"registration {registration} disagrees with the chain: " + "; ".join(differences),
            details={"registration": registration, "differences": differences},
        )


@dataclass(frozen=True)
class StoredRegistration:
    """What the database holds of a registration, read in one session (no chain call)."""

    number: str
    title: str
    designers: tuple[str, ...]
    fingerprint: DesignFingerprint
    owner_ref: str
    owner_salt: str
    authorization: str
    authorization_document: str | None
    licences: tuple[dict[str, Any], ...]
    lineage: tuple[str, ...]
    metadata_canonical: str
    metadata_hash: str
    registrant: str
    tx_hash: str
    commitment: str
    thumbnail: bytes | None
    filename: str | None
    deployment_id: int | None
    owner_organisation_id: str | None


@dataclass(frozen=True)
class Suspect:
    """A file compared with a registration."""

    data: bytes
    filename: str | None = None
    media_type: str | None = None


@dataclass(frozen=True)
class Evidence:
    """The bundle (JSON-ready) and the pictures the PDF shows side by side."""

    bundle: dict[str, Any]
    registered_thumbnail: bytes | None = None
    suspect_thumbnail: bytes | None = None

    def json_bytes(self) -> bytes:
        return (json.dumps(self.bundle, ensure_ascii=False, indent=2) + "\n").encode()


def collect_registration(
    *, session: Session, store: EncryptedFileStore | None, ref: str
) -> StoredRegistration:
    """The stored facts of a registration on chain (by number or fingerprint).

    Raises:
        NotFoundError: unknown. ConflictError: not registered on chain (yet), or failed.
    """
    row = find_registration(session, ref)
    if row.status != "registered" or row.tx_hash is None:
        raise ConflictError(
            f"registration {row.number} is {row.status}: evidence needs its filing on chain"
            + (
                " (wait for the worker to file it)" if row.status in {"committed", "filing"} else ""
            ),
            details={"registration": row.number, "status": row.status},
        )
    document = json.loads(row.metadata_canonical)
    thumbnail = None
    if store is not None and row.thumbnail_sha256 is not None:
        thumbnail = store.get(row.thumbnail_sha256)
    return StoredRegistration(
        number=row.number,
        title=row.title,
        designers=tuple(str(d) for d in row.designers),
        fingerprint=DesignFingerprint.from_dict(row.fingerprint_data),
        owner_ref=row.owner_ref,
        owner_salt=str(document["owner"]["salt"]),
        authorization=row.authorization,
        authorization_document=row.authorization_document,
        licences=tuple(dict(lic) for lic in row.licences),
        lineage=tuple(parent.number for parent in lineage(session, row)),
        metadata_canonical=row.metadata_canonical,
        metadata_hash=row.metadata_hash,
        registrant=row.registrant,
        tx_hash=row.tx_hash,
        commitment=row.commitment,
        thumbnail=thumbnail,
        filename=row.filename,
        deployment_id=row.deployment_id,
        owner_organisation_id=row.owner_organisation_id,
    )


def may_read_evidence(actor: Actor, stored: StoredRegistration) -> bool:
    """Evidence names the owner (reference and salt): legal and the owner's organisation."""
    return actor.organisation_kind == "legal" or (
        stored.owner_organisation_id is not None
        and actor.organisation_id == stored.owner_organisation_id
    )


def evidence_for(
    *,
    sessions: Callable[[], AbstractContextManager[Session]],
    store: EncryptedFileStore | None,
    contracts: Callable[[int | None], tuple[DesignRegistryContract, Ledger]],
    ref: str,
    actor: Actor | None = None,
    suspect: Suspect | None = None,
    settings: SearchSettings | None = None,
) -> Evidence:
    """Collect (one database session), then read and check the chain (no session open):
    the evidence of `ref`, on the contracts of the deployment it was filed on.

    Raises:
        PermissionDeniedError: `actor` is neither legal nor of the owner's organisation.
        NotFoundError, ConflictError, EvidenceMismatchError, ChainUnavailableError,
        DesignFileError.
    """
    with sessions() as session:
        stored = collect_registration(session=session, store=store, ref=ref)
    if actor is not None and not may_read_evidence(actor, stored):
        raise PermissionDeniedError(
            "only legal and the owner's organisation read a registration's evidence (it names "
            "the owner)",
            details={"registration": stored.number},
        )
    registry, ledger = contracts(stored.deployment_id)
    return build_evidence(
        stored=stored, registry=registry, ledger=ledger, suspect=suspect, settings=settings
    )


def build_evidence(
    *,
    stored: StoredRegistration,
    registry: DesignRegistryContract,
    ledger: Ledger,
    suspect: Suspect | None = None,
    settings: SearchSettings | None = None,
    now: datetime | None = None,
) -> Evidence:
    """The evidence bundle of a registration (and of a comparison when `suspect` is given),
    every chain fact read from the chain and checked against the stored registration.

    Raises:
        EvidenceMismatchError, ChainUnavailableError, DesignFileError.
    """
    comparison = None
    suspect_thumbnail = None
    if suspect is not None:
        # Fingerprinting first: a refused suspect file costs no chain call.
        comparison, suspect_thumbnail = _compare(stored, suspect, settings or SearchSettings())
    chain_facts, priority = _read_chain(stored, registry, ledger)
    fingerprint = stored.fingerprint
    iscc: dict[str, Any] = {"instance": fingerprint.instance_code, "data": fingerprint.data_code}
    if fingerprint.image_codes:
        iscc["image"] = list(fingerprint.image_codes)
    document = json.loads(stored.metadata_canonical)
    bundle: dict[str, Any] = {
        "schema": SCHEMA,
        "kind": "comparison" if comparison is not None else "registration",
        "generated_at": (now or datetime.now(UTC)).isoformat(),
        "registration": {
            "number": stored.number,
            "title": stored.title,
            "designers": list(stored.designers),
            "filename": stored.filename,
            "lineage": list(stored.lineage),
        },
        "fingerprint": {
            "sha256": fingerprint.sha256,
            "kind": fingerprint.kind.value,
            "size": fingerprint.size,
            "iscc": iscc,
            "perceptual_code": chain_facts["event"]["perceptual_code"],
        },
        "owner": {
            "reference": stored.owner_ref,
            "salt": stored.owner_salt,
            "ref_on_chain": chain_facts["event"]["owner_ref"],
            "current_ref_on_chain": chain_facts["design_of"]["owner_ref"],
            "recompute": "0x + SHA-256(bytes.fromhex(salt) + reference.encode('utf-8'))",
        },
        "authorization": {
            "level": stored.authorization,
            "document_sha256": stored.authorization_document,
        },
        "documents": {
            "authorization": stored.authorization_document,
            "licences": [
                {"ref": lic.get("ref"), "document_sha256": lic.get("document_sha256")}
                for lic in stored.licences
            ],
            "parent_fingerprint": document.get("parent"),
        },
        "metadata": {"document": stored.metadata_canonical, "sha256": stored.metadata_hash},
        "chain": chain_facts,
        "priority": priority,
        "note": {"en": NOTE_EN, "zh": NOTE_ZH},
        "recipe": list(RECIPE),
    }
    if comparison is not None:
        bundle["comparison"] = comparison
    return Evidence(bundle, stored.thumbnail, suspect_thumbnail)


# --- the chain ----------------------------------------------------------------------------------


def _read_chain(
    stored: StoredRegistration, registry: DesignRegistryContract, ledger: Ledger
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Every chain fact of the registration, checked against the stored ones."""
    client = registry.client
    w3 = client.w3
    differences: list[str] = []
    sha = stored.fingerprint.sha256
    chain_id = client.retrieve_chain_id()
    receipt = client.retrieve_receipt(stored.tx_hash)
    if receipt is None:
        raise EvidenceMismatchError(
            stored.number, [f"the chain has no receipt of transaction {stored.tx_hash}"]
        )
    transaction = client.retrieve_call(lambda: w3.eth.get_transaction(stored.tx_hash))  # type: ignore[arg-type]
    block_number = int(receipt["blockNumber"])
    block = client.retrieve_call(lambda: w3.eth.get_block(block_number))
    block_hash = HexBytes(receipt["blockHash"]).to_0x_hex()
    if HexBytes(block["hash"]).to_0x_hex() != block_hash:
        differences.append("the receipt's block is no longer on the canonical chain")
    if int(receipt["status"]) != 1:
        differences.append("the registration transaction reverted")
    if Web3.to_checksum_address(str(receipt["to"])) != registry.address:
        differences.append("the registration transaction was not sent to the registry")
    events = [
        log
        for log in registry.contract.events.DesignRegistered().process_receipt(
            receipt, errors=DISCARD
        )
        if HexBytes(log["args"]["fingerprint"]).hex() == sha
        and Web3.to_checksum_address(log["address"]) == registry.address
    ]
    if len(events) != 1:
        raise EvidenceMismatchError(
            stored.number, [f"transaction {stored.tx_hash} holds no DesignRegistered log of {sha}"]
        )
    args = events[0]["args"]
    event = {
        "fingerprint": "0x" + sha,
        "registrant": Web3.to_checksum_address(args["registrant"]),
        "owner_ref": HexBytes(args["ownerRef"]).to_0x_hex(),
        "perceptual_code": f"{int(args['perceptualCode']):016x}",
        "metadata_hash": HexBytes(args["metadataHash"]).to_0x_hex(),
        "parent": HexBytes(args["parent"]).to_0x_hex(),
        "commitment_anchorer": Web3.to_checksum_address(args["commitmentAnchorer"]),
        "commitment_root": HexBytes(args["commitmentRoot"]).to_0x_hex(),
        "log_index": int(events[0]["logIndex"]),
    }
    design = registry.retrieve_design(sha)
    design_of = {
        "registrant": design.registrant,
        "filed_at": design.filed_at,
        "filed_block": design.filed_block,
        "final_at": design.final_at,
        "owner_ref": design.owner_ref,
        "metadata_hash": design.metadata_hash,
    }
    # The stored facts must be the chain's (the database is a cache of what the chain proves).
    if event["metadata_hash"] != stored.metadata_hash:
        differences.append("the log's metadataHash is not the stored metadata document's")
    if (
        "0x" + hashlib.sha256(stored.metadata_canonical.encode()).hexdigest()
        != (event["metadata_hash"])
    ):
        differences.append("the stored metadata document does not hash to the log's metadataHash")
    if owner_ref_hash(stored.owner_ref, stored.owner_salt) != event["owner_ref"]:
        differences.append("the owner reference and salt do not give the log's ownerRef")
    if event["registrant"] != Web3.to_checksum_address(stored.registrant):
        differences.append("the log's registrant is not the stored registrant")
    if design.metadata_hash != event["metadata_hash"]:
        differences.append("designOf's metadataHash is not the registration's")

    # The commitment as revealed in the transaction's input (the chain holds salt and proof).
    _function, params = registry.contract.decode_function_input(transaction["input"])
    anchorer, root, salt, proof = _commitment_tuple(params["commitment"])
    commitment = "0x" + Web3.keccak(
        abi_encode(
            ["bytes32", "address", "bytes32"],
            [bytes.fromhex(sha), event["registrant"], bytes.fromhex(salt[2:])],
        )
    ).hex().removeprefix("0x")
    on_chain_commitment = HexBytes(
        client.retrieve_call(
            registry.contract.functions.commitmentHash(
                bytes.fromhex(sha), event["registrant"], bytes.fromhex(salt[2:])
            ).call
        )
    ).to_0x_hex()
    leaf = "0x" + leaf_hash(commitment).hex()
    computed_root = "0x" + process_proof(leaf_hash(commitment), proof).hex()
    verified = ledger.retrieve_verify_record(
        root, commitment, proof, anchorer=anchorer, kind=DESIGN_COMMITMENT_KIND
    )
    batch = client.retrieve_call(ledger.contract.functions.batchOf(anchorer, HexBytes(root)).call)
    kind, count, _organisation, anchored_at, anchored_block = batch
    anchor_log = _anchor_log(ledger, anchorer, root, int(anchored_block))
    if commitment != stored.commitment:
        differences.append("the revealed commitment is not the stored commitment")
    if on_chain_commitment != commitment:
        differences.append("the registry's commitmentHash disagrees with the commitment")
    if computed_root != event["commitment_root"] or root != event["commitment_root"]:
        differences.append("the commitment's proof does not give the log's batch root")
    if not verified:
        differences.append("the ledger does not verify the commitment in its batch")
    if int(anchored_block) != design.filed_block or int(anchored_at) != design.filed_at:
        differences.append("the batch's anchoring is not designOf's filing time and block")
    if differences:
        raise EvidenceMismatchError(stored.number, differences)
    chain_facts = {
        "chain_id": chain_id,
        "contract": registry.address,
        "ledger": ledger.address,
        "transaction": HexBytes(receipt["transactionHash"]).to_0x_hex(),
        "block_number": block_number,
        "block_hash": block_hash,
        "block_timestamp": int(block["timestamp"]),
        "block_time": _iso(int(block["timestamp"])),
        "registrant": event["registrant"],
        "event": event,
        "design_of": design_of,
    }
    priority = {
        "commitment": commitment,
        "salt": salt,
        "leaf": leaf,
        "anchorer": anchorer,
        "batch_root": root,
        "proof": list(proof),
        "record_kind": int(kind),
        "batch_records": int(count),
        "verify_record": verified,
        "anchored_at": int(anchored_at),
        "anchored_time": _iso(int(anchored_at)),
        "anchor_block": int(anchored_block),
        "anchor_block_hash": anchor_log["block_hash"] if anchor_log else None,
        "anchor_transaction": anchor_log["tx_hash"] if anchor_log else None,
        "filed_at": design.filed_at,
        "filed_time": _iso(design.filed_at),
        "filed_block": design.filed_block,
        "final_at": design.final_at,
        "final_time": _iso(design.final_at),
    }
    return chain_facts, priority


def _commitment_tuple(value: Any) -> tuple[str, str, str, list[str]]:
    """(anchorer, root, salt, proof) of the decoded `Commitment` argument (a tuple or a dict,
    as web3 versions decode structs)."""
    if isinstance(value, dict):
        value = (value["anchorer"], value["root"], value["salt"], value["proof"])
    anchorer, root, salt, proof = value
    return (
        Web3.to_checksum_address(anchorer),
        HexBytes(root).to_0x_hex(),
        HexBytes(salt).to_0x_hex(),
        [HexBytes(node).to_0x_hex() for node in proof],
    )


def _anchor_log(ledger: Ledger, anchorer: str, root: str, block: int) -> dict[str, Any] | None:
    """The BatchAnchored log of (anchorer, root) in its anchoring block."""
    event = ledger.contract.events.BatchAnchored
    logs = ledger.client.retrieve_call(
        lambda: event.get_logs(
            argument_filters={"anchorer": anchorer, "root": HexBytes(root)},
            from_block=block,
            to_block=block,
        )
    )
    if not logs:
        return None
    return {
        "tx_hash": HexBytes(logs[-1]["transactionHash"]).to_0x_hex(),
        "block_hash": HexBytes(logs[-1]["blockHash"]).to_0x_hex(),
    }


def _iso(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat()


# --- comparison ---------------------------------------------------------------------------------


def _compare(
    stored: StoredRegistration, suspect: Suspect, settings: SearchSettings
) -> tuple[dict[str, Any], bytes | None]:
    """The suspect's fingerprints and its distances to the registration alone."""
    probe = probe_file(suspect.data, filename=suspect.filename, media_type=suspect.media_type)
    theirs = probe.fingerprint
    ours = stored.fingerprint
    distances: dict[str, Any] = {
        "identical": theirs.sha256 == ours.sha256,
        "data_code_bits": _hamming(theirs.data_code, ours.data_code),
    }
    if theirs.image_codes and ours.image_codes:
        per_orientation = [_hamming(theirs.image_codes[0], code) for code in ours.image_codes]
        best = min(range(len(per_orientation)), key=per_orientation.__getitem__)
        distances["image_code_bits"] = per_orientation[best]
        distances["image_code_orientation"] = best
        distances["image_code_bits_per_orientation"] = per_orientation
    # The engine's figures for this pair alone (no other registration takes part).
    index = DesignIndex(settings)
    index.add(stored.number, ours)
    found = [r for r in index.search(probe).similar if r.registration == stored.number]
    engine: dict[str, Any] = {
        "flagged": bool(found and found[0].flagged),
        "structure_code_bits": found[0].code_distance if found else None,
        "inliers": found[0].inliers if found else 0,
        "coverage": found[0].coverage if found else 0.0,
        "shape_distance": None
        if not found or found[0].shape_distance is None
        else round(found[0].shape_distance, 5),
        "thresholds": {
            "min_coverage": settings.min_coverage,
            "min_inliers": settings.min_inliers,
            "code_radius": settings.code_radius,
            "shape_radius": settings.shape_radius,
        },
    }
    comparison = {
        "suspect": {
            "filename": suspect.filename,
            "sha256": theirs.sha256,
            "kind": theirs.kind.value,
            "size": theirs.size,
            "iscc": {
                "instance": theirs.instance_code,
                "data": theirs.data_code,
                **({"image": theirs.image_codes[0]} if theirs.image_codes else {}),
            },
        },
        "distances": distances,
        "engine": engine,
        "note": {"en": NOTE_EN, "zh": NOTE_ZH},
    }
    return comparison, _suspect_thumbnail(suspect, theirs)


def _hamming(a: str, b: str) -> int:
    """Bits that differ between the bodies of two ISCC units of one type and length."""
    import iscc_core  # when first used, not in every process's start-up

    return int((int(iscc_core.Code(a).hash_uint) ^ int(iscc_core.Code(b).hash_uint)).bit_count())


def _suspect_thumbnail(suspect: Suspect, fingerprint: DesignFingerprint) -> bytes | None:
    if not fingerprint.kind.is_image:
        return None
    picture = images.decode(suspect.data, fingerprint.kind, images.ImageLimits())
    picture.thumbnail((THUMBNAIL_SIZE, THUMBNAIL_SIZE), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    picture.save(out, format="PNG")
    return out.getvalue()


__all__ = [
    "RECIPE",
    "Evidence",
    "EvidenceMismatchError",
    "StoredRegistration",
    "Suspect",
    "build_evidence",
    "collect_registration",
    "evidence_for",
    "may_read_evidence",
]
