// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.24;

import {IRecordAnchor} from "./IRecordAnchor.sol";

/**
 * @title IDesignRegistry
 * @notice Registry of jewellery designs for copyright evidence, with priority from an earlier commitment.
 *
 * A design is identified by its fingerprint, the SHA-256 of the design file. Nothing personal is stored: the
 * copyright owner is named only by `ownerRef`, a hash whose meaning is kept off chain; the design's metadata only by
 * `metadataHash`; licences and assignments only by the hash of the signed document.
 *
 * Priority (commit, then reveal). Before registering, a registrar anchors on the ProvenanceLedger, as a record of
 * kind {IRecordAnchor-RecordKind.DesignCommitment} in a batch of its organisation, the commitment
 * `keccak256(abi.encode(fingerprint, registrant, salt))` (see {commitmentHash}), where `registrant` is the account
 * that will call {register} and `salt` a secret random value. The commitment reveals nothing of the design. The
 * registration then reveals fingerprint and salt with the commitment's batch and proof; its filing time and block
 * are the commitment's anchoring time and block. Someone who copies the registration from the mempool cannot use
 * the commitment (it names the registrant, and lives in a batch of the registrant's organisation) and can only
 * commit later than the original, so it cannot take priority:
 *
 * - the commitment must be in a DesignCommitment batch of the caller's organisation (anchored by any of its
 *   accounts: keys rotate, and no other organisation can write there), anchored in an earlier block than the
 *   registration, at most {REVEAL_WINDOW} seconds before it. Flags and compromise declarations of the commitment
 *   batch are not consulted: a compromised account loses REGISTRAR_ROLE and cannot register, and a commitment
 *   names its registrant and a secret salt, so it serves no one else (a verifier can still read the batch's
 *   standing with {IRecordAnchor-batchStatus});
 * - the earliest commitment block wins: a registration whose commitment is in an earlier block than the current
 *   filing's displaces it (the priority of a fingerprint never moves to a later commitment); an equal or later
 *   one is refused;
 * - so a filing is final {REVEAL_WINDOW} seconds after its commitment ({Design-finalAt}): no earlier commitment
 *   can be revealed any more. Assignments and licences need a final filing, so a displacement never meets one.
 *
 * Management: only the current registrant, while it holds REGISTRAR_ROLE, assigns and licenses. Assignment is two
 * steps: the registrant proposes, the new registrant (a REGISTRAR_ROLE account) accepts the same document. The
 * ledger's admin may propose an assignment only for a design whose registrant no longer holds REGISTRAR_ROLE (a
 * disabled or compromised registrar), and that too needs the new registrant's acceptance. Licences are recorded by
 * the registrant and terminated, finally and with a reason, by the registrant of the time. A final filing's time
 * and block never change, nor does a terminated licence.
 */
interface IDesignRegistry {
    /**
     * @notice The commitment revealed by a registration.
     * @param anchorer The account that anchored the commitment batch (an account of the registrant's organisation).
     * @param root The commitment batch's root.
     * @param salt The secret salt of the commitment.
     * @param proof The Merkle proof of the commitment (as a record hash) in the batch.
     */
    struct Commitment {
        address anchorer;
        bytes32 root;
        bytes32 salt;
        bytes32[] proof;
    }

    /**
     * @notice A registered design as returned by {designOf}. A zero `registrant` means "not registered".
     * @param registrant Account that registered the design, or that it was last assigned to.
     * @param filedAt Anchoring time of the registration's commitment: the filing time (unchanged by assignments).
     * @param filedBlock Anchoring block of the registration's commitment: the priority (unchanged by assignments).
     * @param finalAt From this time on the filing can no longer be displaced (filedAt + REVEAL_WINDOW + 1).
     * @param ownerRef Hash identifying the current copyright owner (never a name).
     * @param metadataHash Hash of the design's metadata document.
     * @dev The perceptual code, the parent and the commitment's batch are carried by the {DesignRegistered} log
     * (indexed by fingerprint), as permanent as storage; storing them would take a registration past 120,000 gas.
     */
    struct Design {
        address registrant;
        uint64 filedAt;
        uint64 filedBlock;
        uint64 finalAt;
        bytes32 ownerRef;
        bytes32 metadataHash;
    }

    /**
     * @notice An assignment waiting for the new registrant's acceptance (zero `newRegistrant`: none).
     * @param newRegistrant The account that must accept.
     * @param newOwnerRef The owner reference after the assignment.
     * @param documentHash Hash of the signed assignment document.
     * @param proposedBy The registrant or the admin that proposed it.
     * @param proposedAt Block timestamp of the proposal.
     */
    struct PendingAssignment {
        address newRegistrant;
        bytes32 newOwnerRef;
        bytes32 documentHash;
        address proposedBy;
        uint64 proposedAt;
    }

