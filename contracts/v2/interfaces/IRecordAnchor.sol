// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.24;

/**
 * @title IRecordAnchor
 * @notice Anchoring of Merkle roots of batches of provenance records, kept per anchoring account.
 *
 * A record (a material lot, a product, a production step, a certificate, a design commitment, ...) lives off chain
 * as canonical JSON; its record hash is the keccak-256 of that JSON. Records of one kind are grouped in a batch,
 * an OpenZeppelin `StandardMerkleTree` with leaf encoding `["bytes32"]` over the record hashes: a leaf is
 * `keccak256(bytes.concat(keccak256(abi.encode(recordHash))))` and inner nodes hash sorted pairs. Only the root goes
 * on chain. A single record is a batch of one (its root is its leaf).
 *
 * Batches are identified by (anchorer, root): what one account anchors lives under its own address, so no other
 * account can take, block or change it, and anchoring the same root from another account creates a different,
 * unrelated batch. A batch also records the organisation of its anchorer (see {IOrganisations}). Every view takes
 * the anchorer and checks or returns the kind: a verifier learns "anchored by X, of organisation O, as kind K",
 * never just "anchored".
 *
 * A batch can be flagged, finally and with a reason code, by its own organisation; and every batch anchored by an
 * account in or after the block from which the admin declared it compromised reads as flagged too. Flagged batches
 * prove nothing in {verifyRecord} and {verifyRecords}; flagged certificate batches read Revoked in
 * {ICertificateStatus-certificateStatus}.
 */
interface IRecordAnchor {
    /// @notice Kind of the records of a batch. The numeric values are part of the ABI and never change.
    enum RecordKind {
        MaterialLot, // 0: anchored by SUPPLIER_ROLE
        Product, // 1: anchored by FACTORY_ROLE or ISSUER_ROLE
        ProductionStep, // 2: anchored by FACTORY_ROLE
        Certificate, // 3: anchored by ISSUER_ROLE
        Other, // 4: anchored by SUPPLIER_ROLE, FACTORY_ROLE or ISSUER_ROLE
        DesignCommitment // 5: anchored by REGISTRAR_ROLE (commitments to designs, see IDesignRegistry)
    }

    /// @notice Standing of a batch.
    enum BatchState {
        Unknown, // 0: no such batch
        Valid, // 1: anchored and not flagged
        Flagged // 2: flagged by its organisation, or anchored by its account after the account was compromised
    }

    /// @notice Why a status reads as it does (shared by batch and certificate statuses).
    enum Cause {
        None, // 0: Valid, or Superseded
        NotAnchored, // 1: Unknown: there is no batch (anchorer, root)
        WrongKind, // 2: Unknown: the batch holds records of another kind
        OtherOrganisation, // 3: Unknown: the batch's anchorer does not belong to the organisation asked about
        NotInBatch, // 4: Unknown: the proof does not prove the record in the batch
        BatchFlagged, // 5: Flagged (Revoked for certificates): the batch's organisation flagged it
        AnchorerCompromised, // 6: Flagged (Revoked): anchored at or after the block its anchorer was compromised from
        CertificateRevoked, // 7: Revoked: the organisation revoked the certificate
        IssuanceRevoked // 8: Revoked: the organisation revoked the certificate's whole issuance
    }

    /**
     * @notice What the ledger stores for a batch (anchorer, root), in one storage slot.
     * @param kind Kind of every record in the batch.
     * @param count Number of records (leaves), as declared by the anchorer; 0 means "no such batch".
     * @param organisation The anchorer's organisation.
     * @param anchoredAt Block timestamp of the anchoring.
     * @param anchoredBlock Block number of the anchoring.
     */
    struct Batch {
        RecordKind kind;
        uint24 count;
        bytes16 organisation;
        uint64 anchoredAt;
        uint64 anchoredBlock;
    }

    /// @notice A flag on a batch, final (zero `flaggedAt`: none).
    struct Flag {
        address flaggedBy;
        uint64 flaggedAt;
        uint16 reason;
    }

    /**
     * @notice Answer of {batchStatus}.
     * @param state See {BatchState}.
     * @param cause None, NotAnchored, BatchFlagged or AnchorerCompromised.
     * @param reason The flag's or the compromise's reason code when Flagged, else 0.
     * @param at When Flagged: the flag's time or the compromise declaration's time; else 0.
     * @param batch The stored batch (all zero when Unknown).
     */
    struct BatchStatus {
        BatchState state;
        Cause cause;
        uint16 reason;
        uint64 at;
        Batch batch;
    }

    /**
     * @notice `anchorer` anchored the batch `root` of `count` records of kind `kind`. Its organisation is the
     * anchorer's (see {IOrganisations-AccountBound}); the block of this log is the anchoring block.
     */
    event BatchAnchored(
        address indexed anchorer, bytes32 indexed root, RecordKind indexed kind, uint24 count
    );

    /// @notice The batch (`anchorer`, `root`) of `organisation` was flagged by `flaggedBy` for `reason`.
    event BatchFlagged(
        address indexed anchorer,
        bytes32 indexed root,
        bytes16 indexed organisation,
        uint16 reason,
        address flaggedBy
    );

    /// @notice The root is zero.
    error ZeroRoot();

    /// @notice The batch declares zero records.
    error ZeroCount();

    /// @notice A reason code of 0 was given; every flag, revocation and compromise carries a non-zero reason.
    error ZeroReason();

