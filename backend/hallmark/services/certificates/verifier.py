"""The offline verifier: a certificate document (and its provenance bundle) against the chain.

Needs only the files and a JSON-RPC endpoint of the chain: no database, no Hallmark API (this
module imports neither; `hallmark verify` runs it). docs/VERIFY.md specifies the algorithm; the
checks, in order, each reported with what it found:

1. `document`: the members of a Hallmark certificate, the proof's fixed fields;
2. `hash`: keccak-256 of the JCS form of the document without `proof` = `proof.certificateHash`;
3. `signature`: the EIP-712 signature recovers `proof.signer` = `issuer.account`;
4. `chain`: the node's chain id is the document's; the ledger and registry are the deployment
   the proof names (code, `version()`, the registry's ledger);
5. `issuer`: the signer is bound to the organisation the document names and held ISSUER_ROLE
   in the block its certificate's batch was anchored;
6. `merkle`: the proof leads from the certificate hash to the root;
7. `anchored`: the root was anchored by the signer as a Certificate batch of that organisation,
   in the block and transaction the evidence names;
8. `status`: `certificateStatus(organisation, issuanceId, hash, anchorer, root, proof)` is
   Valid (Revoked, Superseded and Unknown fail, with the cause, reason, time or successor);
9. `design`: the registered design the document names (if any) is the DesignRegistry's filing
   (fingerprint, filing time and block, final time, metadata hash; registrant and owner
   reference then or since assigned), final when the certificate was anchored, and its licence
   is the registry's, granted before and not terminated by then;
10. with a bundle, `bundle`: it is this certificate's and holds exactly the records the document
   lists; for each record its text hashes to its hash, says what the list says, its proof leads
   to its root, the ledger's `verifyRecord` accepts it (anchored by that account as that kind,
   batch not flagged) and its anchorer is the account the who-is-who table gives its
   organisation; the step chain links, in sequence, to the head the document names. A record
   anchored before `hallmark deploy --new` is checked on its earlier ledger (version 1: by
   root, with its anchoring transaction's own call, and the anchorer bound to its organisation
   on the certificate's ledger).

The verdict: `genuine` when every check passes; else `revoked` or `superseded` (from the ledger),
`unknown` (not shown to be anchored by its issuer, or another chain, or the node failing), or
`tampered` (which any later check's tampering overrides). Files are read by `read_json`.
A second implementation in JavaScript (tests/certificates/js/verify.mjs) must agree with this
one on every case of a shared corpus: change both, and docs/VERIFY.md, together.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from eth_typing import HexStr
from hexbytes import HexBytes
from web3 import Web3
from web3.exceptions import Web3Exception

from hallmark.chain.artifacts import ARTIFACTS_DIR, load_artifacts
from hallmark.chain.client import ChainClient
from hallmark.chain.ledger import LOG_BLOCK_RANGE, Ledger
from hallmark.chain.registry import DesignRegistryContract, DesignRights
from hallmark.core.canonical import canonical_bytes
from hallmark.core.errors import HallmarkError
from hallmark.core.hashing import keccak256
from hallmark.core.merkle import MerkleError, StandardMerkleTree
from hallmark.services.certificates import document as doc

_HASH_CHARS = frozenset("0123456789abcdef")
#: A UUID in its canonical form (lower case, 8-4-4-4-12), the only one documents carry.
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_SIGNATURE = re.compile(r"0x[0-9a-f]{130}")
#: Half the order of secp256k1: a signature's `s` above it is the malleated twin of another.
_SECP256K1_HALF_N = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0
_ANCHOR_KEYS = {
    "kind",
    "anchorer",
    "root",
    "proof",
    "block",
    "transaction",
    "ledger",
    "contractsVersion",
}
_DESIGN_KEYS = {
    "registration",
    "fingerprint",
    "registry",
    "registrant",
    "ownerRef",
    "metadataHash",
    "filedAt",
    "filedBlock",
    "finalAt",
    "authorization",
    "licence",
}
_LICENCE_KEYS = {"documentHash", "licenseeRef", "validFrom", "validUntil", "grantedBy", "grantedAt"}
#: Contracts versions a bundled record may have been anchored with on an earlier ledger.
_EARLIER_VERSIONS = ("1.0.0", "2.0.0")
_BUNDLE_ENTRY_KEYS = {"id", "kind", "organisation", "recordHash", "canonical", "anchor"}
_PROOF_KEYS = {
    "type",
    "proofPurpose",
    "cryptosuite",
    "verificationMethod",
    "signer",
    "chainId",
    "certificateHash",
    "signatureValue",
    "deployment",
    "anchor",
}
_DOCUMENT_KEYS = {
    "@context",
    "id",
    "type",
    "issuer",
    "validFrom",
    "credentialSubject",
    "credentialStatus",
    "proof",
}


#: What each check may find, by key, in English (`{name}`: a value); pages translate them by
#: their keys (the verify page's catalogue holds each, with `%(name)s` for `{name}`).
MESSAGES = {
    "document_ok": "a {type} of organisation {organisation}",
    "hash_differs": "the document hashes to {computed}, its proof says {claimed}",
    "signature_other": "the signature is {recovered}'s, the proof names {signer}",
    "signature_ok": "EIP-712 signature by {account}",
    "chain_other": "the certificate is for chain {expected}, the node is on chain {found}",
    "chain_ok": "chain {chain}, ledger {ledger} version {version}",
    "not_anchored": "{what} carries no anchoring evidence (not anchored yet)",
    "no_batch": "no batch with that anchorer and root on the ledger",
    "issuer_role_missing": "the signer did not hold ISSUER_ROLE in block {block}",
    "issuer_ok": "{signer} held ISSUER_ROLE in block {block}",
    "merkle_ok": "proof of {nodes} nodes leads to {root}",
    "anchored_other": "the batch was anchored by {anchorer}, not the signer",
    "anchored_ok": "Certificate batch anchored by the signer in block {block}",
    "status_ok": "valid: not revoked, superseded or flagged",
    "revoked": "revoked ({cause}, reason {reason}, at {at})",
    "superseded": "superseded at {at} by {successor} (anchored by {anchorer} in root {root})",
    "status_unknown": "unknown to the ledger ({cause})",
    "record_hash_differs": (
        "bundle record {record}'s text hashes to {computed}, not its record hash"
    ),
    "record_anchorer": (
        "bundle record {record} was anchored by {anchorer}, the "
        "who-is-who table gives organisation {organisation} the account {account}"
    ),
    "bundle_ok": "{records} records verified; step chain of {links} links ends at {head}",
    "design_none": "no registered design named",
    "design_no_filing": "the DesignRegistry holds no filing of {fingerprint}",
    "design_field": "design.{field} is {stated!r}, the registry's is {held!r}",
    "design_not_final": "the filing was not final when the certificate was anchored",
    "design_holder": "design.registrant and ownerRef are not the filing's, now or before",
    "licence_none": "the DesignRegistry holds no licence under {document}",
    "licence_field": "design.licence.{field} is not the registry's",
    "licence_later": "the licence was granted after the certificate was anchored",
    "licence_terminated": "the licence had been terminated when the certificate was anchored",
    "cannot_check": "cannot check: {error}",
    # A file of another shape than a certificate's, a bundle's or the chain's answers.
    "not_hash": "{what} is not a lower-case 0x-hex 32-byte value: {value!r}",
    "not_address": "{what} is not a checksummed address: {value!r}",
    "not_integer": "{what} is not an integer: {value!r}",
    "member_missing": "{what} has no {member!r}",
    "not_uuid": "{what} is not a UUID: {value!r}",
    "document_members": "the document's members are not a certificate's: {members}",
    "context_other": "@context is not the Verifiable Credentials 2.0 context",
    "type_other": "type is not a {type}",
    "proof_members": "the proof's members are not a Hallmark proof's",
    "status_type_other": "credentialStatus.type is not {type}",
    "proof_member_other": "proof.{member} is not {value!r}",
    "verification_method": "proof.verificationMethod does not name the signer on its chain",
    "chain_ids_differ": "proof.chainId differs from credentialStatus.chainId",
    "issuer_id": "issuer.id is not urn:uuid:<organisation>: {value!r}",
    "status_organisation": "credentialStatus.organisation is not the issuer's identifier",
    "signature_form": "proof.signatureValue is not a 65-byte lower-case 0x-hex signature",
    "signature_not_canonical": (
        "proof.signatureValue is not a canonical signature (v 27 or 28, s in the lower half)"
    ),
    "number_not_text": "credentialSubject.certificateNumber is not text",
    "issuer_account_other": "the issuer's account is {account}, the signer is {signer}",
    "deployment_members": "proof.deployment is not {{ledger, designRegistry, contractsVersion}}",
    "deployment_ledger": "proof.deployment.ledger differs from credentialStatus.ledger",
    "no_ledger": "no contract at ledger {ledger} on this chain",
    "ledger_no_version": "the contract at {ledger} answers no version(): {error}",
    "ledger_version": "the ledger's version is {version}, the proof says otherwise",
    "no_registry": "no design registry at {registry}: {error}",
    "registry_ledger": "the design registry {registry} belongs to ledger {ledger}",
    "anchor_members": "{what}'s members are not anchoring evidence's",
    "anchor_kind": "{what}.kind is {kind!r}, not {expected!r}",
    "anchor_proof_list": "{what}.proof is not a list",
    "anchor_ledger": "{what}.ledger is not the certificate's ledger",
    "anchor_version": "{what}.contractsVersion is not the ledger's version",
    "earlier_version": "{what}.contractsVersion {version!r} is not a ledger's",
    "earlier_no_contract": "{what}.ledger {address}: no contract there",
    "earlier_not_ledger": "{what}.ledger {address} is not a ledger: {error}",
    "earlier_answers": "{what}.ledger {address} answers version {version}",
    "earlier_version_other": "{what}.contractsVersion is not its ledger's version",
    "transaction_other": "{what}.transaction is not its anchorer's anchoring in its block",
    "signer_bound_other": "the signer {signer} is bound to {organisation}, not to the issuer",
    "merkle_malformed": "the Merkle proof is malformed: {error}",
    "merkle_root_other": "the Merkle proof does not lead to the root",
    "batch_kind": "the batch holds records of kind {kind}, not certificates",
    "batch_organisation": "the batch belongs to another organisation",
    "batch_block": "the batch was anchored in block {block}",
    "organisations_not_list": "credentialSubject.organisations is not a list",
    "bundle_type": "the bundle is not a {type}",
    "bundle_other": "the bundle is another certificate's",
    "records_not_list": "credentialSubject.records is not a list",
    "bundle_records": "the bundle does not hold exactly the records the document lists",
    "entry_members": "{what}'s members are not a bundled record's",
    "entry_member_other": "{what}.{member} is not what the document lists",
    "canonical_not_text": "{what}.canonical is not text",
    "text_not_canonical": "{what}'s text is not canonical JSON",
    "text_not_json": "{what}'s text is not JSON: {error}",
    "text_not_record": "{what}'s text is not a record",
    "text_other_record": "{what}'s text does not describe that record",
    "kind_unknown": "{what} is of unknown kind {kind!r}",
    "record_merkle_malformed": "{what}'s Merkle proof is malformed: {error}",
    "record_merkle_root": "{what}'s Merkle proof does not lead to its root",
    "data_not_object": "{what}'s data is not an object",
    "step_missing": "step {step} of the chain is missing from the bundle",
    "step_product": "step {step} is another product's",
    "step_link": "step {step} does not link to the step before it",
    "chain_head": "the step chain does not end at the head the document names",
    "record_flagged": (
        "{what}'s batch is flagged ({cause}, reason {reason}, at {at}): the record is withdrawn"
    ),
    "record_not_verified": "the ledger does not verify {what} (not its batch or kind)",
    "record_anchorer_unbound": "{what}'s anchorer is not bound to its organisation",
    "record_block": "{what}.anchor.block is not its batch's block",
    "earlier_not_verified": "the earlier ledger {ledger} does not verify {what}",
    "earlier_root": (
        "{what}'s root was anchored on {ledger} by {anchorer} as kind {found}, not by its "
        "anchorer as {kind}"
    ),
    "earlier_revoked": (
        "{what}'s batch was revoked on {ledger} (reason {reason}, at {at}): the record is withdrawn"
    ),
    "earlier_unbound": (
        "{what}'s anchorer is not bound to its organisation on the certificate's ledger"
    ),
    "transaction_unknown": "{what}.transaction is unknown to the node",
    "transaction_not_anchoring": "{what}.transaction is not an anchoring call: {error}",
    "transaction_anchored_other": "{what}.transaction anchored {called}, not its root and kind",
    "design_members": "the design's members are not a registered design's",
    "design_registry": "design.registry is not the deployment's DesignRegistry",
    "licence_members": "design.licence's members are not a licence's",
    "document_error": "{error}",
    "no_ledger_address": "the document names no ledger address",
}


@dataclass(frozen=True, slots=True)
class Said:
    """What a check found, as a message key and its values (for pages that say it in another
    language) and in English (`str()`: what `hallmark verify` and the API print)."""

    key: str
    text: str
    values: Mapping[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.text


def said(key: str, **values: Any) -> Said:
    """What a check found: `MESSAGES[key]` with `values`."""
    return Said(key, MESSAGES[key].format(**values), values)


class CheckFailedError(Exception):
    """One check's failure, with the verdict it leads to."""

    def __init__(self, message: str | Said, verdict: str = "tampered") -> None:
        super().__init__(str(message))
        self.message = str(message)
        self.said = message if isinstance(message, Said) else None
        self.verdict = verdict


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    detail: str
    #: The detail as a message key and values, when the verifier gives one.
    said: Said | None = None


