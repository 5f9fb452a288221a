// SPDX-License-Identifier: UNLICENSED
pragma solidity 0.8.28;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {Checkpoints} from "@openzeppelin/contracts/utils/structs/Checkpoints.sol";
import {ICertificateStatus} from "./interfaces/ICertificateStatus.sol";
import {IProvenanceLedger} from "./interfaces/IProvenanceLedger.sol";
import {IRecordAnchor} from "./interfaces/IRecordAnchor.sol";
import {IRoleHistory} from "./interfaces/IRoleHistory.sol";

/**
 * @title ProvenanceLedger
 * @notice Hallmark's ledger: roles with their history, anchored Merkle roots of record batches, and the status
 * (revoked, superseded) of certificates. Holds every role of the system, the DesignRegistry's included, so that
 * anchoring checks its role with a local storage read instead of an external call.
 */
contract ProvenanceLedger is AccessControl, IProvenanceLedger {
    using Checkpoints for Checkpoints.Trace208;

    /// @inheritdoc IProvenanceLedger
    bytes32 public constant SUPPLIER_ROLE = keccak256("SUPPLIER_ROLE");
    /// @inheritdoc IProvenanceLedger
    bytes32 public constant FACTORY_ROLE = keccak256("FACTORY_ROLE");
    /// @inheritdoc IProvenanceLedger
    bytes32 public constant ISSUER_ROLE = keccak256("ISSUER_ROLE");
    /// @inheritdoc IProvenanceLedger
    bytes32 public constant REVOKER_ROLE = keccak256("REVOKER_ROLE");
    /// @inheritdoc IProvenanceLedger
    bytes32 public constant REGISTRAR_ROLE = keccak256("REGISTRAR_ROLE");

    /// @inheritdoc IRecordAnchor
    uint256 public constant MAX_PROOF_LENGTH = 64;
    /// @inheritdoc IRecordAnchor
    uint256 public constant MAX_MULTIPROOF_RECORDS = 1024;
    /// @inheritdoc IRecordAnchor
    uint256 public constant MAX_MULTIPROOF_LENGTH = 1024;

    /// @dev A {RoleChange} packed in one slot (40-bit time and block: good for tens of thousands of years).
    struct StoredRoleChange {
        uint40 timestamp;
        uint40 blockNumber;
        bool granted;
        address by;
    }

    mapping(bytes32 role => mapping(address account => StoredRoleChange[] changes)) private _roleHistory;
    /// @dev Membership (1 held, 0 not held) keyed by timestamp, for {hasRoleAt}'s logarithmic lookup.
    mapping(bytes32 role => mapping(address account => Checkpoints.Trace208 membership)) private _roleMembership;

    /// @dev Bit `k` set: the account may anchor records of `RecordKind(k)`. A cache derived from SUPPLIER_ROLE,
    /// FACTORY_ROLE and ISSUER_ROLE, refreshed by {_grantRole} and {_revokeRole} (the only functions that change
    /// role membership), so that {anchor} checks any kind with one storage read.
    mapping(address account => uint256 kinds) private _anchorableKinds;

    // The three mappings below are written with one SSTORE by {_storeBatch} and {_storeRevocation} (inline
    // assembly), which static analysers do not see as initialisation.
    // slither-disable-next-line uninitialized-state
    mapping(bytes32 root => Batch batch) private _batches;

    // slither-disable-next-line uninitialized-state
    mapping(bytes32 certificateHash => Revocation revocation) private _revocations;
    // slither-disable-next-line uninitialized-state
    mapping(bytes32 root => Revocation revocation) private _batchRevocations;
    mapping(bytes32 certificateHash => Supersession supersession) private _supersessions;

    /// @param admin The account that receives DEFAULT_ADMIN_ROLE (the only role granted at deployment).
    constructor(address admin) {
        // Ensure that the ledger is not deployed without an administrator.
        if (admin == address(0)) revert ZeroAdmin();
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
    }

    // ------------------------------------------------------------------------------------------------------------
    // Anchoring
    // ------------------------------------------------------------------------------------------------------------

    /// @inheritdoc IRecordAnchor
    function anchor(bytes32 root, RecordKind kind, uint24 count) external {
        // Ensure that the root is a real hash.
        if (root == bytes32(0)) revert ZeroRoot();
        // Ensure that the batch holds at least one record.
        if (count == 0) revert ZeroCount();
        // Ensure that the caller holds, now, a role allowed to anchor this kind of record.
        if ((_anchorableKinds[msg.sender] >> uint8(kind)) & 1 == 0) revert UnauthorisedAnchorer(msg.sender, kind);
        Batch storage batch = _batches[root];
        address existing = batch.anchorer;
        // Ensure that an anchored root is never overwritten.
        if (existing != address(0)) revert RootAlreadyAnchored(root, existing, batch.anchoredAt);

        _storeBatch(batch, kind, count);
        emit BatchAnchored(root, kind, msg.sender, count);
    }

    /// @inheritdoc IRecordAnchor
    function batchOf(bytes32 root) external view returns (Batch memory) {
        return _batches[root];
    }

    /// @inheritdoc IRecordAnchor
    function isAnchored(bytes32 root) external view returns (bool) {
        return _batches[root].anchorer != address(0);
    }

    /// @inheritdoc IRecordAnchor
    function verifyRecord(bytes32 root, bytes32 recordHash, bytes32[] calldata proof) external view returns (bool) {
        _checkProofLength(proof);
        return _batches[root].anchorer != address(0) && _proves(root, recordHash, proof);
    }

    /// @inheritdoc IRecordAnchor
    function verifyRecords(
        bytes32 root,
        bytes32[] calldata recordHashes,
        bytes32[] calldata proof,
        bool[] calldata proofFlags
    ) external view returns (bool) {
        uint256 count = recordHashes.length;
        // Ensure that the work done by one call stays bounded.
        if (count > MAX_MULTIPROOF_RECORDS) revert TooManyRecords(count, MAX_MULTIPROOF_RECORDS);
        // Ensure that the work done by one call stays bounded.
        if (proof.length > MAX_MULTIPROOF_LENGTH) revert ProofTooLong(proof.length, MAX_MULTIPROOF_LENGTH);
        // Ensure that an empty set, an inconsistent multiproof or an unknown root proves nothing.
        if (
            count == 0 || count + proof.length != proofFlags.length + 1 || _batches[root].anchorer == address(0)
        ) {
            return false;
        }
        bytes32[] memory leaves = new bytes32[](count);
        for (uint256 i = 0; i < count; ++i) {
            leaves[i] = _leaf(recordHashes[i]);
        }
        return MerkleProof.multiProofVerifyCalldata(proof, proofFlags, root, leaves);
    }

    // ------------------------------------------------------------------------------------------------------------
    // Certificate status
    // ------------------------------------------------------------------------------------------------------------

    /// @inheritdoc ICertificateStatus
    function revokeCertificate(bytes32 root, bytes32 certificateHash, bytes32[] calldata proof, uint16 reason)
        external
        onlyRole(REVOKER_ROLE)
    {
        // Ensure that every revocation carries a reason.
        if (reason == 0) revert ZeroRevocationReason();
        _checkCertificate(root, certificateHash, proof);
        Revocation storage revocation = _revocations[certificateHash];
        uint64 revokedAt = revocation.revokedAt;
        // Ensure that a certificate is revoked only once.
        if (revokedAt != 0) revert CertificateAlreadyRevoked(certificateHash, revocation.reason, revokedAt);

        _storeRevocation(revocation, reason);
        emit CertificateRevoked(certificateHash, root, reason, msg.sender);
    }

    /// @inheritdoc ICertificateStatus
    function revokeBatch(bytes32 root, uint16 reason) external onlyRole(REVOKER_ROLE) {
        // Ensure that every revocation carries a reason.
        if (reason == 0) revert ZeroRevocationReason();
        _checkCertificateBatch(root);
        Revocation storage revocation = _batchRevocations[root];
        uint64 revokedAt = revocation.revokedAt;
        // Ensure that a batch is revoked only once.
        if (revokedAt != 0) revert CertificateBatchAlreadyRevoked(root, revocation.reason, revokedAt);

        _storeRevocation(revocation, reason);
        emit CertificateBatchRevoked(root, reason, msg.sender);
    }

    /// @inheritdoc ICertificateStatus
    function supersedeCertificate(
        bytes32 oldRoot,
        bytes32 oldHash,
        bytes32[] calldata oldProof,
        bytes32 newRoot,
        bytes32 newHash,
        bytes32[] calldata newProof
    ) external onlyRole(ISSUER_ROLE) {
        // Ensure that a certificate is not replaced by itself.
        if (oldHash == newHash) revert SuccessorIsSameCertificate(oldHash);
        _checkCertificate(oldRoot, oldHash, oldProof);
        _checkCertificate(newRoot, newHash, newProof);
        // Ensure that only a currently valid certificate is superseded, by one that is not revoked or superseded.
        _checkNotRevokedOrSuperseded(oldRoot, oldHash);
        _checkNotRevokedOrSuperseded(newRoot, newHash);

        _supersessions[oldHash] =
            Supersession({successor: newHash, supersededBy: msg.sender, supersededAt: uint64(block.timestamp)});
        emit CertificateSuperseded(oldHash, newHash, msg.sender);
    }

    /// @inheritdoc ICertificateStatus
    function certificateStatus(bytes32 root, bytes32 certificateHash, bytes32[] calldata proof)
        external
        view
        returns (CertificateStatus memory status)
    {
        _checkProofLength(proof);
        Batch memory batch = _batches[root];
        if (
            batch.anchorer == address(0) || batch.kind != RecordKind.Certificate
                || !_proves(root, certificateHash, proof)
        ) {
            return status; // Unknown
        }
        Revocation memory revocation = _revocations[certificateHash];
        if (revocation.revokedAt == 0) revocation = _batchRevocations[root];
        if (revocation.revokedAt != 0) {
            return CertificateStatus({
                status: CertificateState.Revoked,
                reason: revocation.reason,
                at: revocation.revokedAt,
                successor: bytes32(0)
            });
        }
        Supersession memory supersession = _supersessions[certificateHash];
        if (supersession.successor != bytes32(0)) {
            return CertificateStatus({
                status: CertificateState.Superseded,
                reason: 0,
                at: supersession.supersededAt,
                successor: supersession.successor
            });
        }
        return CertificateStatus({status: CertificateState.Valid, reason: 0, at: batch.anchoredAt, successor: 0});
    }

    /// @inheritdoc ICertificateStatus
    function statusOf(bytes32 certificateHash) external view returns (CertificateRecord memory) {
        return CertificateRecord({
            revocation: _revocations[certificateHash],
            supersession: _supersessions[certificateHash]
        });
    }

    /// @inheritdoc ICertificateStatus
    function batchRevocationOf(bytes32 root) external view returns (Revocation memory) {
        return _batchRevocations[root];
    }

    // ------------------------------------------------------------------------------------------------------------
    // Role history
    // ------------------------------------------------------------------------------------------------------------

    /// @inheritdoc IRoleHistory
    function roleHistory(bytes32 role, address account) external view returns (RoleChange[] memory history) {
        StoredRoleChange[] storage changes = _roleHistory[role][account];
        uint256 length = changes.length;
        history = new RoleChange[](length);
        for (uint256 i = 0; i < length; ++i) {
            history[i] = _toRoleChange(changes[i]);
        }
    }

    /// @inheritdoc IRoleHistory
    function roleHistoryLength(bytes32 role, address account) external view returns (uint256) {
        return _roleHistory[role][account].length;
    }

    /// @inheritdoc IRoleHistory
    function roleHistoryEntry(bytes32 role, address account, uint256 index)
        external
        view
        returns (RoleChange memory)
    {
        StoredRoleChange[] storage changes = _roleHistory[role][account];
        // Ensure that the entry exists.
        if (index >= changes.length) revert RoleHistoryIndexOutOfBounds(role, account, index, changes.length);
        return _toRoleChange(changes[index]);
    }

    /// @inheritdoc IRoleHistory
    function hasRoleAt(bytes32 role, address account, uint64 timestamp) external view returns (bool) {
        uint48 key = timestamp > type(uint48).max ? type(uint48).max : uint48(timestamp);
        return _roleMembership[role][account].upperLookupRecent(key) != 0;
    }

    // ------------------------------------------------------------------------------------------------------------
    // Misc
    // ------------------------------------------------------------------------------------------------------------

    /// @inheritdoc IProvenanceLedger
    function version() external pure returns (string memory) {
        return "1.0.0";
    }

    /// @inheritdoc AccessControl
    function supportsInterface(bytes4 interfaceId) public view override returns (bool) {
        return interfaceId == type(IProvenanceLedger).interfaceId || interfaceId == type(IRoleHistory).interfaceId
            || interfaceId == type(IRecordAnchor).interfaceId || interfaceId == type(ICertificateStatus).interfaceId
            || super.supportsInterface(interfaceId);
    }

    /// @dev Records the change in the role history when membership actually changed.
    function _grantRole(bytes32 role, address account) internal override returns (bool granted) {
        granted = super._grantRole(role, account);
        if (granted) _recordRoleChange(role, account, true);
    }

    /// @dev Records the change in the role history when membership actually changed (revocation or renunciation).
    function _revokeRole(bytes32 role, address account) internal override returns (bool revoked) {
        revoked = super._revokeRole(role, account);
        if (revoked) _recordRoleChange(role, account, false);
    }

    function _recordRoleChange(bytes32 role, address account, bool granted) private {
        _roleHistory[role][account].push(
            StoredRoleChange({
                timestamp: uint40(block.timestamp),
                blockNumber: uint40(block.number),
                granted: granted,
                by: _msgSender()
            })
        );
        // Checkpoints.push returns the previous and the new value, which are not needed here.
        // slither-disable-next-line unused-return
        _roleMembership[role][account].push(uint48(block.timestamp), granted ? 1 : 0);
        if (role == SUPPLIER_ROLE || role == FACTORY_ROLE || role == ISSUER_ROLE) _refreshAnchorableKinds(account);
    }

    function _toRoleChange(StoredRoleChange storage change) private view returns (RoleChange memory) {
        return RoleChange({
            timestamp: change.timestamp,
            blockNumber: change.blockNumber,
            granted: change.granted,
            by: change.by
        });
    }

    /// @dev Recomputes which record kinds `account` may anchor from its current roles.
    function _refreshAnchorableKinds(address account) private {
        uint256 kinds = 0;
        if (hasRole(SUPPLIER_ROLE, account)) {
            kinds |= _bit(RecordKind.MaterialLot) | _bit(RecordKind.Other);
        }
        if (hasRole(FACTORY_ROLE, account)) {
            kinds |= _bit(RecordKind.ProductionStep) | _bit(RecordKind.Product) | _bit(RecordKind.Other);
        }
        if (hasRole(ISSUER_ROLE, account)) {
            kinds |= _bit(RecordKind.Certificate) | _bit(RecordKind.Product) | _bit(RecordKind.Other);
        }
        _anchorableKinds[account] = kinds;
    }

    function _bit(RecordKind kind) private pure returns (uint256) {
        return uint256(1) << uint8(kind);
    }

    /// @dev Reverts unless `root` is an anchored certificate batch and `proof` proves `certificateHash` in it.
    function _checkCertificate(bytes32 root, bytes32 certificateHash, bytes32[] calldata proof) private view {
        _checkProofLength(proof);
        _checkCertificateBatch(root);
        // Ensure that the certificate is a record of the batch.
        if (!_proves(root, certificateHash, proof)) revert InvalidCertificateProof(root, certificateHash);
    }

    /// @dev Reverts unless `root` is an anchored certificate batch.
    function _checkCertificateBatch(bytes32 root) private view {
        Batch memory batch = _batches[root];
        // Ensure that the root was anchored.
        if (batch.anchorer == address(0)) revert RootNotAnchored(root);
        // Ensure that the root is a batch of certificates.
        if (batch.kind != RecordKind.Certificate) revert NotACertificateBatch(root, batch.kind);
    }

    /// @dev Reverts if `certificateHash` or its batch `root` is revoked, or if the certificate is superseded.
    function _checkNotRevokedOrSuperseded(bytes32 root, bytes32 certificateHash) private view {
        Revocation storage revocation = _revocations[certificateHash];
        if (revocation.revokedAt != 0) {
            revert CertificateAlreadyRevoked(certificateHash, revocation.reason, revocation.revokedAt);
        }
        Revocation storage batchRevocation = _batchRevocations[root];
        if (batchRevocation.revokedAt != 0) {
            revert CertificateBatchAlreadyRevoked(root, batchRevocation.reason, batchRevocation.revokedAt);
        }
        Supersession storage supersession = _supersessions[certificateHash];
        if (supersession.successor != bytes32(0)) {
            revert CertificateAlreadySuperseded(certificateHash, supersession.successor, supersession.supersededAt);
        }
    }

    /// @dev Reverts if a single-record proof is longer than {MAX_PROOF_LENGTH}.
    function _checkProofLength(bytes32[] calldata proof) private pure {
        // Ensure that the work done by one call stays bounded.
        if (proof.length > MAX_PROOF_LENGTH) revert ProofTooLong(proof.length, MAX_PROOF_LENGTH);
    }

    /// @dev Whether `proof` proves `recordHash` as a leaf of the tree of `root`. The same computation as
    /// OpenZeppelin's `MerkleProof.verifyCalldata` (sorted-pair keccak-256, as `Hashes.commutativeKeccak256`),
    /// written as an assembly loop: 158 gas per sibling instead of 228, which {revokeCertificate}'s gas goal needs.
    /// The tests check it against `MerkleProof.verify` on random proofs. The ABI decoder has already checked that
    /// the proof lies within the calldata.
    function _proves(bytes32 root, bytes32 recordHash, bytes32[] calldata proof) private pure returns (bool) {
        bytes32 node = _leaf(recordHash);
        assembly ("memory-safe") {
            let end := add(proof.offset, shl(5, proof.length))
            for { let p := proof.offset } lt(p, end) { p := add(p, 0x20) } {
                let sibling := calldataload(p)
                switch lt(node, sibling)
                case 1 { mstore(0x00, node) mstore(0x20, sibling) }
                default { mstore(0x00, sibling) mstore(0x20, node) }
                node := keccak256(0x00, 0x40)
            }
        }
        return node == root;
    }

    /// @dev The StandardMerkleTree leaf of a record hash (leaf encoding ["bytes32"], double-hashed), that is
    /// `keccak256(bytes.concat(keccak256(abi.encode(recordHash))))`, computed in scratch space (no allocation).
    function _leaf(bytes32 recordHash) private pure returns (bytes32 leaf) {
        assembly ("memory-safe") {
            mstore(0x00, recordHash)
            mstore(0x00, keccak256(0x00, 0x20))
            leaf := keccak256(0x00, 0x20)
        }
    }

    // Packed writes. Solidity's legacy code generator writes a packed struct one member at a time (one SSTORE per
    // member); these helpers write the whole slot once, which the gas goals of {anchor} and {revokeCertificate}
    // need. The layouts are those of the structs (first member in the lowest bits); tests read them back.

    /// @dev Writes `Batch({anchorer: msg.sender, kind: kind, count: count, anchoredAt: block.timestamp})`.
    function _storeBatch(Batch storage batch, RecordKind kind, uint24 count) private {
        uint256 packed = uint256(uint160(msg.sender)) | (uint256(uint8(kind)) << 160) | (uint256(count) << 168)
            | (uint256(uint64(block.timestamp)) << 192);
        assembly ("memory-safe") {
            sstore(batch.slot, packed)
        }
    }

    /// @dev Writes `Revocation({revokedBy: msg.sender, revokedAt: block.timestamp, reason: reason})`.
    function _storeRevocation(Revocation storage revocation, uint16 reason) private {
        uint256 packed = uint256(uint160(msg.sender)) | (uint256(uint64(block.timestamp)) << 160)
            | (uint256(reason) << 224);
        assembly ("memory-safe") {
            sstore(revocation.slot, packed)
        }
    }
}
