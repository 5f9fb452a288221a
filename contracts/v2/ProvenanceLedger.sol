// SPDX-License-Identifier: UNLICENSED
pragma solidity 0.8.28;

import {
    AccessControlDefaultAdminRules
} from "@openzeppelin/contracts/access/extensions/AccessControlDefaultAdminRules.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {Checkpoints} from "@openzeppelin/contracts/utils/structs/Checkpoints.sol";
import {ICertificateStatus} from "./interfaces/ICertificateStatus.sol";
import {IOrganisations} from "./interfaces/IOrganisations.sol";
import {IProvenanceLedger} from "./interfaces/IProvenanceLedger.sol";
import {IRecordAnchor} from "./interfaces/IRecordAnchor.sol";
import {IRoleHistory} from "./interfaces/IRoleHistory.sol";
import {recordLeaf} from "./RecordLeaf.sol";

/**
 * @title ProvenanceLedger (version 2)
 * @notice Hallmark's ledger: organisations and roles with their history, batches anchored per account, flags and
 * compromise declarations, and the status of certificates per issuing organisation. Holds every role of the system,
 * the DesignRegistry's included, so that anchoring checks its role, organisation and compromise with one local
 * storage read.
 * @dev Hot records are packed words in `uint256` mappings, written with one SSTORE (the legacy code generator
 * writes a packed struct member by member, which the anchor and revoke gas goals cannot afford):
 *
 * - account word: bits 0-7 the record kinds the account may anchor (derived from its roles), bits 8-15 its
 *   operational roles (see {IOrganisations-Account}), bits 16-63 the block it is compromised from, bits 128-255 its
 *   organisation;
 * - batch word: bits 0-7 kind, 8-31 count (never 0 for a batch, so a zero word means "none"), 32-71 anchoring
 *   time, 72-119 anchoring block, 128-255 organisation;
 * - revocation word: bits 0-159 revoker, 160-223 time, 224-239 reason (the {Revocation} struct's layout).
 */