@dataclass
class Report:
    """Every check made, in order, and the verdict."""

    checks: list[Check] = field(default_factory=list)
    verdict: str = "genuine"

    @property
    def ok(self) -> bool:
        return self.verdict == "genuine" and all(c.ok for c in self.checks)

    def as_json(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "ok": self.ok,
            "checks": [{"name": c.name, "ok": c.ok, "detail": c.detail} for c in self.checks],
        }


def _hash(value: Any, what: str) -> str:
    if not (
        isinstance(value, str)
        and len(value) == 66
        and value.startswith("0x")
        and set(value[2:]) <= _HASH_CHARS
    ):
        raise CheckFailedError(said("not_hash", what=what, value=value))
    return value


def _address(value: Any, what: str) -> str:
    if not isinstance(value, str) or not Web3.is_checksum_address(value):
        raise CheckFailedError(said("not_address", what=what, value=value))
    return value


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise CheckFailedError(said("not_integer", what=what, value=value))
    return value


def _get(mapping: Any, key: str, what: str) -> Any:
    if not isinstance(mapping, Mapping) or key not in mapping:
        raise CheckFailedError(said("member_missing", what=what, member=key))
    return mapping[key]


def _uuid(value: Any, what: str) -> str:
    """A UUID in its canonical form (documents never carry another)."""
    if not isinstance(value, str) or not _UUID.fullmatch(value):
        raise CheckFailedError(said("not_uuid", what=what, value=value))
    return value


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise ValueError(f"the member {key!r} appears twice")
        found[key] = value
    return found