    /**
     * @notice A licence as returned by {licenceOf}. A zero `grantedAt` means "no such licence".
     * @param licenseeRef Hash identifying the licensee (never a name).
     * @param grantedBy Registrant account that recorded the licence.
     * @param grantedAt Block timestamp of the recording.
     * @param validFrom Start of the licence (Unix seconds), as stated in the document.
     * @param validUntil End of the licence (Unix seconds); 0 when open-ended.
     * @param terminatedBy Registrant account that terminated it; 0 while in force.
     * @param terminatedAt Block timestamp of the termination; 0 while in force.
     * @param terminationReason Reason code of the termination; 0 while in force.
     */
    struct Licence {
        bytes32 licenseeRef;
        address grantedBy;
        uint64 grantedAt;
        uint64 validFrom;
        uint64 validUntil;
        address terminatedBy;
        uint64 terminatedAt;
        uint16 terminationReason;
    }

    /**
     * @notice The design `fingerprint` was filed by `registrant` for the owner `ownerRef`, with priority from the
     * commitment in the batch (`commitmentAnchorer`, `commitmentRoot`): filing time and block are that batch's.
     */
    event DesignRegistered(
        bytes32 indexed fingerprint,
        address indexed registrant,
        bytes32 indexed ownerRef,
        uint64 perceptualCode,
        bytes32 metadataHash,
        bytes32 parent,
        address commitmentAnchorer,
        bytes32 commitmentRoot
    );

    /// @notice The filing of `fingerprint` by `registrant` (from block `filedBlock`) gave way to an earlier one.
    event DesignDisplaced(
        bytes32 indexed fingerprint, address indexed registrant, bytes32 ownerRef, uint64 filedBlock
    );

    /// @notice `proposedBy` proposed to assign `fingerprint` to `newRegistrant` under `documentHash`.
    event AssignmentProposed(
        bytes32 indexed fingerprint,
        address indexed newRegistrant,
        bytes32 indexed documentHash,
        bytes32 newOwnerRef,
        address proposedBy
    );

    /// @notice The pending assignment of `fingerprint` under `documentHash` was cancelled by `cancelledBy`.
    event AssignmentCancelled(bytes32 indexed fingerprint, bytes32 indexed documentHash, address cancelledBy);

    /// @notice The registration of `fingerprint` passed to `newRegistrant` (who accepted `documentHash`).
    event DesignAssigned(
        bytes32 indexed fingerprint,
        address indexed newRegistrant,
        bytes32 indexed newOwnerRef,
        address previousRegistrant,
        bytes32 previousOwnerRef,
        bytes32 documentHash,
        address proposedBy
    );

    /// @notice A licence of `fingerprint` to `licenseeRef` under the document `documentHash` was recorded.
    event LicenceGranted(
        bytes32 indexed fingerprint,
        bytes32 indexed licenseeRef,
        bytes32 indexed documentHash,
        uint64 validFrom,
        uint64 validUntil,
        address grantedBy
    );

    /// @notice The licence of `fingerprint` under `documentHash` was terminated by `terminatedBy` for `reason`.
    event LicenceTerminated(
        bytes32 indexed fingerprint, bytes32 indexed documentHash, uint16 reason, address terminatedBy
    );

    /// @notice The ledger address given to the constructor is the zero address.
    error ZeroLedger();

    /// @notice The fingerprint is zero.
    error ZeroFingerprint();

    /// @notice The owner reference is zero.
    error ZeroOwnerRef();

    /// @notice The metadata hash is zero.
    error ZeroMetadataHash();

    /// @notice The document hash is zero.
    error ZeroDocumentHash();

    /// @notice The new registrant is the zero address.
    error ZeroRegistrant();

    /// @notice The licensee reference is zero.
    error ZeroLicenseeRef();

    /// @notice A termination reason of 0 was given.
    error ZeroTerminationReason();

    /// @notice There is no commitment batch (`anchorer`, `root`) on the ledger.
    error CommitmentNotAnchored(address anchorer, bytes32 root);

    /// @notice The commitment batch (`anchorer`, `root`) holds `kind` records, not design commitments.
    error NotACommitmentBatch(address anchorer, bytes32 root, IRecordAnchor.RecordKind kind);

    /// @notice The commitment batch belongs to `organisation`, the registrant to `registrantOrganisation`.
    error CommitmentOfOtherOrganisation(bytes16 organisation, bytes16 registrantOrganisation);