    /// @notice `account` holds none of the roles allowed to anchor records of `kind`.
    error UnauthorisedAnchorer(address account, RecordKind kind);

    /**
     * @notice `anchorer` already anchored `root` (as `kind`, `count` records, at `anchoredAt`); a batch never
     * changes. Only the anchorer itself can meet this error for its own batch.
     */
    error RootAlreadyAnchored(
        address anchorer, bytes32 root, RecordKind kind, uint24 count, uint64 anchoredAt
    );

    /// @notice There is no batch (`anchorer`, `root`).
    error BatchNotAnchored(address anchorer, bytes32 root);

    /// @notice `account` (of `organisation`) may not act on a batch or certificate of `batchOrganisation`.
    error NotOwnOrganisation(address account, bytes16 organisation, bytes16 batchOrganisation);

    /// @notice `account` holds neither a role that anchors `kind` nor REVOKER_ROLE.
    error UnauthorisedFlagger(address account, RecordKind kind);

    /// @notice The batch (`anchorer`, `root`) was already flagged for `reason` at `flaggedAt`.
    error BatchAlreadyFlagged(address anchorer, bytes32 root, uint16 reason, uint64 flaggedAt);

    /// @notice A Merkle proof has `length` nodes, more than the allowed `maxLength`.
    error ProofTooLong(uint256 length, uint256 maxLength);

    /// @notice A multiproof is given `count` record hashes, more than the allowed `maxCount`.
    error TooManyRecords(uint256 count, uint256 maxCount);

    /// @notice The block timestamp or number no longer fits the ledger's 40-bit time or 48-bit block fields.
    error ClockOutOfRange(uint256 timestamp, uint256 blockNumber);

    /**
     * @notice Anchor `root`, the Merkle root of a batch of `count` records of kind `kind`, as the batch
     * (msg.sender, `root`).
     * @dev The caller must hold, now, a role allowed to anchor `kind` (see {RecordKind}); role holders are always
     * bound to an organisation and never compromised. One storage slot is read and one written; no external call.
     * Reverts with {ZeroRoot}, {ZeroCount}, {UnauthorisedAnchorer} or {RootAlreadyAnchored}. Emits {BatchAnchored}.
     */
    function anchor(bytes32 root, RecordKind kind, uint24 count) external;

    /**
     * @notice Flag the batch (`anchorer`, `root`) for `reason` (non-zero), finally. Only an account of the batch's
     * organisation that holds a role allowed to anchor the batch's kind, or REVOKER_ROLE.
     * @dev Reverts with {ZeroReason}, {BatchNotAnchored}, {NotOwnOrganisation}, {UnauthorisedFlagger} or
     * {BatchAlreadyFlagged}. Emits {BatchFlagged}.
     */
    function flagBatch(address anchorer, bytes32 root, uint16 reason) external;

    /// @notice The stored batch (`anchorer`, `root`); a zero `count` means there is none.
    function batchOf(address anchorer, bytes32 root) external view returns (Batch memory);

    /// @notice Whether `anchorer` anchored `root`.
    function isAnchored(address anchorer, bytes32 root) external view returns (bool);

    /// @notice The flag of the batch (`anchorer`, `root`) (zero `flaggedAt`: none).
    function flagOf(address anchorer, bytes32 root) external view returns (Flag memory);

    /**
     * @notice Standing of the batch (`anchorer`, `root`): Unknown (NotAnchored), Flagged (BatchFlagged, reported
     * first, or AnchorerCompromised when it was anchored at or after its anchorer's compromise block) or Valid.
     */
    function batchStatus(address anchorer, bytes32 root) external view returns (BatchStatus memory);

    /**
     * @notice True if and only if `anchorer` anchored `root` as a batch of `kind`, the batch is Valid (see
     * {batchStatus}) and `proof` proves `recordHash` in it. For a certificate this says nothing of revocation or
     * supersession: use {ICertificateStatus-certificateStatus}. Reverts with {ProofTooLong} above
     * {MAX_PROOF_LENGTH} nodes, and never otherwise.
     */
    function verifyRecord(
        address anchorer,
        bytes32 root,
        RecordKind kind,
        bytes32 recordHash,
        bytes32[] calldata proof
    ) external view returns (bool);

    /**
     * @notice True if and only if `anchorer` anchored `root` as a batch of `kind`, the batch is Valid,
     * `recordHashes` is not empty and the OpenZeppelin multiproof (`proof`, `proofFlags`) proves all of them at once
     * (record hashes in the order the multiproof expects). Returns false, never reverts, for a malformed multiproof.
     * Reverts only with {TooManyRecords} above {MAX_MULTIPROOF_RECORDS} record hashes and with {ProofTooLong} above
     * {MAX_MULTIPROOF_LENGTH} proof nodes.
     */
    function verifyRecords(
        address anchorer,
        bytes32 root,
        RecordKind kind,
        bytes32[] calldata recordHashes,
        bytes32[] calldata proof,
        bool[] calldata proofFlags
    ) external view returns (bool);

    /// @notice Maximum number of sibling nodes in a single-record proof (64, enough for 2^64 records).
    function MAX_PROOF_LENGTH() external view returns (uint256);

    /// @notice Maximum number of record hashes verified by one {verifyRecords} call.
    function MAX_MULTIPROOF_RECORDS() external view returns (uint256);

    /// @notice Maximum number of proof nodes in one {verifyRecords} call.
    function MAX_MULTIPROOF_LENGTH() external view returns (uint256);
}