def read_json(data: bytes) -> Any:
    """A certificate or bundle file's JSON value (docs/VERIFY.md, section 1): UTF-8 without a
    byte order mark, strict JSON (no NaN or Infinity, no member twice in an object).

    Raises:
        ValueError: the bytes are not such a file.
    """
    text = data.decode("utf-8")  # strict: no encoded surrogates, no invalid bytes
    try:
        value = json.loads(
            text, parse_constant=_reject_constant, object_pairs_hook=_reject_duplicates
        )
    except RecursionError:
        raise ValueError(f"JSON nested deeper than {MAX_DEPTH} levels") from None
    if _depth(value) > MAX_DEPTH:
        raise ValueError(f"JSON nested deeper than {MAX_DEPTH} levels")
    return value


#: The deepest nesting a file may have (docs/VERIFY.md, section 1); a certificate needs 6.
MAX_DEPTH = 128


def _depth(value: Any) -> int:
    """How deeply `value`'s arrays and objects nest (walked without recursion)."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level + 1)
            stack.extend(
                (child, level + 1) for child in (item.values() if isinstance(item, dict) else item)
            )
    return deepest


@dataclass
class _Context:
    """What later checks need of earlier ones."""

    document: Mapping[str, Any]
    bundle: Any
    ledger: Ledger
    registry_abi: list[dict[str, Any]]
    certificate_hash: str = ""
    signer: str = ""
    organisation: str = ""  # the issuer's UUID
    organisation_bytes: bytes = b""
    issuance_id: str = ""
    anchor: Mapping[str, Any] = field(default_factory=dict)
    anchored_block: int = 0
    contracts_version: str = ""
    receipts: dict[str, Any] = field(default_factory=dict)
    batches: dict[tuple[str, str, str], Any] = field(default_factory=dict)
    accounts: dict[str, bytes] = field(default_factory=dict)
    #: Earlier ledgers that bundled records name, by address (checked once each).
    earlier: dict[str, Ledger] = field(default_factory=dict)
    earlier_abi: list[dict[str, Any]] | None = None
    block_times: dict[int, int] = field(default_factory=dict)


def _check_document(ctx: _Context) -> str | Said:
    document = ctx.document
    if set(document) != _DOCUMENT_KEYS:
        raise CheckFailedError(said("document_members", members=sorted(document)))
    if document["@context"] != [doc.VC_CONTEXT]:
        raise CheckFailedError(said("context_other"))
    if document["type"] != ["VerifiableCredential", doc.CREDENTIAL_TYPE]:
        raise CheckFailedError(said("type_other", type=doc.CREDENTIAL_TYPE))
    proof = _get(document, "proof", "the document")
    if not isinstance(proof, Mapping) or set(proof) != _PROOF_KEYS:
        raise CheckFailedError(said("proof_members"))
    status = _get(document, "credentialStatus", "the document")
    if _get(status, "type", "credentialStatus") != doc.STATUS_TYPE:
        raise CheckFailedError(said("status_type_other", type=doc.STATUS_TYPE))
    expected = {
        "type": doc.PROOF_TYPE,
        "proofPurpose": "assertionMethod",
        "cryptosuite": "eip712-keccak256-jcs",
    }
    for key, value in expected.items():
        if proof[key] != value:
            raise CheckFailedError(said("proof_member_other", member=key, value=value))
    ctx.signer = _address(proof["signer"], "proof.signer")
    chain_id = _int(proof["chainId"], "proof.chainId")
    if proof["verificationMethod"] != f"eip155:{chain_id}:{ctx.signer}":
        raise CheckFailedError(said("verification_method"))
    if _int(_get(status, "chainId", "credentialStatus"), "credentialStatus.chainId") != chain_id:
        raise CheckFailedError(said("chain_ids_differ"))
    issuer_id = _get(document["issuer"], "id", "issuer")
    if not (
        isinstance(issuer_id, str)
        and issuer_id.startswith("urn:uuid:")
        and _UUID.fullmatch(issuer_id.removeprefix("urn:uuid:"))
    ):
        raise CheckFailedError(said("issuer_id", value=issuer_id))
    ctx.organisation = issuer_id.removeprefix("urn:uuid:")
    organisation = _get(status, "organisation", "credentialStatus")
    if organisation != doc.organisation_bytes16(ctx.organisation):
        raise CheckFailedError(said("status_organisation"))
    ctx.organisation_bytes = uuid.UUID(ctx.organisation).bytes
    ctx.issuance_id = _hash(_get(status, "issuanceId", "credentialStatus"), "issuanceId")
    return said(
        "document_ok",
        type=doc.CREDENTIAL_TYPE,
        organisation=ctx.organisation,
    )


def _check_hash(ctx: _Context) -> str | Said:
    computed = doc.certificate_hash(ctx.document)
    claimed = _hash(ctx.document["proof"]["certificateHash"], "proof.certificateHash")
    if computed != claimed:
        raise CheckFailedError(
            said(
                "hash_differs",
                computed=computed,
                claimed=claimed,
            )
        )
    ctx.certificate_hash = computed
    return computed  # the hash itself: the same in every language


def _check_signature(ctx: _Context) -> str | Said:
    signature = ctx.document["proof"]["signatureValue"]
    if not isinstance(signature, str) or not _SIGNATURE.fullmatch(signature):
        raise CheckFailedError(said("signature_form"))
    raw = bytes.fromhex(signature[2:])
    r, s, v = int.from_bytes(raw[:32]), int.from_bytes(raw[32:64]), raw[64]
    # One signature, one form: eth-account would also take v 0, 1 or 35 and above, and the
    # malleated twin (n - s), so a changed signature byte could still recover the signer.
    if r == 0 or s == 0 or s > _SECP256K1_HALF_N or v not in (27, 28):
        raise CheckFailedError(said("signature_not_canonical"))
    subject = _get(ctx.document, "credentialSubject", "the document")
    if not isinstance(_get(subject, "certificateNumber", "credentialSubject"), str):
        raise CheckFailedError(said("number_not_text"))
    try:
        recovered = doc.recover_signer(ctx.document, signature)
    except doc.DocumentError as exc:
        raise CheckFailedError(said("document_error", error=str(exc))) from None
    if recovered != ctx.signer:
        raise CheckFailedError(
            said(
                "signature_other",
                recovered=recovered,
                signer=ctx.signer,
            )
        )
    account = _get(ctx.document["issuer"], "account", "issuer")
    if account != ctx.signer:
        raise CheckFailedError(said("issuer_account_other", account=account, signer=ctx.signer))
    return said("signature_ok", account=recovered)


def _check_chain(ctx: _Context) -> str | Said:
    proof, status = ctx.document["proof"], ctx.document["credentialStatus"]
    node_chain = ctx.ledger.client.retrieve_chain_id()
    if node_chain != proof["chainId"]:
        raise CheckFailedError(
            said(
                "chain_other",
                expected=proof["chainId"],
                found=node_chain,
            ),
            "unknown",
        )
    deployment = proof["deployment"]
    if not isinstance(deployment, Mapping) or set(deployment) != {
        "ledger",
        "designRegistry",
        "contractsVersion",
    }:
        raise CheckFailedError(said("deployment_members"))
    ledger = _address(_get(status, "ledger", "credentialStatus"), "credentialStatus.ledger")
    if deployment["ledger"] != ledger or ledger != ctx.ledger.address:
        raise CheckFailedError(said("deployment_ledger"))
    if not ctx.ledger.client.retrieve_code(ledger):
        raise CheckFailedError(said("no_ledger", ledger=ledger), "unknown")
    try:
        version = ctx.ledger.client.retrieve_call(ctx.ledger.contract.functions.version().call)
    except Web3Exception as exc:  # a revert, or an answer that is not a string
        raise CheckFailedError(said("ledger_no_version", ledger=ledger, error=str(exc))) from None
    if version != deployment["contractsVersion"] or version != "2.0.0":
        raise CheckFailedError(said("ledger_version", version=version))
    ctx.contracts_version = str(version)
    registry = _address(deployment["designRegistry"], "proof.deployment.designRegistry")
    contract = ctx.ledger.design_registry(registry, ctx.registry_abi).contract
    try:
        registry_ledger = ctx.ledger.client.retrieve_call(contract.functions.ledger().call)
    except Exception as exc:  # no contract there: web3 raises a decoding error
        raise CheckFailedError(said("no_registry", registry=registry, error=str(exc))) from None
    if registry_ledger != ledger:
        raise CheckFailedError(said("registry_ledger", registry=registry, ledger=registry_ledger))
    return said(
        "chain_ok",
        chain=node_chain,
        ledger=ledger,
        version=version,
    )


def _anchor(
    value: Any, what: str, kind: str, ctx: _Context, *, earlier: bool = False
) -> Mapping[str, Any]:
    if value is None:
        raise CheckFailedError(
            said("not_anchored", what=what),
            "unknown",
        )
    if not isinstance(value, Mapping) or set(value) != _ANCHOR_KEYS:
        raise CheckFailedError(said("anchor_members", what=what))
    if value["kind"] != kind:
        raise CheckFailedError(said("anchor_kind", what=what, kind=value["kind"], expected=kind))
    _address(value["anchorer"], f"{what}.anchorer")
    _hash(value["root"], f"{what}.root")
    if not isinstance(value["proof"], list):
        raise CheckFailedError(said("anchor_proof_list", what=what))
    for index, node in enumerate(value["proof"]):
        _hash(node, f"{what}.proof[{index}]")
    _int(value["block"], f"{what}.block")
    _hash(value["transaction"], f"{what}.transaction")
    if value["ledger"] != ctx.ledger.address:
        if not earlier:
            raise CheckFailedError(said("anchor_ledger", what=what))
        _earlier_ledger(ctx, value["ledger"], value["contractsVersion"], what)
    elif value["contractsVersion"] != ctx.contracts_version:
        raise CheckFailedError(said("anchor_version", what=what))
    return value


def _earlier_ledger(ctx: _Context, address: Any, version: Any, what: str) -> Ledger:
    """The earlier ledger a record names: code there, answering the version it claims."""
    address = _address(address, f"{what}.ledger")
    if address in ctx.earlier:
        ledger = ctx.earlier[address]
    else:
        if version not in _EARLIER_VERSIONS:
            raise CheckFailedError(said("earlier_version", what=what, version=version))
        if not ctx.ledger.client.retrieve_code(address):
            raise CheckFailedError(
                said("earlier_no_contract", what=what, address=address), "unknown"
            )
        if version == "1.0.0":
            if ctx.earlier_abi is None:
                ctx.earlier_abi = load_artifacts(ARTIFACTS_DIR)["ProvenanceLedger"]["abi"]
            abi = ctx.earlier_abi
        else:
            abi = ctx.ledger.abi
        ledger = Ledger(ctx.ledger.client, address, abi)
        try:
            found = ctx.ledger.client.retrieve_call(ledger.contract.functions.version().call)
        except Exception as exc:  # no ledger there: web3 raises a decoding error
            raise CheckFailedError(
                said("earlier_not_ledger", what=what, address=address, error=str(exc))
            ) from None
        if found != version:
            raise CheckFailedError(
                said("earlier_answers", what=what, address=address, version=found)
            )
        ctx.earlier[address] = ledger
    claimed = "1.0.0" if ledger.version == 1 else "2.0.0"
    if version != claimed:
        raise CheckFailedError(said("earlier_version_other", what=what))
    return ledger


def _ledger_of(ctx: _Context, anchor: Mapping[str, Any]) -> Ledger:
    return ctx.ledger if anchor["ledger"] == ctx.ledger.address else ctx.earlier[anchor["ledger"]]


def _batch(ctx: _Context, anchorer: str, root: str, ledger: Ledger | None = None) -> Any:
    ledger = ledger or ctx.ledger
    key = (ledger.address, anchorer, root)
    if key not in ctx.batches:
        ctx.batches[key] = ledger.retrieve_batch_record(anchorer, root)
    return ctx.batches[key]


def _organisation_of(ctx: _Context, account: str, ledger: Ledger | None = None) -> bytes:
    ledger = ledger or ctx.ledger
    key = f"{ledger.address}:{account}"
    if key not in ctx.accounts:
        ctx.accounts[key] = ledger.retrieve_account(account).organisation
    return ctx.accounts[key]


def _check_transaction(
    ctx: _Context, anchor: Mapping[str, Any], what: str, ledger: Ledger | None = None
) -> None:
    """The evidence's transaction was mined in its block, sent by its anchorer to the ledger."""
    address = (ledger or ctx.ledger).address
    tx_hash = anchor["transaction"]
    if tx_hash not in ctx.receipts:
        ctx.receipts[tx_hash] = ctx.ledger.client.retrieve_receipt(tx_hash)
    receipt = ctx.receipts[tx_hash]
    if (
        receipt is None
        or receipt["blockNumber"] != anchor["block"]
        or receipt["to"] != address
        or receipt["from"] != anchor["anchorer"]
        or receipt["status"] != 1
    ):
        raise CheckFailedError(said("transaction_other", what=what))