    /// @notice The commitment was anchored in block `anchoredBlock`, not before the current block.
    error CommitmentNotEarlier(uint64 anchoredBlock);

    /// @notice The commitment, anchored at `anchoredAt`, can no longer be revealed (window ended at `expiredAt`).
    error CommitmentExpired(uint64 anchoredAt, uint64 expiredAt);

    /// @notice The proof does not prove `commitment` in the batch (`anchorer`, `root`).
    error InvalidCommitmentProof(address anchorer, bytes32 root, bytes32 commitment);

    /// @notice `fingerprint` is filed by `registrant` with priority from block `filedBlock`, not later than this one.
    error DesignAlreadyRegistered(bytes32 fingerprint, address registrant, uint64 filedAt, uint64 filedBlock);

    /// @notice `fingerprint` is not registered.
    error DesignNotRegistered(bytes32 fingerprint);

    /// @notice The parent design `parent` is not registered.
    error ParentNotRegistered(bytes32 parent);

    /// @notice A design cannot derive from itself.
    error DesignIsOwnParent(bytes32 fingerprint);

    /// @notice The filing of `fingerprint` can still be displaced until `finalAt`.
    error DesignNotFinal(bytes32 fingerprint, uint64 finalAt);

    /// @notice `account` is not the current registrant `registrant` of `fingerprint` holding REGISTRAR_ROLE.
    error NotActiveRegistrant(bytes32 fingerprint, address account, address registrant);

    /// @notice The admin may only propose assignments of designs whose registrant `registrant` lost REGISTRAR_ROLE.
    error RegistrantStillActive(bytes32 fingerprint, address registrant);

    /// @notice `fingerprint` has no pending assignment.
    error NoPendingAssignment(bytes32 fingerprint);

    /// @notice `account` is not `newRegistrant`, the account the pending assignment of `fingerprint` names.
    error NotProposedRegistrant(bytes32 fingerprint, address account, address newRegistrant);

    /// @notice The pending assignment of `fingerprint` is under document `pendingDocumentHash`, not the one given.
    error AssignmentDocumentMismatch(bytes32 fingerprint, bytes32 pendingDocumentHash, bytes32 documentHash);

    /// @notice `proposedBy` may no longer assign `fingerprint`, so its proposal cannot be accepted.
    error AssignmentNoLongerAuthorised(bytes32 fingerprint, address proposedBy);

    /// @notice `account` may not cancel the pending assignment of `fingerprint`.
    error UnauthorisedCancellation(bytes32 fingerprint, address account);

    /// @notice A licence of `fingerprint` under `documentHash` was already recorded at `grantedAt`.
    error LicenceAlreadyGranted(bytes32 fingerprint, bytes32 documentHash, uint64 grantedAt);

    /// @notice No licence of `fingerprint` was recorded under `documentHash`.
    error LicenceNotGranted(bytes32 fingerprint, bytes32 documentHash);

    /// @notice The licence of `fingerprint` under `documentHash` was already terminated at `terminatedAt`.
    error LicenceAlreadyTerminated(bytes32 fingerprint, bytes32 documentHash, uint64 terminatedAt);

    /// @notice The licence ends (`validUntil`) at or before it starts (`validFrom`).
    error InvalidLicencePeriod(uint64 validFrom, uint64 validUntil);

    /**
     * @notice File the design `fingerprint` with the priority of `commitment`. Only REGISTRAR_ROLE; the caller
     * becomes the registrant (see the contract's description for the priority rule).
     * @param fingerprint SHA-256 of the design file; non-zero.
     * @param perceptualCode 64-bit ISCC Image-Code body; 0 when the design is not an image.
     * @param metadataHash Hash of the metadata document; non-zero.
     * @param ownerRef Hash identifying the copyright owner; non-zero.
     * @param parent Fingerprint of the registered design this one derives from (not `fingerprint`); 0 when none.
     * @param commitment The batch and proof of `commitmentHash(fingerprint, msg.sender, commitment.salt)`.
     * @dev Reverts with {ZeroFingerprint}, {ZeroMetadataHash}, {ZeroOwnerRef}, `AccessControlUnauthorizedAccount`,
     * {CommitmentNotAnchored}, {NotACommitmentBatch}, {CommitmentOfOtherOrganisation}, {CommitmentNotEarlier},
     * {CommitmentExpired}, {InvalidCommitmentProof}, {DesignAlreadyRegistered}, {DesignIsOwnParent} or
     * {ParentNotRegistered}. Emits {DesignDisplaced} when it displaces a later filing, then {DesignRegistered}.
     */
    function register(
        bytes32 fingerprint,
        uint64 perceptualCode,
        bytes32 metadataHash,
        bytes32 ownerRef,
        bytes32 parent,
        Commitment calldata commitment
    ) external;

