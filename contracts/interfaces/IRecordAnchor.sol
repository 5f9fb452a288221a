// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.24;

/**
 * @title IRecordAnchor
 * @notice Anchoring of Merkle roots of batches of provenance records.
 *
 * A record (a material lot, a product, a production step, a certificate, ...) lives off chain as canonical JSON.
 * Its record hash is the keccak-256 of that JSON. Records of one kind are grouped in a batch; the batch is an
 * OpenZeppelin `StandardMerkleTree` with leaf encoding `["bytes32"]` over the record hashes, so a leaf is
 * `keccak256(bytes.concat(keccak256(abi.encode(recordHash))))` and inner nodes hash sorted pairs. Only the root of
 * the tree goes on chain. A single urgent record is a batch of one (its root is its leaf).
 */
interface IRecordAnchor {
    /// @notice Kind of the records of a batch. The numeric values are part of the ABI and never change.
    enum RecordKind {
        MaterialLot, // 0: anchored by SUPPLIER_ROLE
        Product, // 1: anchored by FACTORY_ROLE or ISSUER_ROLE
        ProductionStep, // 2: anchored by FACTORY_ROLE
        Certificate, // 3: anchored by ISSUER_ROLE
        Other // 4: anchored by SUPPLIER_ROLE, FACTORY_ROLE or ISSUER_ROLE
    }

    /**
     * @notice What the ledger stores for an anchored root, in one storage slot (160 + 8 + 24 + 64 bits).
     * @param anchorer The account that anchored the root. Zero means the root is unknown.
     * @param kind Kind of every record in the batch.
     * @param count Number of records (leaves) in the batch, as declared by the anchorer.
     * @param anchoredAt Block timestamp of the anchoring transaction.
     */
    struct Batch {
        address anchorer;
        RecordKind kind;
        uint24 count;
        uint64 anchoredAt;
    }

    /**
     * @notice A batch root was anchored. The block number of the anchoring is the block of this log (it is not
     * stored on chain, to keep anchoring to one storage slot).
     */
    event BatchAnchored(bytes32 indexed root, RecordKind indexed kind, address indexed anchorer, uint24 count);

    /// @notice The root is zero.
    error ZeroRoot();

    /// @notice The batch declares zero records.
    error ZeroCount();

    /// @notice `account` holds none of the roles allowed to anchor records of `kind`.
    error UnauthorisedAnchorer(address account, RecordKind kind);

    /// @notice `root` was already anchored by `anchorer` at `anchoredAt`; an anchored root never changes.
    error RootAlreadyAnchored(bytes32 root, address anchorer, uint64 anchoredAt);

    /// @notice A Merkle proof has `length` nodes, more than the allowed `maxLength`.
    error ProofTooLong(uint256 length, uint256 maxLength);

    /// @notice A multiproof is given `count` record hashes, more than the allowed `maxCount`.
    error TooManyRecords(uint256 count, uint256 maxCount);

    /**
     * @notice Anchor `root`, the Merkle root of a batch of `count` records of kind `kind`.
     * @dev The caller must hold the role for `kind` (see {RecordKind}) at the time of the call, so the stored
     * anchorer and kind prove that the account held that role when it anchored. One storage slot is written and
     * no external call is made. Reverts with {ZeroRoot}, {ZeroCount}, {UnauthorisedAnchorer} or
     * {RootAlreadyAnchored}. Emits {BatchAnchored}.
     */
    function anchor(bytes32 root, RecordKind kind, uint24 count) external;

    /// @notice The stored batch of `root`; a zero `anchorer` means the root was never anchored.
    function batchOf(bytes32 root) external view returns (Batch memory);

    /// @notice Whether `root` was anchored.
    function isAnchored(bytes32 root) external view returns (bool);

    /**
     * @notice True if and only if `root` is anchored and `proof` proves that `recordHash` is a record of its batch
     * (leaf `keccak256(bytes.concat(keccak256(abi.encode(recordHash))))`). Reverts with {ProofTooLong} if the
     * proof has more than {MAX_PROOF_LENGTH} nodes.
     */
    function verifyRecord(bytes32 root, bytes32 recordHash, bytes32[] calldata proof) external view returns (bool);

    /**
     * @notice True if and only if `root` is anchored, `recordHashes` is not empty and the OpenZeppelin multiproof
     * (`proof`, `proofFlags`) proves all of them at once (leaves in the order the multiproof expects). Returns false
     * for an inconsistent multiproof. Reverts with {TooManyRecords} above {MAX_MULTIPROOF_RECORDS} record hashes and
     * with {ProofTooLong} above {MAX_MULTIPROOF_LENGTH} proof nodes.
     */
    function verifyRecords(
        bytes32 root,
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
