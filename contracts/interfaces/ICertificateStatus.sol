// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.24;

import {IRecordAnchor} from "./IRecordAnchor.sol";

/**
 * @title ICertificateStatus
 * @notice Revocation and supersession of certificates.
 *
 * A certificate is a record of kind {IRecordAnchor-RecordKind.Certificate}, identified by its record hash (the
 * keccak-256 of its canonical JSON). Facts are recorded per certificate hash (they apply wherever that hash is
 * anchored) and per certificate batch root:
 *
 * - revocation of one certificate (REVOKER_ROLE), with a non-zero reason code; final: there is no un-revoke;
 * - revocation of a whole certificate batch (REVOKER_ROLE), with a non-zero reason code; final as well;
 * - supersession of a valid certificate by a new one (ISSUER_ROLE), after repair, resizing or re-engraving.
 *
 * Revocation dominates supersession: a superseded certificate can still be revoked, and then reads as revoked.
 * Reason codes are defined off chain (see the contracts documentation); 0 is never a valid reason.
 */
interface ICertificateStatus {
    /// @notice Status of a certificate as read against one anchored batch.
    enum CertificateState {
        Unknown, // 0: the root is not an anchored certificate batch, or the proof does not prove the certificate
        Valid, // 1: anchored, neither revoked nor superseded
        Revoked, // 2: the certificate or its batch is revoked
        Superseded // 3: replaced by `successor` (and not revoked)
    }

    /**
     * @notice Answer of {certificateStatus}.
     * @param status See {CertificateState}.
     * @param reason Revocation reason code when Revoked, else 0.
     * @param at When Valid: the batch's anchoring time; Revoked: the revocation time; Superseded: the supersession
     * time; Unknown: 0.
     * @param successor The certificate hash that replaces this one when Superseded, else 0.
     */
    struct CertificateStatus {
        CertificateState status;
        uint16 reason;
        uint64 at;
        bytes32 successor;
    }

    /// @notice A revocation (of one certificate or of a batch), stored in one slot. Zero `revokedAt`: none.
    struct Revocation {
        address revokedBy;
        uint64 revokedAt;
        uint16 reason;
    }

    /// @notice A supersession of one certificate. Zero `successor`: none.
    struct Supersession {
        bytes32 successor;
        address supersededBy;
        uint64 supersededAt;
    }

    /// @notice Everything recorded about one certificate hash, without reference to any batch.
    struct CertificateRecord {
        Revocation revocation;
        Supersession supersession;
    }

    /// @notice The certificate `certificateHash` of batch `root` was revoked by `revokedBy` for `reason`.
    event CertificateRevoked(
        bytes32 indexed certificateHash, bytes32 indexed root, uint16 reason, address revokedBy
    );

    /// @notice Every certificate of batch `root` was revoked by `revokedBy` for `reason`.
    event CertificateBatchRevoked(bytes32 indexed root, uint16 reason, address revokedBy);

    /// @notice The certificate `oldHash` was replaced by `newHash` by `supersededBy`.
    event CertificateSuperseded(bytes32 indexed oldHash, bytes32 indexed newHash, address supersededBy);

    /// @notice `root` was never anchored.
    error RootNotAnchored(bytes32 root);

    /// @notice `root` is anchored with `kind`, not as a certificate batch.
    error NotACertificateBatch(bytes32 root, IRecordAnchor.RecordKind kind);

    /// @notice The proof does not prove that `certificateHash` is a record of batch `root`.
    error InvalidCertificateProof(bytes32 root, bytes32 certificateHash);

    /// @notice A revocation reason code of 0 was given.
    error ZeroRevocationReason();

    /// @notice `certificateHash` was already revoked for `reason` at `revokedAt`.
    error CertificateAlreadyRevoked(bytes32 certificateHash, uint16 reason, uint64 revokedAt);

    /// @notice Batch `root` was already revoked for `reason` at `revokedAt`.
    error CertificateBatchAlreadyRevoked(bytes32 root, uint16 reason, uint64 revokedAt);

    /// @notice `certificateHash` was already superseded by `successor` at `supersededAt`.
    error CertificateAlreadySuperseded(bytes32 certificateHash, bytes32 successor, uint64 supersededAt);

    /// @notice A certificate cannot supersede itself.
    error SuccessorIsSameCertificate(bytes32 certificateHash);

    /**
     * @notice Revoke the certificate `certificateHash`, proven by `proof` to be a record of the anchored
     * certificate batch `root`, for `reason` (non-zero). Only REVOKER_ROLE. Final: a revoked certificate stays
     * revoked. The revocation applies to the certificate hash (in every batch where it is anchored), and may be
     * recorded even if the batch itself is already revoked.
     * @dev One storage slot is written. Reverts with {ZeroRevocationReason}, {ProofTooLong},
     * `AccessControlUnauthorizedAccount`, {RootNotAnchored}, {NotACertificateBatch}, {CertificateAlreadyRevoked}
     * or {InvalidCertificateProof}. Emits {CertificateRevoked}.
     */
    function revokeCertificate(bytes32 root, bytes32 certificateHash, bytes32[] calldata proof, uint16 reason)
        external;

    /**
     * @notice Revoke every certificate of the anchored certificate batch `root` for `reason` (non-zero). Only
     * REVOKER_ROLE. Final. Reverts with {ZeroRevocationReason}, `AccessControlUnauthorizedAccount`,
     * {RootNotAnchored}, {NotACertificateBatch} or {CertificateBatchAlreadyRevoked}. Emits
     * {CertificateBatchRevoked}.
     */
    function revokeBatch(bytes32 root, uint16 reason) external;

    /**
     * @notice Record that the certificate `oldHash` (proven in batch `oldRoot`) is replaced by `newHash` (proven in
     * batch `newRoot`), e.g. after repair, resizing or re-engraving. Only ISSUER_ROLE. The old certificate must be
     * valid (neither it nor `oldRoot` revoked, not superseded); the new one must differ from the old, and neither it
     * nor `newRoot` may be revoked, nor may it be superseded. Reverts with {SuccessorIsSameCertificate},
     * {ProofTooLong}, `AccessControlUnauthorizedAccount`, {RootNotAnchored}, {NotACertificateBatch},
     * {InvalidCertificateProof}, {CertificateAlreadyRevoked}, {CertificateBatchAlreadyRevoked} or
     * {CertificateAlreadySuperseded}. Emits {CertificateSuperseded}.
     */
    function supersedeCertificate(
        bytes32 oldRoot,
        bytes32 oldHash,
        bytes32[] calldata oldProof,
        bytes32 newRoot,
        bytes32 newHash,
        bytes32[] calldata newProof
    ) external;

    /**
     * @notice Status of `certificateHash` read against batch `root`: Unknown if `root` is not an anchored
     * certificate batch or `proof` does not prove the certificate in it; otherwise Revoked if the certificate or
     * the batch is revoked (the certificate's own revocation is reported first), else Superseded if it was
     * replaced, else Valid. Reverts with {ProofTooLong} above {IRecordAnchor-MAX_PROOF_LENGTH} nodes.
     */
    function certificateStatus(bytes32 root, bytes32 certificateHash, bytes32[] calldata proof)
        external
        view
        returns (CertificateStatus memory);

    /// @notice The revocation and supersession recorded for `certificateHash` (no proof, no batch revocation).
    function statusOf(bytes32 certificateHash) external view returns (CertificateRecord memory);

    /// @notice The revocation recorded for the certificate batch `root` (zero `revokedAt`: none).
    function batchRevocationOf(bytes32 root) external view returns (Revocation memory);
}
