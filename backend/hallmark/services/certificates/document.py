"""The certificate document: a W3C Verifiable Credential 2.0, its hash, its EIP-712 signature.

Pure functions, no database and no node: the issuing service builds and signs with them, and the
offline verifier (`verifier`, `hallmark verify`) checks with the very same code.

The document (`docs/VERIFY.md` is the specification):

    {
      "@context": ["https://www.w3.org/ns/credentials/v2"],
      "id": "urn:uuid:<certificate id>",
      "type": ["VerifiableCredential", "HallmarkCertificate"],
      "issuer": {"id": "urn:uuid:<brand organisation id>", "name": ..., "account": "0x…"},
      "validFrom": "<RFC 3339, UTC>",
      "credentialSubject": {certificateNumber, product, materials, carbonFootprint,
                            recycledShare, ethics, production, design, brand, personal?,
                            organisations (the who-is-who table), records},
      "credentialStatus": {"type": "HallmarkLedgerStatus", chainId, ledger, organisation,
                           issuanceId, supersedes?},
      "proof": {...}
    }

The **certificate hash** is keccak-256 of the RFC 8785 canonical JSON of the document without
its `proof` member: that is the record anchored as a Certificate-kind record, and what the
EIP-712 signature covers (with the number, the organisation and the issuance id). The proof
carries the signature, the signer, the deployment and, once anchored, the anchoring evidence
(anchorer, root, Merkle proof): none of it is hashed, so the evidence can be added after
signing.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import coincurve
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount

from hallmark.core.canonical import canonical_bytes
from hallmark.core.hashing import keccak256

VC_CONTEXT = "https://www.w3.org/ns/credentials/v2"
CREDENTIAL_TYPE = "HallmarkCertificate"
STATUS_TYPE = "HallmarkLedgerStatus"
PROOF_TYPE = "HallmarkEip712Signature"
BUNDLE_TYPE = "HallmarkProvenanceBundle"
ZERO_BYTES32 = "0x" + "00" * 32

#: The EIP-712 domain name and version of certificate signatures.
EIP712_NAME = "Hallmark Certificate"
EIP712_VERSION = "1"
EIP712_TYPES: dict[str, list[dict[str, str]]] = {
    "EIP712Domain": [
        {"name": "name", "type": "string"},
        {"name": "version", "type": "string"},
        {"name": "chainId", "type": "uint256"},
        {"name": "verifyingContract", "type": "address"},
    ],
    "Certificate": [
        {"name": "certificateHash", "type": "bytes32"},
        {"name": "organisation", "type": "bytes16"},
        {"name": "issuanceId", "type": "bytes32"},
        {"name": "number", "type": "string"},
    ],
}

#: Record kinds a certificate relies on and their on-chain RecordKind number.
RECORD_KIND_NUMBERS: dict[str, int] = {
    "material_lot": 0,
    "product": 1,
    "production_step": 2,
    "certificate": 3,
    "other": 4,
}

#: Revocation reason codes (uint16 on chain): the table in docs/CONTRACTS.md section 8.
REVOCATION_REASONS: dict[str, int] = {
    "issued_in_error": 1,
    "data_error": 2,
    "key_compromised": 3,
    "withdrawn": 4,
    "lost_in_production": 5,
    "fraud": 6,
    "other": 99,
}


class DocumentError(ValueError):
    """A certificate document that is not shaped as this module writes them."""


def organisation_bytes16(organisation_id: str) -> str:
    """The 16-byte on-chain identifier of an organisation (its UUID), as 0x-hex."""
    return "0x" + uuid.UUID(organisation_id).hex


def unsigned(document: Mapping[str, Any]) -> dict[str, Any]:
    """The document without its `proof`: what is hashed and signed."""
    return {key: value for key, value in document.items() if key != "proof"}


def canonical_text(document: Mapping[str, Any]) -> str:
    """The canonical JSON (RFC 8785) of the document without its proof."""
    return canonical_bytes(unsigned(document)).decode("utf-8")


def certificate_hash(document: Mapping[str, Any]) -> str:
    """keccak-256 of the canonical JSON of the document without its proof (0x-hex)."""
    return "0x" + keccak256(canonical_bytes(unsigned(document))).hex()


def personal_commitment(personal: Mapping[str, Any], salt: str) -> str:
    """SHA-256 of the salt (hex text, UTF-8) followed by the canonical JSON of the personal
    data (the scheme of lots' private fields), hex."""
    return hashlib.sha256(salt.encode() + canonical_bytes(dict(personal))).hexdigest()


def _field(document: Mapping[str, Any], *path: str) -> Any:
    value: Any = document
    for key in path:
        if not isinstance(value, Mapping) or key not in value:
            raise DocumentError(f"the document has no {'.'.join(path)}")
        value = value[key]
    return value


def typed_data(document: Mapping[str, Any], cert_hash: str | None = None) -> dict[str, Any]:
    """The EIP-712 message of a document: domain from its `credentialStatus` (chain id, ledger),
    message from its hash, issuer organisation, issuance id and certificate number."""
    status = _field(document, "credentialStatus")
    try:
        chain_id = int(_field(status, "chainId"))
        ledger = str(_field(status, "ledger"))
        organisation = bytes.fromhex(str(_field(status, "organisation")).removeprefix("0x"))
        issuance = bytes.fromhex(str(_field(status, "issuanceId")).removeprefix("0x"))
        number = str(_field(document, "credentialSubject", "certificateNumber"))
        digest = bytes.fromhex((cert_hash or certificate_hash(document)).removeprefix("0x"))
    except (TypeError, ValueError) as exc:
        raise DocumentError(f"the document's status fields are malformed: {exc}") from exc
    if len(organisation) != 16 or len(issuance) != 32:
        raise DocumentError("the organisation must be 16 bytes and the issuance id 32 bytes")
    return {
        "types": EIP712_TYPES,
        "primaryType": "Certificate",
        "domain": {
            "name": EIP712_NAME,
            "version": EIP712_VERSION,
            "chainId": chain_id,
            "verifyingContract": ledger,
        },
        "message": {
            "certificateHash": digest,
            "organisation": organisation,
            "issuanceId": issuance,
            "number": number,
        },
    }


def _type_hash(name: str) -> bytes:
    """keccak-256 of an EIP-712 struct type, `Name(type field,...)` (no referenced types)."""
    fields = ",".join(f"{f['type']} {f['name']}" for f in EIP712_TYPES[name])
    return keccak256(f"{name}({fields})".encode())


_DOMAIN_TYPE_HASH = _type_hash("EIP712Domain")
_CERTIFICATE_TYPE_HASH = _type_hash("Certificate")


@lru_cache(maxsize=64)
def _domain_separator(chain_id: int, ledger: str) -> bytes:
    """EIP-712 `hashStruct(domain)` of a deployment: the same for every certificate signed on
    it, so computed once."""
    address = bytes.fromhex(ledger.removeprefix("0x"))
    if len(address) != 20 or not 0 <= chain_id < 2**256:
        raise DocumentError("the ledger must be a 20-byte address and the chain id a uint256")
    return keccak256(
        _DOMAIN_TYPE_HASH
        + keccak256(EIP712_NAME.encode())
        + keccak256(EIP712_VERSION.encode())
        + chain_id.to_bytes(32, "big")
        + address.rjust(32, b"\0")
    )


def signing_digest(document: Mapping[str, Any], cert_hash: str | None = None) -> bytes:
    """The 32-byte EIP-712 digest of a document's message (`typed_data`):
    keccak256(0x1901 ‖ domain separator ‖ hashStruct(Certificate))."""
    message = typed_data(document, cert_hash)
    domain, fields = message["domain"], message["message"]
    if len(fields["certificateHash"]) != 32:
        raise DocumentError("the certificate hash must be 32 bytes")
    struct = keccak256(
        _CERTIFICATE_TYPE_HASH
        + fields["certificateHash"]
        + fields["organisation"].ljust(32, b"\0")  # bytesN are padded on the right
        + fields["issuanceId"]
        + keccak256(fields["number"].encode())
    )
    separator = _domain_separator(domain["chainId"], domain["verifyingContract"])
    return keccak256(b"\x19\x01" + separator + struct)


def sign(document: Mapping[str, Any], account: LocalAccount, cert_hash: str | None = None) -> str:
    """The issuer's EIP-712 signature of the document (0x-hex, 65 bytes: r ‖ s ‖ v, v 27/28).

    eth-account's `sign_message(encode_typed_data(...))` gives the same bytes (both sign with
    RFC 6979 nonces; tests/certificates/test_signing.py checks it) but spends about 2.5 ms
    encoding the typed data in pure Python; this hashes the fixed-layout message directly and
    signs the digest with libsecp256k1 (coincurve, which eth-keys itself uses): bulk issuance
    signs tens of thousands. `cert_hash`: the document's hash when the caller has it.
    """
    digest = signing_digest(document, cert_hash)
    signature = coincurve.PrivateKey(bytes(account.key)).sign_recoverable(digest, hasher=None)
    return "0x" + signature[:64].hex() + f"{signature[64] + 27:02x}"


def recover_signer(document: Mapping[str, Any], signature: str) -> str:
    """The account whose EIP-712 signature of the document `signature` is (checksummed).

    Raises:
        DocumentError: the document or the signature is malformed.
    """
    message = encode_typed_data(full_message=typed_data(document))
    try:
        return str(Account.recover_message(message, signature=bytes.fromhex(signature[2:])))
    except Exception as exc:  # eth-keys raises several types for a bad signature
        raise DocumentError(f"the signature cannot be read: {exc}") from exc


def with_proof(
    document: Mapping[str, Any],
    *,
    signer: str,
    signature: str,
    deployment: Mapping[str, Any],
    anchor: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """The full document: the unsigned part and its proof (signature, deployment, anchoring)."""
    status = _field(document, "credentialStatus")
    full = unsigned(document)
    full["proof"] = {
        "type": PROOF_TYPE,
        "proofPurpose": "assertionMethod",
        "cryptosuite": "eip712-keccak256-jcs",
        "verificationMethod": f"eip155:{status['chainId']}:{signer}",
        "signer": signer,
        "chainId": status["chainId"],
        "certificateHash": certificate_hash(document),
        "signatureValue": signature,
        "deployment": dict(deployment),
        "anchor": dict(anchor) if anchor is not None else None,
    }
    return full