def _check_issuer(ctx: _Context) -> str | Said:
    ctx.anchor = _anchor(ctx.document["proof"]["anchor"], "proof.anchor", "certificate", ctx)
    organisation = _organisation_of(ctx, ctx.signer)
    if organisation != ctx.organisation_bytes:
        raise CheckFailedError(
            said("signer_bound_other", signer=ctx.signer, organisation="0x" + organisation.hex()),
            "unknown",
        )
    batch = _batch(ctx, ctx.anchor["anchorer"], ctx.anchor["root"])
    if batch.record_count == 0:
        raise CheckFailedError(said("no_batch"), "unknown")
    ctx.anchored_block = batch.anchored_block
    if not ctx.ledger.retrieve_has_role_at("ISSUER_ROLE", ctx.signer, batch.anchored_block):
        raise CheckFailedError(
            said(
                "issuer_role_missing",
                block=batch.anchored_block,
            ),
            "unknown",
        )
    return said(
        "issuer_ok",
        signer=ctx.signer,
        block=batch.anchored_block,
    )


def _check_merkle(ctx: _Context) -> str | Said:
    try:
        ok = StandardMerkleTree.verify(
            ctx.anchor["root"], ctx.certificate_hash, ctx.anchor["proof"]
        )
    except MerkleError as exc:
        raise CheckFailedError(said("merkle_malformed", error=str(exc))) from None
    if not ok:
        raise CheckFailedError(said("merkle_root_other"))
    return said(
        "merkle_ok",
        nodes=len(ctx.anchor["proof"]),
        root=ctx.anchor["root"],
    )


