// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.24;

import {IRecordAnchor} from "./IRecordAnchor.sol";

/**
 * @title ICertificateStatus
 * @notice Revocation and supersession of certificates, recorded per issuing organisation.
 *
 * A certificate is a record of kind {IRecordAnchor-RecordKind.Certificate}. Its signed document names the issuing
 * organisation (its 16-byte identifier, see {IOrganisations}) and an issuance id: a non-zero bytes32 shared by every
 * certificate of one order or issuance (zero when the document names none). The certificate hash is the keccak-256
 * of the document's canonical JSON. Every fact is recorded under the issuing organisation and names only things the
 * signed document carries, never a Merkle root:
 *
 * - revocation of one certificate: (organisation, certificate hash), by the organisation's REVOKER_ROLE accounts;
 * - revocation of a whole issuance: (organisation, issuance id), by the organisation's REVOKER_ROLE accounts;
 * - supersession of one certificate by a successor that the same organisation anchored as a certificate, by the
 *   organisation's ISSUER_ROLE or REVOKER_ROLE accounts or the admin.
 *
 * So revocation is final: anchoring the same certificate again, alone or in another batch, or anchoring an inner
 * node of its tree, reaches the same (organisation, certificate hash) and (organisation, issuance id) entries and
 * reads Revoked; and an account of another organisation cannot revoke, supersede or revive anything of this one.
 * Revocation dominates supersession. Reason codes are defined off chain; 0 is never a valid reason.
 *
 * What a verifier must pass to {certificateStatus} for these guarantees to hold: the organisation and the issuance
 * id read from the signed document, the hash of that document, and the anchoring evidence (anchorer, root, proof),
 * which needs no trust: wrong evidence reads Unknown, never Valid.
 */
interface ICertificateStatus {
    /// @notice Status of a certificate as read through one batch.
    enum CertificateState {
        Unknown, // 0: not proven as a certificate of the organisation in that batch (see the cause)
        Valid, // 1: anchored by the organisation, not revoked, not superseded, batch not flagged
        Revoked, // 2: revoked (certificate or issuance), or its batch is flagged or its anchorer compromised
        Superseded // 3: replaced by a successor (and not revoked)
    }

    /**
     * @notice The batch and proof of one certificate (used to name both sides of a supersession).
     * @param anchorer The account that anchored the certificate's batch.
     * @param root The batch's root.
     * @param certificateHash The certificate's record hash.
     * @param proof The certificate's Merkle proof in the batch.
     */
    struct CertificateRef {
        address anchorer;
        bytes32 root;
        bytes32 certificateHash;
        bytes32[] proof;
    }

    /**
     * @notice Answer of {certificateStatus}.
     * @param state See {CertificateState}.
     * @param cause Why (see {IRecordAnchor-Cause}); None when Valid or Superseded.
     * @param reason The reason code when Revoked (of the revocation, the flag or the compromise), else 0.
     * @param at Valid: the batch's anchoring time; Revoked: when the revocation, flag or latest compromise
     * declaration was recorded; Superseded: the supersession time; Unknown: 0.
     * @param successorAnchorer When Superseded: the anchorer of the successor's batch, else 0.
     * @param successorRoot When Superseded: the root of the successor's batch, else 0.
     * @param successorHash When Superseded: the successor's certificate hash, else 0.
     */
    struct CertificateStatus {
        CertificateState state;
        IRecordAnchor.Cause cause;
        uint16 reason;
        uint64 at;
        address successorAnchorer;
        bytes32 successorRoot;
        bytes32 successorHash;
    }

    /// @notice A revocation (of a certificate or an issuance), one storage slot. Zero `revokedAt`: none.
    struct Revocation {
        address revokedBy;
        uint64 revokedAt;
        uint16 reason;
    }

