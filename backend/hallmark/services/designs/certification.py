"""The design section of a certificate: the registered design a piece was made from, as the chain
holds it.

`certificate_design` resolves a registration (by number, id or fingerprint), refuses it unless
its filing is on chain and final on the chain's clock, and reads the filing and, when one is
named, the licence from the DesignRegistry itself, so the certificate states exactly what an
offline verifier reads back (docs/VERIFY.md, section 2 and check 9). It reads the database and
the chain and writes nothing: the issuing service calls it before its own transaction.

Raises:
    DesignNotCertifiableError: the design is unknown, not filed, not final, or the licence is
        not recorded, terminated or not in force (409, the reason in the message).
    ChainUnavailableError: the node does not answer.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from hallmark.chain.registry import DesignRegistryContract, DesignRights
from hallmark.core.errors import DesignNotCertifiableError, NotFoundError
from hallmark.services.designs.registry import find_registration


def _iso(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")


def certificate_design(
    *,
    session: Session,
    registry: DesignRegistryContract,
    ref: str,
    licence_document: str | None,
    chain_time: int,
) -> dict[str, Any]:
    """The certificate's `design` section for registration `ref` (and the licence under the
    signed document `licence_document`, SHA-256 hex), checked final at `chain_time` (the
    latest block's timestamp)."""
    try:
        registration = find_registration(session, ref)
    except NotFoundError:
        raise DesignNotCertifiableError(ref, "it is not in the design registry") from None
    number = registration.number
    if registration.status != "registered":
        raise DesignNotCertifiableError(
            number, f"it is {registration.status}, not filed on chain yet"
        )
    fingerprint = "0x" + registration.fingerprint
    filed = registry.retrieve_design(fingerprint)
    if not filed.registered:
        raise DesignNotCertifiableError(number, "the DesignRegistry holds no filing of it")
    if filed.final_at > chain_time:
        raise DesignNotCertifiableError(
            number,
            f"its filing is not final until {_iso(filed.final_at)} (an earlier commitment may "
            "still displace it)",
            final_at=_iso(filed.final_at),
        )
    section: dict[str, Any] = {
        "registration": number,
        "fingerprint": fingerprint,
        "registry": registry.address,
        "registrant": filed.registrant,
        "ownerRef": filed.owner_ref,
        "metadataHash": filed.metadata_hash,
        "filedAt": filed.filed_at,
        "filedBlock": filed.filed_block,
        "finalAt": filed.final_at,
        "authorization": registration.authorization,
        "licence": None,
    }
    if licence_document is not None:
        document = licence_document.lower().removeprefix("0x")
        if not re.fullmatch(r"[0-9a-f]{64}", document):
            raise DesignNotCertifiableError(
                number, "the licence is named by the SHA-256 of its signed document (64 hex)"
            )
        licence = DesignRights(registry).retrieve_licence(fingerprint, "0x" + document)
        if licence.granted_at == 0:
            raise DesignNotCertifiableError(
                number, f"no licence under document {document} is recorded for it"
            )
        if licence.terminated_at != 0:
            raise DesignNotCertifiableError(
                number, f"its licence under document {document} was terminated"
            )
        if licence.valid_from > chain_time or (0 < licence.valid_until <= chain_time):
            raise DesignNotCertifiableError(
                number, f"its licence under document {document} is not in force now"
            )
        section["licence"] = {
            "documentHash": "0x" + document,
            "licenseeRef": licence.licensee_ref,
            "validFrom": licence.valid_from,
            "validUntil": licence.valid_until,
            "grantedBy": licence.granted_by,
            "grantedAt": licence.granted_at,
        }
    return section