    /**
     * @notice Propose to assign the final registration of `fingerprint` to `newRegistrant` for the owner
     * `newOwnerRef`, under the signed assignment document `documentHash`; replaces a pending proposal. Only the
     * registrant holding REGISTRAR_ROLE, or the ledger's admin when the registrant no longer holds it.
     * @dev Reverts with {ZeroRegistrant}, {ZeroOwnerRef}, {ZeroDocumentHash}, {DesignNotRegistered},
     * {DesignNotFinal}, {NotActiveRegistrant} or {RegistrantStillActive}. Emits {AssignmentProposed}.
     */
    function proposeAssignment(
        bytes32 fingerprint,
        address newRegistrant,
        bytes32 newOwnerRef,
        bytes32 documentHash
    ) external;

    /**
     * @notice Accept the pending assignment of `fingerprint` under `documentHash`. Only the proposed new
     * registrant, holding REGISTRAR_ROLE; its proposer must still be allowed to propose it.
     * @dev Reverts with {NoPendingAssignment}, {NotProposedRegistrant}, {AssignmentDocumentMismatch},
     * `AccessControlUnauthorizedAccount` or {AssignmentNoLongerAuthorised}. Emits {DesignAssigned}.
     */
    function acceptAssignment(bytes32 fingerprint, bytes32 documentHash) external;

    /**
     * @notice Cancel the pending assignment of `fingerprint`. Only its proposer, whoever may propose an assignment
     * of the design now, or the proposed new registrant (declining).
     * @dev Reverts with {NoPendingAssignment} or {UnauthorisedCancellation}. Emits {AssignmentCancelled}.
     */
    function cancelAssignment(bytes32 fingerprint) external;

    /**
     * @notice Record a licence of the final registration of `fingerprint` to `licenseeRef` under the signed document
     * `documentHash`, valid from `validFrom` until `validUntil` (0: open-ended). Only the registrant holding
     * REGISTRAR_ROLE. One licence per (design, document).
     * @dev Reverts with {ZeroLicenseeRef}, {ZeroDocumentHash}, {InvalidLicencePeriod}, {DesignNotRegistered},
     * {DesignNotFinal}, {NotActiveRegistrant} or {LicenceAlreadyGranted}. Emits {LicenceGranted}.
     */
    function grantLicence(
        bytes32 fingerprint,
        bytes32 licenseeRef,
        bytes32 documentHash,
        uint64 validFrom,
        uint64 validUntil
    ) external;

    /**
     * @notice Terminate, finally, the licence of `fingerprint` under `documentHash` for `reason` (non-zero). Only
     * the current registrant holding REGISTRAR_ROLE.
     * @dev Reverts with {ZeroTerminationReason}, {DesignNotRegistered}, {NotActiveRegistrant}, {LicenceNotGranted}
     * or {LicenceAlreadyTerminated}. Emits {LicenceTerminated}.
     */
    function terminateLicence(bytes32 fingerprint, bytes32 documentHash, uint16 reason) external;

    /// @notice The registration of `fingerprint` (zero `registrant`: not registered).
    function designOf(bytes32 fingerprint) external view returns (Design memory);

    /// @notice Whether `fingerprint` is registered.
    function isRegistered(bytes32 fingerprint) external view returns (bool);

    /// @notice The pending assignment of `fingerprint` (zero `newRegistrant`: none).
    function pendingAssignmentOf(bytes32 fingerprint) external view returns (PendingAssignment memory);

    /// @notice The licence of `fingerprint` recorded under `documentHash` (zero `grantedAt`: none).
    function licenceOf(bytes32 fingerprint, bytes32 documentHash) external view returns (Licence memory);

    /// @notice The commitment a registrar anchors before registering: `keccak256(abi.encode(fingerprint, registrant,
    /// salt))`, anchored as a record hash of kind DesignCommitment.
    function commitmentHash(bytes32 fingerprint, address registrant, bytes32 salt)
        external
        pure
        returns (bytes32);

    /// @notice The ProvenanceLedger whose roles, organisations and batches this registry reads.
    function ledger() external view returns (address);

    /// @notice The ledger role that registers designs (same value as the ledger's REGISTRAR_ROLE).
    function REGISTRAR_ROLE() external view returns (bytes32);

    /// @notice Longest time (seconds) between a commitment's anchoring and its registration (1 day).
    function REVEAL_WINDOW() external view returns (uint256);

    /// @notice Version of this contract's interface and behaviour ("2.0.0").
    function version() external pure returns (string memory);
}