    /**
     * @notice A supersession of one certificate, naming the successor's batch. Zero `successorHash`: none.
     * @param successorHash The successor's certificate hash.
     * @param successorRoot The root of the batch the successor was proven in.
     * @param successorAnchorer The anchorer of that batch (an account of the same organisation).
     * @param supersededAt Block timestamp of the supersession.
     * @param supersededBy The account that recorded it.
     * @param root The root of the batch the superseded certificate was proven in.
     * @param anchorer The anchorer of that batch.
     */
    struct Supersession {
        bytes32 successorHash;
        bytes32 successorRoot;
        address successorAnchorer;
        uint64 supersededAt;
        address supersededBy;
        bytes32 root;
        address anchorer;
    }

    /// @notice Everything recorded about one certificate of one organisation, without reference to any batch.
    struct CertificateRecord {
        Revocation revocation;
        Supersession supersession;
    }

    /// @notice `organisation` revoked its certificate `certificateHash` (proven in batch (`anchorer`, `root`)).
    event CertificateRevoked(
        bytes16 indexed organisation,
        bytes32 indexed certificateHash,
        address indexed anchorer,
        bytes32 root,
        uint16 reason,
        address revokedBy
    );

    /// @notice `organisation` revoked every certificate of its issuance `issuanceId`.
    event IssuanceRevoked(
        bytes16 indexed organisation, bytes32 indexed issuanceId, uint16 reason, address revokedBy
    );

    /**
     * @notice `organisation` replaced its certificate `certificateHash` (proven in batch (`anchorer`, `root`)) by
     * `successorHash` (proven in batch (`successorAnchorer`, `successorRoot`)).
     */
    event CertificateSuperseded(
        bytes16 indexed organisation,
        bytes32 indexed certificateHash,
        bytes32 indexed successorHash,
        address anchorer,
        bytes32 root,
        address successorAnchorer,
        bytes32 successorRoot,
        address supersededBy
    );

    /// @notice The batch (`anchorer`, `root`) holds `kind` records, not certificates.
    error NotACertificateBatch(address anchorer, bytes32 root, IRecordAnchor.RecordKind kind);

    /// @notice The proof does not prove `certificateHash` in the batch (`anchorer`, `root`).
    error InvalidCertificateProof(address anchorer, bytes32 root, bytes32 certificateHash);

    /// @notice The issuance id is zero.
    error ZeroIssuanceId();

    /// @notice `organisation` already revoked `certificateHash` for `reason` at `revokedAt`.
    error CertificateAlreadyRevoked(
        bytes16 organisation, bytes32 certificateHash, uint16 reason, uint64 revokedAt
    );

    /// @notice `organisation` already revoked the issuance `issuanceId` for `reason` at `revokedAt`.
    error IssuanceAlreadyRevoked(bytes16 organisation, bytes32 issuanceId, uint16 reason, uint64 revokedAt);

    /// @notice `organisation`'s certificate `certificateHash` was already superseded by `successorHash`.
    error CertificateAlreadySuperseded(
        bytes16 organisation, bytes32 certificateHash, bytes32 successorHash, uint64 supersededAt
    );

    /// @notice The successor's certificate hash is zero.
    error ZeroSuccessor();

    /// @notice A certificate cannot supersede itself.
    error SuccessorIsSameCertificate(bytes32 certificateHash);

    /// @notice The successor's batch (`anchorer`, `root`) is flagged (`cause`); it cannot take a certificate's place.
    error SuccessorBatchNotValid(address anchorer, bytes32 root, IRecordAnchor.Cause cause);

    /// @notice `account` is neither an ISSUER_ROLE nor a REVOKER_ROLE account of the organisation, nor the admin.
    error UnauthorisedSuperseder(address account);