def _check_anchored(ctx: _Context) -> str | Said:
    anchor = ctx.anchor
    batch = _batch(ctx, anchor["anchorer"], anchor["root"])
    if anchor["anchorer"] != ctx.signer:
        raise CheckFailedError(
            said(
                "anchored_other",
                anchorer=anchor["anchorer"],
            )
        )
    if batch.kind != doc.RECORD_KIND_NUMBERS["certificate"]:
        raise CheckFailedError(said("batch_kind", kind=batch.kind))
    if batch.organisation != ctx.organisation_bytes:
        raise CheckFailedError(said("batch_organisation"), "unknown")
    if batch.anchored_block != anchor["block"]:
        raise CheckFailedError(said("batch_block", block=batch.anchored_block))
    _check_transaction(ctx, anchor, "proof.anchor")
    return said(
        "anchored_ok",
        block=batch.anchored_block,
    )


def _check_status(ctx: _Context) -> str | Said:
    standing = ctx.ledger.retrieve_certificate_status(
        organisation=ctx.organisation_bytes,
        issuance_id=ctx.issuance_id,
        certificate_hash=ctx.certificate_hash,
        anchorer=ctx.anchor["anchorer"],
        root=ctx.anchor["root"],
        proof=ctx.anchor["proof"],
    )
    if standing.state == "valid":
        return said("status_ok")
    if standing.state == "revoked":
        raise CheckFailedError(
            said(
                "revoked",
                cause=standing.cause,
                reason=standing.reason,
                at=standing.at,
            ),
            "revoked",
        )
    if standing.state == "superseded":
        raise CheckFailedError(
            said(
                "superseded",
                at=standing.at,
                successor=standing.successor_hash,
                anchorer=standing.successor_anchorer,
                root=standing.successor_root,
            ),
            "superseded",
        )
    raise CheckFailedError(
        said("status_unknown", cause=standing.cause),
        "unknown",
    )