contract ProvenanceLedger is AccessControlDefaultAdminRules, IProvenanceLedger {
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

    // Operational role bits (IOrganisations.Account.roles), and the record kinds each role may anchor.
    uint256 private constant _SUPPLIER = 1;
    uint256 private constant _FACTORY = 2;
    uint256 private constant _ISSUER = 4;
    uint256 private constant _REVOKER = 8;
    uint256 private constant _REGISTRAR = 16;
    uint256 private constant _SUPPLIER_KINDS = 0x11; // MaterialLot, Other
    uint256 private constant _FACTORY_KINDS = 0x16; // Product, ProductionStep, Other
    uint256 private constant _ISSUER_KINDS = 0x1a; // Product, Certificate, Other
    uint256 private constant _REGISTRAR_KINDS = 0x20; // DesignCommitment

    uint256 private constant _ORGANISATION_MASK = type(uint256).max << 128;
    uint256 private constant _UINT48_MASK = type(uint48).max;

    /// @dev A {RoleChange} packed in one slot.
    struct StoredRoleChange {
        uint40 timestamp;
        uint48 blockNumber;
        bool granted;
        address by;
    }

    mapping(bytes32 role => mapping(address account => StoredRoleChange[] changes)) private _roleHistory;
    /// @dev Per block with a change: `block << 2 | heldDuringBlock << 1 | heldAtEndOfBlock`, for {hasRoleAt}.
    mapping(bytes32 role => mapping(address account => Checkpoints.Trace208 membership)) private
        _roleMembership;

    mapping(address account => uint256 word) private _accounts;
    mapping(address account => Compromise compromise) private _compromises;

    mapping(address anchorer => mapping(bytes32 root => uint256 word)) private _batches;
    mapping(address anchorer => mapping(bytes32 root => Flag flag)) private _flags;

    mapping(bytes16 organisation => mapping(bytes32 certificateHash => uint256 word)) private _revocations;
    mapping(bytes16 organisation => mapping(bytes32 issuanceId => uint256 word)) private _issuanceRevocations;
    mapping(bytes16 organisation => mapping(bytes32 certificateHash => Supersession supersession)) private
        _supersessions;

    /**
     * @param initialDelay Delay (seconds) before a scheduled transfer of DEFAULT_ADMIN_ROLE can be accepted.
     * @param initialAdmin The account that receives DEFAULT_ADMIN_ROLE, the only role granted at deployment.
     * @dev Reverts with `AccessControlInvalidDefaultAdmin(address(0))` for the zero address.
     */
    constructor(uint48 initialDelay, address initialAdmin)
        AccessControlDefaultAdminRules(initialDelay, initialAdmin)
    {}

    // ------------------------------------------------------------------------------------------------------------
    // Organisations
    // ------------------------------------------------------------------------------------------------------------

    /// @inheritdoc IOrganisations
    function bindAccount(address account, bytes16 organisation) external onlyRole(DEFAULT_ADMIN_ROLE) {
        // Ensure that a binding names an account and an organisation.
        if (account == address(0)) revert ZeroAccount();
        if (organisation == 0) revert ZeroOrganisation();
        uint256 word = _accounts[account];
        bytes16 bound = _organisationOf(word);
        // Ensure that a binding never moves.
        if (bound != 0) revert AccountAlreadyBound(account, bound);

        _accounts[account] = word | uint256(bytes32(organisation));
        emit AccountBound(account, organisation, msg.sender);
    }

    /// @inheritdoc IOrganisations
    function markCompromised(address account, uint64 fromBlock, uint16 reason)
        external
        onlyRole(DEFAULT_ADMIN_ROLE)
    {
        uint256 word = _accounts[account];
        bytes16 organisation = _organisationOf(word);
        // Ensure that only an organisation's account is declared compromised (only those write records).
        // slither-disable-next-line incorrect-equality
        if (organisation == 0) revert AccountNotBound(account);
        // Ensure that every declaration carries a reason.
        if (reason == 0) revert ZeroReason();
        // Ensure that the declaration starts at a block that exists.
        if (fromBlock == 0 || fromBlock > block.number) {
            revert InvalidCompromiseBlock(fromBlock, uint64(block.number));
        }
        uint256 current = _compromisedFrom(word);
        // Ensure that a compromise only ever moves earlier: what was flagged stays flagged.
        if (current != 0 && fromBlock >= current) {
            revert CompromiseCannotMoveLater(account, uint64(current), fromBlock);
        }

        _accounts[account] = (word & ~(_UINT48_MASK << 16)) | (uint256(fromBlock) << 16);
        _compromises[account] = Compromise({
            fromBlock: fromBlock, reason: reason, markedAt: uint64(block.timestamp), markedBy: msg.sender
        });
        emit AccountCompromised(account, organisation, fromBlock, reason, msg.sender);
        _revokeOperationalRoles(account);
    }

    /// @inheritdoc IOrganisations
    function accountOf(address account) external view returns (Account memory) {
        uint256 word = _accounts[account];
        return Account({
            organisation: _organisationOf(word),
            roles: uint8(word >> 8),
            compromisedFrom: uint64(_compromisedFrom(word))
        });
    }

    /// @inheritdoc IOrganisations
    function compromiseOf(address account) external view returns (Compromise memory) {
        return _compromises[account];
    }

    // ------------------------------------------------------------------------------------------------------------
    // Anchoring and flags
    // ------------------------------------------------------------------------------------------------------------

    /// @inheritdoc IRecordAnchor
    function anchor(bytes32 root, RecordKind kind, uint24 count) external {
        // Ensure that the root is a real hash.
        if (root == bytes32(0)) revert ZeroRoot();
        // Ensure that the batch holds at least one record (a zero count also marks "no batch").
        if (count == 0) revert ZeroCount();
        uint256 account = _accounts[msg.sender];
        // Ensure that the caller holds, now, a role allowed to anchor this kind (so it is bound, not compromised).
        if ((account >> uint8(kind)) & 1 == 0) revert UnauthorisedAnchorer(msg.sender, kind);
        mapping(bytes32 root => uint256 word) storage batches = _batches[msg.sender];
        uint256 existing = batches[root];
        // Ensure that a batch never changes.
        if (existing != 0) {
            revert RootAlreadyAnchored(
                msg.sender, root, _kindOf(existing), uint24(existing >> 8), _timeOf(existing)
            );
        }

        batches[root] =
            uint256(uint8(kind)) | (uint256(count) << 8) | _clock() | (account & _ORGANISATION_MASK);
        emit BatchAnchored(msg.sender, root, kind, count);
    }

    /// @inheritdoc IRecordAnchor
    function flagBatch(address anchorer, bytes32 root, uint16 reason) external {
        // Ensure that every flag carries a reason.
        if (reason == 0) revert ZeroReason();
        uint256 batch = _batches[anchorer][root];
        // Ensure that the batch exists.
        // slither-disable-next-line incorrect-equality
        if (batch == 0) revert BatchNotAnchored(anchorer, root);
        uint256 account = _accounts[msg.sender];
        _checkSameOrganisation(account, batch);
        RecordKind kind = _kindOf(batch);
        // Ensure that the caller could anchor this kind of batch, or revokes for the organisation.
        // slither-disable-next-line incorrect-equality
        if ((account >> uint8(kind)) & 1 == 0 && (account >> 8) & _REVOKER == 0) {
            revert UnauthorisedFlagger(msg.sender, kind);
        }
        Flag storage flag = _flags[anchorer][root];
        uint64 flaggedAt = flag.flaggedAt;
        // Ensure that a flag is final.
        if (flaggedAt != 0) revert BatchAlreadyFlagged(anchorer, root, flag.reason, flaggedAt);

        _flags[anchorer][root] =
            Flag({flaggedBy: msg.sender, flaggedAt: uint64(block.timestamp), reason: reason});
        emit BatchFlagged(anchorer, root, _organisationOf(batch), reason, msg.sender);
    }

    /// @inheritdoc IRecordAnchor
    function batchOf(address anchorer, bytes32 root) external view returns (Batch memory) {
        return _toBatch(_batches[anchorer][root]);
    }

    /// @inheritdoc IRecordAnchor
    function isAnchored(address anchorer, bytes32 root) external view returns (bool) {
        return _batches[anchorer][root] != 0;
    }

    /// @inheritdoc IRecordAnchor
    function flagOf(address anchorer, bytes32 root) external view returns (Flag memory) {
        return _flags[anchorer][root];
    }

    /// @inheritdoc IRecordAnchor
    function batchStatus(address anchorer, bytes32 root) external view returns (BatchStatus memory status) {
        uint256 batch = _batches[anchorer][root];
        status.batch = _toBatch(batch);
        // slither-disable-next-line incorrect-equality
        if (batch == 0) {
            status.cause = Cause.NotAnchored;
            return status;
        }
        (status.cause, status.reason, status.at) = _standing(anchorer, root, batch);
        // slither-disable-next-line incorrect-equality
        status.state = status.cause == Cause.None ? BatchState.Valid : BatchState.Flagged;
    }

    /// @inheritdoc IRecordAnchor
    function verifyRecord(
        address anchorer,
        bytes32 root,
        RecordKind kind,
        bytes32 recordHash,
        bytes32[] calldata proof
    ) external view returns (bool) {
        _checkProofLength(proof);
        return _isValidBatchOf(anchorer, root, kind)
            && MerkleProof.verifyCalldata(proof, root, recordLeaf(recordHash));
    }

    /// @inheritdoc IRecordAnchor
    function verifyRecords(
        address anchorer,
        bytes32 root,
        RecordKind kind,
        bytes32[] calldata recordHashes,
        bytes32[] calldata proof,
        bool[] calldata proofFlags
    ) external view returns (bool) {
        uint256 count = recordHashes.length;
        // Ensure that the work done by one call stays bounded.
        if (count > MAX_MULTIPROOF_RECORDS) revert TooManyRecords(count, MAX_MULTIPROOF_RECORDS);
        // Ensure that the work done by one call stays bounded.
        if (proof.length > MAX_MULTIPROOF_LENGTH) revert ProofTooLong(proof.length, MAX_MULTIPROOF_LENGTH);
        // Ensure that an empty set or a malformed multiproof proves nothing (and never reaches a revert).
        if (count == 0 || !_wellFormedMultiproof(count, proof.length, proofFlags)) return false;
        return _isValidBatchOf(anchorer, root, kind) && _provesAll(root, recordHashes, proof, proofFlags);
    }

    // ------------------------------------------------------------------------------------------------------------
    // Certificate status
    // ------------------------------------------------------------------------------------------------------------

    /// @inheritdoc ICertificateStatus
    function revokeCertificate(
        address anchorer,
        bytes32 root,
        bytes32 certificateHash,
        bytes32[] calldata proof,
        uint16 reason
    ) external {
        // Ensure that every revocation carries a reason.
        if (reason == 0) revert ZeroReason();
        uint256 account = _accounts[msg.sender];
        // Ensure that the caller revokes for its organisation (a role holder is always bound, never compromised).
        if ((account >> 8) & _REVOKER == 0) {
            revert AccessControlUnauthorizedAccount(msg.sender, REVOKER_ROLE);
        }
        uint256 batch = _checkCertificate(anchorer, root, certificateHash, proof);
        _checkSameOrganisation(account, batch);
        bytes16 organisation = _organisationOf(batch);
        mapping(bytes32 certificateHash => uint256 word) storage revocations = _revocations[organisation];
        uint256 existing = revocations[certificateHash];
        // Ensure that a certificate is revoked only once.
        if (existing != 0) {
            revert CertificateAlreadyRevoked(
                organisation, certificateHash, uint16(existing >> 224), uint64(existing >> 160)
            );
        }

        revocations[certificateHash] = _revocationWord(reason);
        emit CertificateRevoked(organisation, certificateHash, anchorer, root, reason, msg.sender);
    }

    /// @inheritdoc ICertificateStatus
    function revokeIssuance(bytes32 issuanceId, uint16 reason) external {
        // Ensure that every revocation carries a reason.
        if (reason == 0) revert ZeroReason();
        // Ensure that the issuance is named.
        if (issuanceId == 0) revert ZeroIssuanceId();
        uint256 account = _accounts[msg.sender];
        // Ensure that the caller revokes for its organisation.
        if ((account >> 8) & _REVOKER == 0) {
            revert AccessControlUnauthorizedAccount(msg.sender, REVOKER_ROLE);
        }
        bytes16 organisation = _organisationOf(account);
        mapping(bytes32 issuanceId => uint256 word) storage revocations = _issuanceRevocations[organisation];
        uint256 existing = revocations[issuanceId];
        // Ensure that an issuance is revoked only once.
        if (existing != 0) {
            revert IssuanceAlreadyRevoked(
                organisation, issuanceId, uint16(existing >> 224), uint64(existing >> 160)
            );
        }

        revocations[issuanceId] = _revocationWord(reason);
        emit IssuanceRevoked(organisation, issuanceId, reason, msg.sender);
    }

    /// @inheritdoc ICertificateStatus
    function supersedeCertificate(CertificateRef calldata certificate, CertificateRef calldata successor)
        external
    {
        bytes32 certificateHash = certificate.certificateHash;
        bytes32 successorHash = successor.certificateHash;
        // Ensure that a certificate is replaced by a real, different certificate.
        if (successorHash == 0) revert ZeroSuccessor();
        if (successorHash == certificateHash) revert SuccessorIsSameCertificate(certificateHash);
        uint256 batch =
            _checkCertificate(certificate.anchorer, certificate.root, certificateHash, certificate.proof);
        bytes16 organisation = _organisationOf(batch);
        _checkSuperseder(organisation);
        uint256 successorBatch =
            _checkCertificate(successor.anchorer, successor.root, successorHash, successor.proof);
        // Ensure that the successor is a certificate of the same organisation.
        if (_organisationOf(successorBatch) != organisation) {
            revert NotOwnOrganisation(msg.sender, organisation, _organisationOf(successorBatch));
        }
        (Cause cause,,) = _standing(successor.anchorer, successor.root, successorBatch);
        // Ensure that the successor's batch stands.
        if (cause != Cause.None) revert SuccessorBatchNotValid(successor.anchorer, successor.root, cause);
        // Ensure that only a live certificate is replaced, and by a live one.
        _checkLive(organisation, certificateHash);
        _checkLive(organisation, successorHash);

        _supersessions[organisation][certificateHash] = Supersession({
            successorHash: successorHash,
            successorRoot: successor.root,
            successorAnchorer: successor.anchorer,
            supersededAt: uint64(block.timestamp),
            supersededBy: msg.sender,
            root: certificate.root,
            anchorer: certificate.anchorer
        });
        emit CertificateSuperseded(
            organisation,
            certificateHash,
            successorHash,
            certificate.anchorer,
            certificate.root,
            successor.anchorer,
            successor.root,
            msg.sender
        );
    }

    /// @inheritdoc ICertificateStatus
    function certificateStatus(
        bytes16 organisation,
        bytes32 issuanceId,
        bytes32 certificateHash,
        address anchorer,
        bytes32 root,
        bytes32[] calldata proof
    ) external view returns (CertificateStatus memory status) {
        _checkProofLength(proof);
        uint256 batch = _batches[anchorer][root];
        if (batch == 0) {
            status.cause = Cause.NotAnchored;
            return status;
        }
        if (_kindOf(batch) != RecordKind.Certificate) {
            status.cause = Cause.WrongKind;
            return status;
        }
        if (_organisationOf(batch) != organisation) {
            status.cause = Cause.OtherOrganisation;
            return status;
        }
        if (!MerkleProof.verifyCalldata(proof, root, recordLeaf(certificateHash))) {
            status.cause = Cause.NotInBatch;
            return status;
        }
        status.state = CertificateState.Revoked;
        uint256 revocation = _revocations[organisation][certificateHash];
        if (revocation != 0) {
            (status.cause, status.reason, status.at) =
            (Cause.CertificateRevoked, uint16(revocation >> 224), uint64(revocation >> 160));
            return status;
        }
        if (issuanceId != 0) {
            revocation = _issuanceRevocations[organisation][issuanceId];
            if (revocation != 0) {
                (status.cause, status.reason, status.at) =
                (Cause.IssuanceRevoked, uint16(revocation >> 224), uint64(revocation >> 160));
                return status;
            }
        }
        (status.cause, status.reason, status.at) = _standing(anchorer, root, batch);
        if (status.cause != Cause.None) return status;
        Supersession storage supersession = _supersessions[organisation][certificateHash];
        if (supersession.successorHash != 0) {
            status.state = CertificateState.Superseded;
            status.at = supersession.supersededAt;
            status.successorAnchorer = supersession.successorAnchorer;
            status.successorRoot = supersession.successorRoot;
            status.successorHash = supersession.successorHash;
            return status;
        }
        status.state = CertificateState.Valid;
        status.at = _timeOf(batch);
    }

    /// @inheritdoc ICertificateStatus
    function certificateRecordOf(bytes16 organisation, bytes32 certificateHash)
        external
        view
        returns (CertificateRecord memory)
    {
        return CertificateRecord({
            revocation: _toRevocation(_revocations[organisation][certificateHash]),
            supersession: _supersessions[organisation][certificateHash]
        });
    }

    /// @inheritdoc ICertificateStatus
    function issuanceRevocationOf(bytes16 organisation, bytes32 issuanceId)
        external
        view
        returns (Revocation memory)
    {
        return _toRevocation(_issuanceRevocations[organisation][issuanceId]);
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
        if (index >= changes.length) {
            revert RoleHistoryIndexOutOfBounds(role, account, index, changes.length);
        }
        return _toRoleChange(changes[index]);
    }

    /// @inheritdoc IRoleHistory
    function hasRoleAt(bytes32 role, address account, uint256 blockNumber) external view returns (bool) {
        uint48 key = blockNumber > type(uint48).max ? type(uint48).max : uint48(blockNumber);
        uint256 value = _roleMembership[role][account].upperLookupRecent(key);
        if (value == 0) return false;
        // A change in that very block: held at some moment of it; an earlier change: its end state.
        return (value >> 2) == key ? (value & 2) != 0 : (value & 1) != 0;
    }

    // ------------------------------------------------------------------------------------------------------------
    // Misc
    // ------------------------------------------------------------------------------------------------------------

    /// @inheritdoc IProvenanceLedger
    function version() external pure returns (string memory) {
        return "2.0.0";
    }

    /// @inheritdoc AccessControlDefaultAdminRules
    function supportsInterface(bytes4 interfaceId) public view override returns (bool) {
        return interfaceId == type(IProvenanceLedger).interfaceId
            || interfaceId == type(IRoleHistory).interfaceId
            || interfaceId == type(IOrganisations).interfaceId
            || interfaceId == type(IRecordAnchor).interfaceId
            || interfaceId == type(ICertificateStatus).interfaceId || super.supportsInterface(interfaceId);
    }

    /// @dev Grants only to bound, uncompromised accounts (but DEFAULT_ADMIN_ROLE), and records the change.
    function _grantRole(bytes32 role, address account) internal override returns (bool granted) {
        if (role != DEFAULT_ADMIN_ROLE) {
            uint256 word = _accounts[account];
            // Ensure that every operational role holder belongs to an organisation.
            // slither-disable-next-line incorrect-equality
            if (_organisationOf(word) == 0) revert AccountNotBound(account);
            uint256 compromisedFrom = _compromisedFrom(word);
            // Ensure that a compromised account never writes again.
            if (compromisedFrom != 0) revert AccountIsCompromised(account, uint64(compromisedFrom));
        }
        granted = super._grantRole(role, account);
        if (granted) _recordRoleChange(role, account, true);
    }

    /// @dev Records the change when membership actually changed (revocation, renunciation, compromise, transfer).
    function _revokeRole(bytes32 role, address account) internal override returns (bool revoked) {
        revoked = super._revokeRole(role, account);
        if (revoked) _recordRoleChange(role, account, false);
    }

    function _recordRoleChange(bytes32 role, address account, bool granted) private {
        uint48 blockNumber = SafeCast.toUint48(block.number);
        _roleHistory[role][account].push(
            StoredRoleChange({
                timestamp: SafeCast.toUint40(block.timestamp),
                blockNumber: blockNumber,
                granted: granted,
                by: _msgSender()
            })
        );
        Checkpoints.Trace208 storage membership = _roleMembership[role][account];
        (bool exists, uint48 lastBlock, uint208 last) = membership.latestCheckpoint();
        uint256 now_ = granted ? 1 : 0;
        // Held during this block: held when it began (end state of an earlier block), or granted in it.
        // slither-disable-next-line incorrect-equality
        uint256 heldDuring = exists && lastBlock == blockNumber ? (last >> 1) & 1 : (exists ? last & 1 : 0);
        // Checkpoints.push returns the previous and the new value, which are not needed here.
        // slither-disable-next-line unused-return
        membership.push(blockNumber, uint208((uint256(blockNumber) << 2) | ((heldDuring | now_) << 1) | now_));

        uint256 bit = _roleBit(role);
        if (bit != 0) {
            uint256 word = _accounts[account];
            uint256 roles = (word >> 8) & 0xff;
            roles = granted ? roles | bit : roles & ~bit;
            _accounts[account] = (word & ~uint256(0xffff)) | (roles << 8) | _kindsOf(roles);
        }
    }

    /// @dev Takes every operational role away from a compromised account.
    function _revokeOperationalRoles(address account) private {
        bytes32[5] memory roles = [SUPPLIER_ROLE, FACTORY_ROLE, ISSUER_ROLE, REVOKER_ROLE, REGISTRAR_ROLE];
        for (uint256 i = 0; i < roles.length; ++i) {
            // The return value says whether the account held the role; either way it no longer does.
            // slither-disable-next-line unused-return
            _revokeRole(roles[i], account);
        }
    }

    function _roleBit(bytes32 role) private pure returns (uint256) {
        if (role == SUPPLIER_ROLE) return _SUPPLIER;
        if (role == FACTORY_ROLE) return _FACTORY;
        if (role == ISSUER_ROLE) return _ISSUER;
        if (role == REVOKER_ROLE) return _REVOKER;
        if (role == REGISTRAR_ROLE) return _REGISTRAR;
        return 0;
    }

    /// @dev The record kinds (bit k: RecordKind(k)) that the operational roles `roles` may anchor.
    function _kindsOf(uint256 roles) private pure returns (uint256 kinds) {
        if (roles & _SUPPLIER != 0) kinds |= _SUPPLIER_KINDS;
        if (roles & _FACTORY != 0) kinds |= _FACTORY_KINDS;
        if (roles & _ISSUER != 0) kinds |= _ISSUER_KINDS;
        if (roles & _REGISTRAR != 0) kinds |= _REGISTRAR_KINDS;
    }

    function _toRoleChange(StoredRoleChange storage change) private view returns (RoleChange memory) {
        return RoleChange({
            timestamp: change.timestamp,
            blockNumber: change.blockNumber,
            granted: change.granted,
            by: change.by
        });
    }

    // ------------------------------------------------------------------------------------------------------------
    // Checks
    // ------------------------------------------------------------------------------------------------------------

    /// @dev Reverts unless (`anchorer`, `root`) is a certificate batch and `proof` proves `certificateHash` in it;
    /// returns the batch word.
    function _checkCertificate(
        address anchorer,
        bytes32 root,
        bytes32 certificateHash,
        bytes32[] calldata proof
    ) private view returns (uint256 batch) {
        _checkProofLength(proof);
        batch = _batches[anchorer][root];
        // Ensure that the batch exists.
        if (batch == 0) revert BatchNotAnchored(anchorer, root);
        // Ensure that the batch holds certificates.
        if (_kindOf(batch) != RecordKind.Certificate) {
            revert NotACertificateBatch(anchorer, root, _kindOf(batch));
        }
        // Ensure that the certificate is a record of the batch.
        if (!MerkleProof.verifyCalldata(proof, root, recordLeaf(certificateHash))) {
            revert InvalidCertificateProof(anchorer, root, certificateHash);
        }
    }

    /// @dev Reverts unless the account (word `account`) belongs to the organisation of the batch (word `batch`).
    function _checkSameOrganisation(uint256 account, uint256 batch) private view {
        // Ensure that an organisation acts only on its own batches.
        if ((account ^ batch) & _ORGANISATION_MASK != 0) {
            revert NotOwnOrganisation(msg.sender, _organisationOf(account), _organisationOf(batch));
        }
    }

    /// @dev Reverts unless the caller is the admin, or an ISSUER or REVOKER account of `organisation`.
    function _checkSuperseder(bytes16 organisation) private view {
        if (hasRole(DEFAULT_ADMIN_ROLE, msg.sender)) return;
        uint256 account = _accounts[msg.sender];
        // Ensure that the caller issues or revokes certificates.
        if ((account >> 8) & (_ISSUER | _REVOKER) == 0) revert UnauthorisedSuperseder(msg.sender);
        // Ensure that the caller belongs to the certificate's organisation.
        if (_organisationOf(account) != organisation) {
            revert NotOwnOrganisation(msg.sender, _organisationOf(account), organisation);
        }
    }

    /// @dev Reverts if `organisation` revoked or superseded `certificateHash`.
    function _checkLive(bytes16 organisation, bytes32 certificateHash) private view {
        uint256 revocation = _revocations[organisation][certificateHash];
        if (revocation != 0) {
            revert CertificateAlreadyRevoked(
                organisation, certificateHash, uint16(revocation >> 224), uint64(revocation >> 160)
            );
        }
        Supersession storage supersession = _supersessions[organisation][certificateHash];
        if (supersession.successorHash != 0) {
            revert CertificateAlreadySuperseded(
                organisation, certificateHash, supersession.successorHash, supersession.supersededAt
            );
        }
    }

    /// @dev Reverts if a single-record proof is longer than {MAX_PROOF_LENGTH}.
    function _checkProofLength(bytes32[] calldata proof) private pure {
        // Ensure that the work done by one call stays bounded.
        if (proof.length > MAX_PROOF_LENGTH) revert ProofTooLong(proof.length, MAX_PROOF_LENGTH);
    }

    /// @dev Whether the batch (`anchorer`, `root`, word `batch`) is flagged, or anchored by its account at or after
    /// the block the account is compromised from; with the reason and time of the flag or declaration.
    function _standing(address anchorer, bytes32 root, uint256 batch)
        private
        view
        returns (Cause cause, uint16 reason, uint64 at)
    {
        Flag storage flag = _flags[anchorer][root];
        if (flag.flaggedAt != 0) return (Cause.BatchFlagged, flag.reason, flag.flaggedAt);
        uint256 compromisedFrom = _compromisedFrom(_accounts[anchorer]);
        if (compromisedFrom != 0 && (batch >> 72) & _UINT48_MASK >= compromisedFrom) {
            Compromise storage compromise = _compromises[anchorer];
            return (Cause.AnchorerCompromised, compromise.reason, compromise.markedAt);
        }
        return (Cause.None, 0, 0);
    }

    /// @dev Whether (`anchorer`, `root`) is a Valid batch of `kind`.
    function _isValidBatchOf(address anchorer, bytes32 root, RecordKind kind) private view returns (bool) {
        uint256 batch = _batches[anchorer][root];
        // slither-disable-next-line incorrect-equality
        if (batch == 0 || _kindOf(batch) != kind) return false;
        (Cause cause,,) = _standing(anchorer, root, batch);
        return cause == Cause.None;
    }

    /// @dev Whether the well-formed multiproof (`proof`, `proofFlags`) proves every record hash under `root`.
    function _provesAll(
        bytes32 root,
        bytes32[] calldata recordHashes,
        bytes32[] calldata proof,
        bool[] calldata proofFlags
    ) private pure returns (bool) {
        bytes32[] memory leaves = new bytes32[](recordHashes.length);
        for (uint256 i = 0; i < leaves.length; ++i) {
            leaves[i] = recordLeaf(recordHashes[i]);
        }
        return MerkleProof.multiProofVerifyCalldata(proof, proofFlags, root, leaves);
    }

    /**
     * @dev Whether (`leaves`, `proofLength`, `flags`) is a multiproof that OpenZeppelin's
     * `multiProofVerifyCalldata` processes without reverting and without reading a hash it has not computed yet:
     * the same walk over the flags, counting instead of hashing (the library reverts on the rest, and
     * {verifyRecords} promises false). Linear in the number of flags, which the first check bounds.
     */
    function _wellFormedMultiproof(uint256 leaves, uint256 proofLength, bool[] calldata flags)
        private
        pure
        returns (bool)
    {
        uint256 steps = flags.length;
        if (leaves + proofLength != steps + 1) return false;
        uint256 leafPos = 0;
        uint256 hashPos = 0;
        uint256 proofPos = 0;
        for (uint256 i = 0; i < steps; ++i) {
            // The first operand: the next leaf, else the oldest hash computed so far.
            if (leafPos < leaves) ++leafPos;
            else if (hashPos < i) ++hashPos;
            else return false;
            // The second: the same when the flag is set, else the next proof node.
            if (flags[i]) {
                if (leafPos < leaves) ++leafPos;
                else if (hashPos < i) ++hashPos;
                else return false;
            } else if (proofPos < proofLength) {
                ++proofPos;
            } else {
                return false;
            }
        }
        return proofPos == proofLength;
    }

    // ------------------------------------------------------------------------------------------------------------
    // Packed words
    // ------------------------------------------------------------------------------------------------------------

    /// @dev Anchoring time (bits 32-71) and block (bits 72-119) of a batch word; reverts rather than wrap.
    function _clock() private view returns (uint256) {
        uint256 time = block.timestamp;
        uint256 blockNumber = block.number;
        // Ensure that the 40-bit time and 48-bit block fields never wrap (the year 36812, block 2^48).
        if ((time >> 40) | (blockNumber >> 48) != 0) revert ClockOutOfRange(time, blockNumber);
        return (time << 32) | (blockNumber << 72);
    }

    /// @dev The revocation word of a revocation by the caller, now, for `reason`.
    function _revocationWord(uint16 reason) private view returns (uint256) {
        return
            uint256(uint160(msg.sender)) | (uint256(uint64(block.timestamp)) << 160)
                | (uint256(reason) << 224);
    }

    function _organisationOf(uint256 word) private pure returns (bytes16) {
        return bytes16(bytes32(word));
    }

    function _compromisedFrom(uint256 accountWord) private pure returns (uint256) {
        return (accountWord >> 16) & _UINT48_MASK;
    }

    function _kindOf(uint256 batch) private pure returns (RecordKind) {
        return RecordKind(uint8(batch));
    }

    function _timeOf(uint256 batch) private pure returns (uint64) {
        return uint64((batch >> 32) & type(uint40).max);
    }

    function _toBatch(uint256 batch) private pure returns (Batch memory) {
        return Batch({
            kind: _kindOf(batch),
            count: uint24(batch >> 8),
            organisation: _organisationOf(batch),
            anchoredAt: _timeOf(batch),
            anchoredBlock: uint64((batch >> 72) & _UINT48_MASK)
        });
    }

    function _toRevocation(uint256 word) private pure returns (Revocation memory) {
        return Revocation({
            revokedBy: address(uint160(word)), revokedAt: uint64(word >> 160), reason: uint16(word >> 224)
        });
    }
}