    /**
     * @notice Revoke the certificate `certificateHash` of the caller's organisation, proven by `proof` in the
     * organisation's certificate batch (`anchorer`, `root`), for `reason` (non-zero). Only REVOKER_ROLE. Final: the
     * revocation is recorded under (organisation, certificate hash), so the certificate reads Revoked through every
     * batch of the organisation that holds it, now or later.
     * @dev One storage slot is written. Reverts with {IRecordAnchor-ZeroReason}, `AccessControlUnauthorizedAccount`,
     * {IRecordAnchor-ProofTooLong}, {IRecordAnchor-BatchNotAnchored}, {NotACertificateBatch},
     * {IRecordAnchor-NotOwnOrganisation}, {InvalidCertificateProof} or {CertificateAlreadyRevoked}. Emits
     * {CertificateRevoked}.
     */
    function revokeCertificate(
        address anchorer,
        bytes32 root,
        bytes32 certificateHash,
        bytes32[] calldata proof,
        uint16 reason
    ) external;

    /**
     * @notice Revoke every certificate of the caller's organisation whose document names the issuance id
     * `issuanceId` (non-zero), for `reason` (non-zero). Only REVOKER_ROLE. Final, wherever those certificates are
     * anchored by the organisation, now or later.
     * @dev Reverts with {IRecordAnchor-ZeroReason}, {ZeroIssuanceId}, `AccessControlUnauthorizedAccount` or
     * {IssuanceAlreadyRevoked}. Emits {IssuanceRevoked}.
     */
    function revokeIssuance(bytes32 issuanceId, uint16 reason) external;

    /**
     * @notice Record that `certificate` is replaced by `successor` (after repair, resizing, re-engraving). The
     * organisation is the one of `certificate`'s batch; the caller must be one of its ISSUER_ROLE or REVOKER_ROLE
     * accounts, or the admin. Both must be proven in certificate batches of that organisation; the successor is
     * non-zero, differs from the certificate, is not revoked or superseded itself and its batch is Valid; the
     * certificate is neither revoked nor already superseded. Final (a superseded certificate can still be revoked).
     * @dev Reverts with {ZeroSuccessor}, {SuccessorIsSameCertificate}, {IRecordAnchor-ProofTooLong},
     * {IRecordAnchor-BatchNotAnchored}, {NotACertificateBatch}, {InvalidCertificateProof}, {UnauthorisedSuperseder},
     * {IRecordAnchor-NotOwnOrganisation} (successor of another organisation), {SuccessorBatchNotValid},
     * {CertificateAlreadyRevoked} or {CertificateAlreadySuperseded}. Emits {CertificateSuperseded}.
     */
    function supersedeCertificate(CertificateRef calldata certificate, CertificateRef calldata successor)
        external;

    /**
     * @notice Status of a certificate. Pass from the signed document: `organisation` (the issuer it names),
     * `issuanceId` (0 when it names none) and `certificateHash` (the hash of its canonical JSON); and the anchoring
     * evidence: the batch (`anchorer`, `root`) and the `proof`.
     * @return status Unknown unless the batch exists, holds certificates, belongs to `organisation` and `proof`
     * proves the certificate in it (the cause says which check failed). Otherwise, in this order: Revoked if the
     * organisation revoked the certificate, then its issuance; Revoked if the batch is flagged, then if it was
     * anchored at or after its anchorer's compromise block; Superseded if it was replaced; else Valid.
     * @dev Reverts with {IRecordAnchor-ProofTooLong} above {IRecordAnchor-MAX_PROOF_LENGTH} nodes, and never
     * otherwise.
     */
    function certificateStatus(
        bytes16 organisation,
        bytes32 issuanceId,
        bytes32 certificateHash,
        address anchorer,
        bytes32 root,
        bytes32[] calldata proof
    ) external view returns (CertificateStatus memory status);

    /// @notice The revocation and supersession `organisation` recorded for `certificateHash` (no proof needed).
    function certificateRecordOf(bytes16 organisation, bytes32 certificateHash)
        external
        view
        returns (CertificateRecord memory);

    /// @notice The revocation `organisation` recorded for the issuance `issuanceId` (zero `revokedAt`: none).
    function issuanceRevocationOf(bytes16 organisation, bytes32 issuanceId)
        external
        view
        returns (Revocation memory);
}