def _who_is_who(ctx: _Context) -> dict[str, Any]:
    """The who-is-who table: organisation → account (a later row for the same one wins)."""
    table = _get(ctx.document["credentialSubject"], "organisations", "credentialSubject")
    if not isinstance(table, list):
        raise CheckFailedError(said("organisations_not_list"))
    accounts: dict[str, Any] = {}
    for entry in table:
        organisation = _uuid(_get(entry, "id", "organisation"), "organisation id")
        accounts[organisation] = _get(entry, "account", "organisation")
    return accounts


def _check_bundle(ctx: _Context) -> str | Said:
    bundle = ctx.bundle
    if (
        not isinstance(bundle, Mapping)
        or set(bundle) != {"type", "certificate", "records"}
        or bundle["type"] != doc.BUNDLE_TYPE
    ):
        raise CheckFailedError(said("bundle_type", type=doc.BUNDLE_TYPE))
    if bundle["certificate"] != ctx.certificate_hash:
        raise CheckFailedError(said("bundle_other"))
    subject = ctx.document["credentialSubject"]
    listed = _get(subject, "records", "credentialSubject")
    entries = bundle["records"]
    if not isinstance(listed, list):
        raise CheckFailedError(said("records_not_list"))
    if not isinstance(entries, list) or len(entries) != len(listed):
        raise CheckFailedError(said("bundle_records"))
    accounts = _who_is_who(ctx)
    steps: list[tuple[int, str, Mapping[str, Any]]] = []
    for index, (entry, expected) in enumerate(zip(entries, listed, strict=True)):
        what = f"bundle record {index + 1}"
        if not isinstance(entry, Mapping) or set(entry) != _BUNDLE_ENTRY_KEYS:
            raise CheckFailedError(said("entry_members", what=what))
        for key in ("id", "kind", "organisation", "recordHash"):
            if not isinstance(entry[key], str) or entry[key] != _get(
                expected, key, f"the document's record {index + 1}"
            ):
                raise CheckFailedError(said("entry_member_other", what=what, member=key))
        canonical = entry["canonical"]
        if not isinstance(canonical, str):
            raise CheckFailedError(said("canonical_not_text", what=what))
        computed = "0x" + keccak256(canonical.encode("utf-8")).hex()
        if computed != entry["recordHash"]:
            raise CheckFailedError(
                said(
                    "record_hash_differs",
                    record=index + 1,
                    computed=computed,
                )
            )
        try:
            parsed = json.loads(canonical)
            if canonical_bytes(parsed).decode("utf-8") != canonical:
                raise CheckFailedError(said("text_not_canonical", what=what))
        except ValueError as exc:
            raise CheckFailedError(said("text_not_json", what=what, error=str(exc))) from None
        if not isinstance(parsed, dict):
            raise CheckFailedError(said("text_not_record", what=what))
        if (parsed.get("id"), parsed.get("type"), parsed.get("organisation")) != (
            entry["id"],
            entry["kind"],
            entry["organisation"],
        ):
            raise CheckFailedError(said("text_other_record", what=what))
        kind = entry["kind"]
        if kind not in doc.RECORD_KIND_NUMBERS:
            raise CheckFailedError(said("kind_unknown", what=what, kind=kind))
        anchor = _anchor(entry["anchor"], f"{what}.anchor", kind, ctx, earlier=True)
        try:
            proven = StandardMerkleTree.verify(anchor["root"], computed, anchor["proof"])
        except MerkleError as exc:
            raise CheckFailedError(
                said("record_merkle_malformed", what=what, error=str(exc))
            ) from None
        if not proven:
            raise CheckFailedError(said("record_merkle_root", what=what))
        organisation = _uuid(entry["organisation"], f"{what}.organisation")
        if accounts.get(organisation) != anchor["anchorer"]:
            raise CheckFailedError(
                said(
                    "record_anchorer",
                    record=index + 1,
                    anchorer=anchor["anchorer"],
                    organisation=organisation,
                    account=accounts.get(organisation),
                )
            )
        ledger = _ledger_of(ctx, anchor)
        check = _check_record_v1 if ledger.version == 1 else _check_record_v2
        check(
            ctx,
            ledger,
            anchor=anchor,
            record_hash=computed,
            kind=kind,
            organisation=organisation,
            what=what,
        )
        if kind == "production_step":
            data = parsed.get("data", {})
            if not isinstance(data, dict):
                raise CheckFailedError(said("data_not_object", what=what))
            sequence = _int(data.get("sequence", 0), f"{what}'s data.sequence")
            steps.append((sequence, computed, data))
    return _check_steps(ctx, steps, len(entries))


def _check_steps(
    ctx: _Context, steps: list[tuple[int, str, Mapping[str, Any]]], records: int
) -> Said:
    production = ctx.document["credentialSubject"]["production"]
    product_id = ctx.document["credentialSubject"]["product"]["id"]
    previous: str | None = None
    ordered = sorted(steps, key=lambda step: step[0])
    for expected, (sequence, record_hash, data) in enumerate(ordered, start=1):
        if sequence != expected:
            raise CheckFailedError(said("step_missing", step=expected))
        if data.get("product") != product_id:
            raise CheckFailedError(said("step_product", step=sequence))
        if data.get("previousStep") != previous:
            raise CheckFailedError(said("step_link", step=sequence))
        previous = record_hash
    links = production["links"]
    if (
        previous != production["stepChainHead"]
        or isinstance(links, bool)
        or not isinstance(links, int | float)
        or links != len(steps)
    ):
        raise CheckFailedError(said("chain_head"))
    return said(
        "bundle_ok",
        records=records,
        links=len(steps),
        head=previous,
    )


def _check_record_v2(
    ctx: _Context,
    ledger: Ledger,
    *,
    anchor: Mapping[str, Any],
    record_hash: str,
    kind: str,
    organisation: str,
    what: str,
) -> None:
    """A bundled record on a version 2 ledger (the certificate's or an earlier one)."""
    if not ledger.retrieve_verify_record(
        anchor["root"],
        record_hash,
        anchor["proof"],
        anchorer=anchor["anchorer"],
        kind=doc.RECORD_KIND_NUMBERS[kind],
    ):
        standing = ledger.retrieve_batch_status(anchor["anchorer"], anchor["root"])
        if standing.state == "flagged":
            raise CheckFailedError(
                said(
                    "record_flagged",
                    what=what,
                    cause=standing.cause,
                    reason=standing.reason,
                    at=standing.at,
                ),
                "revoked",
            )
        raise CheckFailedError(said("record_not_verified", what=what))
    if _organisation_of(ctx, anchor["anchorer"], ledger) != uuid.UUID(organisation).bytes:
        raise CheckFailedError(said("record_anchorer_unbound", what=what), "unknown")
    if _batch(ctx, anchor["anchorer"], anchor["root"], ledger).anchored_block != anchor["block"]:
        raise CheckFailedError(said("record_block", what=what))
    _check_transaction(ctx, anchor, f"{what}.anchor", ledger)


def _check_record_v1(
    ctx: _Context,
    ledger: Ledger,
    *,
    anchor: Mapping[str, Any],
    record_hash: str,
    kind: str,
    organisation: str,
    what: str,
) -> None:
    """A bundled record on an earlier version 1 ledger (batches by root alone, no binding):
    its batch, its revocation, its anchorer bound to its organisation on the certificate's
    ledger, and its anchoring transaction's own call naming its root and kind."""
    root, anchorer, number = anchor["root"], anchor["anchorer"], doc.RECORD_KIND_NUMBERS[kind]
    if not ledger.retrieve_verify_record(root, record_hash, anchor["proof"]):
        raise CheckFailedError(said("earlier_not_verified", ledger=ledger.address, what=what))
    batch = ledger.retrieve_batch(root)
    if batch.anchorer != anchorer or batch.kind != number:
        raise CheckFailedError(
            said(
                "earlier_root",
                what=what,
                ledger=ledger.address,
                anchorer=batch.anchorer,
                found=batch.kind,
                kind=kind,
            )
        )
    _, revoked_at, reason = ledger.retrieve_batch_revocation(root)
    if revoked_at:
        raise CheckFailedError(
            said("earlier_revoked", what=what, ledger=ledger.address, reason=reason, at=revoked_at),
            "revoked",
        )
    if _organisation_of(ctx, anchorer) != uuid.UUID(organisation).bytes:
        raise CheckFailedError(said("earlier_unbound", what=what), "unknown")
    _check_transaction(ctx, anchor, f"{what}.anchor", ledger)
    sent = ctx.ledger.client.retrieve_transaction(anchor["transaction"])
    if sent is None:
        raise CheckFailedError(said("transaction_unknown", what=what))
    try:
        function, args = ledger.contract.decode_function_input(
            HexStr(HexBytes(sent[1]).to_0x_hex())
        )
        called = (function.fn_name, "0x" + bytes(args["root"]).hex(), int(args["kind"]))
    except Exception as exc:  # web3 raises several types for a call it cannot decode
        raise CheckFailedError(
            said("transaction_not_anchoring", what=what, error=str(exc))
        ) from None
    if called != ("anchor", root, number):
        raise CheckFailedError(said("transaction_anchored_other", what=what, called=called))


def _block_time(ctx: _Context, block: int) -> int:
    if block not in ctx.block_times:
        ctx.block_times[block] = ctx.ledger.client.retrieve_block_time(block)
    return ctx.block_times[block]


def _design_holders(
    registry: DesignRegistryContract, fingerprint: str, from_block: int
) -> set[tuple[str, str]]:
    """Every (registrant, ownerRef) the filing in force has had: its last `DesignRegistered`
    log's, then each `DesignAssigned` log's after it."""
    registered = list(
        registry.retrieve_registered_logs(fingerprints=[fingerprint], from_block=from_block)
    )
    if not registered:
        return set()
    last = registered[-1]
    holders = {(last.registrant, last.owner_ref)}
    event = registry.contract.events.DesignAssigned
    key = HexBytes(fingerprint)
    head = registry.client.retrieve_block_number()
    start = last.block_number
    while start <= head:  # providers refuse wide ranges: LOG_BLOCK_RANGE blocks a request
        end = min(head, start + LOG_BLOCK_RANGE - 1)

        def logs(start: int = start, end: int = end) -> Any:
            return event.get_logs(
                argument_filters={"fingerprint": key}, from_block=start, to_block=end
            )

        for log in registry.client.retrieve_call(logs):
            args = log["args"]
            holders.add(
                (
                    Web3.to_checksum_address(args["newRegistrant"]),
                    "0x" + bytes(args["newOwnerRef"]).hex(),
                )
            )
        start = end + 1
    return holders


def _check_design(ctx: _Context) -> str | Said:
    design = _get(ctx.document["credentialSubject"], "design", "credentialSubject")
    if design is None:
        return said("design_none")
    if not isinstance(design, Mapping) or set(design) != _DESIGN_KEYS:
        raise CheckFailedError(said("design_members"))
    registry_address = _address(design["registry"], "design.registry")
    if registry_address != ctx.document["proof"]["deployment"]["designRegistry"]:
        raise CheckFailedError(said("design_registry"))
    fingerprint = _hash(design["fingerprint"], "design.fingerprint")
    registry = ctx.ledger.design_registry(registry_address, ctx.registry_abi)
    filed = registry.retrieve_design(fingerprint)
    if not filed.registered:
        raise CheckFailedError(
            said(
                "design_no_filing",
                fingerprint=fingerprint,
            )
        )
    for key, value in (
        ("filedAt", filed.filed_at),
        ("filedBlock", filed.filed_block),
        ("finalAt", filed.final_at),
        ("metadataHash", filed.metadata_hash),
    ):
        # Equal is the same JSON type and value (docs/VERIFY.md, section 1): 5.0 is not 5.
        if key != "metadataHash":
            _int(design[key], f"design.{key}")
        if design[key] != value:
            raise CheckFailedError(
                said(
                    "design_field",
                    field=key,
                    stated=design[key],
                    held=value,
                )
            )
    anchored_at = _block_time(ctx, ctx.anchor["block"])
    if filed.final_at > anchored_at:
        raise CheckFailedError(said("design_not_final"))
    holder = (
        _address(design["registrant"], "design.registrant"),
        _hash(design["ownerRef"], "design.ownerRef"),
    )
    facts: dict[str, Any] = {
        "fingerprint": fingerprint,
        "block": filed.filed_block,
        "registrant": holder[0],
        "assignee": None,
        "licence": None,
        "terminated": None,
    }
    detail = "design {fingerprint} filed in block {block} by {registrant}"
    if holder != (filed.registrant, filed.owner_ref):
        if holder not in _design_holders(registry, fingerprint, filed.filed_block):
            raise CheckFailedError(
                said(
                    "design_holder",
                )
            )
        detail += " (assigned since to {assignee})"
        facts["assignee"] = filed.registrant
    licence = design["licence"]
    if licence is None:
        return Said("design_ok", detail.format(**facts), facts)
    if not isinstance(licence, Mapping) or set(licence) != _LICENCE_KEYS:
        raise CheckFailedError(said("licence_members"))
    document = _hash(licence["documentHash"], "design.licence.documentHash")
    found = DesignRights(registry).retrieve_licence(fingerprint, document)
    if found.granted_at == 0:
        raise CheckFailedError(
            said(
                "licence_none",
                document=document,
            )
        )
    for key, value in (
        ("licenseeRef", found.licensee_ref),
        ("validFrom", found.valid_from),
        ("validUntil", found.valid_until),
        ("grantedBy", found.granted_by),
        ("grantedAt", found.granted_at),
    ):
        if key not in ("licenseeRef", "grantedBy"):
            _int(licence[key], f"design.licence.{key}")
        if licence[key] != value:
            raise CheckFailedError(said("licence_field", field=key))
    if found.granted_at > anchored_at:
        raise CheckFailedError(said("licence_later"))
    if found.terminated_at and found.terminated_at <= anchored_at:
        raise CheckFailedError(
            said(
                "licence_terminated",
            )
        )
    detail += "; licensed under {licence}"
    facts["licence"] = document
    if found.terminated_at:
        detail += " (terminated later, at {terminated})"
        facts["terminated"] = found.terminated_at
    return Said("design_ok", detail.format(**facts), facts)


def _checked(report: Report, name: str, run: Callable[[], str | Said]) -> bool:
    found: Said | None = None
    try:
        result = run()
    except CheckFailedError as exc:
        verdict, detail, found = exc.verdict, exc.message, exc.said
    except (HallmarkError, Web3Exception) as exc:  # the node failed, or refused a call
        found = said("cannot_check", error=exc)
        verdict, detail = "unknown", str(found)
    except (LookupError, TypeError, ValueError, AttributeError) as exc:  # malformed files
        found = said("cannot_check", error=exc)
        verdict, detail = "tampered", str(found)
    else:
        found = result if isinstance(result, Said) else None
        report.checks.append(Check(name, True, str(result), found))
        return True
    report.checks.append(Check(name, False, detail, found))
    # The first verdict that is not genuine stands, unless a later check finds tampering.
    if report.verdict == "genuine" or verdict == "tampered":
        report.verdict = verdict
    return False


def verify(
    *,
    document: Mapping[str, Any],
    bundle: Any,
    ledger: Ledger,
    registry_abi: list[dict[str, Any]],
    has_bundle: bool | None = None,
) -> Report:
    """Run every check (see the module docstring); later checks that need a failed one are not
    run. The bundle is checked when `has_bundle` (by default: when `bundle` is not None; a
    bundle file that holds `null` is given, and is no bundle)."""
    report = Report()
    ctx = _Context(document=document, bundle=bundle, ledger=ledger, registry_abi=registry_abi)
    if not _checked(report, "document", lambda: _check_document(ctx)):
        return report
    steps: Sequence[tuple[str, Callable[[_Context], str | Said]]] = (
        ("hash", _check_hash),
        ("signature", _check_signature),
        ("chain", _check_chain),
        ("issuer", _check_issuer),
        ("merkle", _check_merkle),
        ("anchored", _check_anchored),
        ("status", _check_status),
        ("design", _check_design),
    )
    for name, step in steps:
        ok = _checked(report, name, lambda step=step: step(ctx))  # type: ignore[misc]
        if not ok and name in ("hash", "chain", "issuer"):
            return report
    if bundle is not None if has_bundle is None else has_bundle:
        _checked(report, "bundle", lambda: _check_bundle(ctx))
    return report


def ledger_at(
    rpc_url: str, document: Mapping[str, Any], abi: list[dict[str, Any]], *, timeout: float = 10
) -> Ledger:
    """The ledger the document names, through `rpc_url`.

    Raises:
        CheckFailedError: the document names no ledger address.
    """
    status = document.get("credentialStatus") if isinstance(document, Mapping) else None
    address = status.get("ledger") if isinstance(status, Mapping) else None
    if not isinstance(address, str) or not Web3.is_address(address):
        raise CheckFailedError(said("no_ledger_address"))
    return Ledger(ChainClient.for_url(rpc_url, timeout=timeout), address, abi)


def verify_at(
    rpc_url: str,
    *,
    document: Any,
    bundle: Any,
    ledger_abi: list[dict[str, Any]],
    registry_abi: list[dict[str, Any]],
    has_bundle: bool | None = None,
) -> Report:
    """`verify` through a JSON-RPC endpoint, with the ledger the document names (a document
    that names none fails its first check)."""
    if not isinstance(document, Mapping):
        return Report([Check("document", False, "the document is not a JSON object")], "tampered")
    try:
        ledger = ledger_at(rpc_url, document, ledger_abi)
    except CheckFailedError as exc:
        return Report([Check("document", False, exc.message)], verdict="tampered")
    return verify(
        document=document,
        bundle=bundle,
        ledger=ledger,
        registry_abi=registry_abi,
        has_bundle=has_bundle,
    )
