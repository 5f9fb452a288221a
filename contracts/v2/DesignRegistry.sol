// SPDX-License-Identifier: UNLICENSED
pragma solidity 0.8.28;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {IDesignRegistry} from "./interfaces/IDesignRegistry.sol";
import {IOrganisations} from "./interfaces/IOrganisations.sol";
import {IProvenanceLedger} from "./interfaces/IProvenanceLedger.sol";
import {IRecordAnchor} from "./interfaces/IRecordAnchor.sol";
import {recordLeaf} from "./RecordLeaf.sol";

/**
 * @title DesignRegistry (version 2)
 * @notice Hallmark's design copyright registry: priority from a commitment anchored earlier on the ledger,
 * two-step assignments and terminable licences, managed only by registrars that still hold their role.
 * @dev Reads roles, organisations and batches from the ProvenanceLedger (two calls per registration). Storage of a
 * design: slot 0 packs registrant (bits 0-159), filing time (160-199) and filing block (200-247), written at once;
 * slot 1 the owner reference; slot 2 the metadata hash. The perceptual code, the parent and the commitment's batch
 * are in the DesignRegistered log only (the 120,000 gas goal).
 */
contract DesignRegistry is IDesignRegistry {
    /// @inheritdoc IDesignRegistry
    bytes32 public constant REGISTRAR_ROLE = keccak256("REGISTRAR_ROLE");
    /// @inheritdoc IDesignRegistry
    uint256 public constant REVEAL_WINDOW = 1 days;

    /// @dev The ledger's DEFAULT_ADMIN_ROLE (OpenZeppelin AccessControl).
    bytes32 private constant _ADMIN_ROLE = 0x00;
    /// @dev REGISTRAR_ROLE's bit in {IOrganisations-Account}.
    uint8 private constant _REGISTRAR = 16;

    /// @dev Stored registration: 3 slots.
    struct StoredDesign {
        uint256 filing;
        bytes32 ownerRef;
        bytes32 metadataHash;
    }

    IProvenanceLedger private immutable _ledger;

    mapping(bytes32 fingerprint => StoredDesign design) private _designs;
    mapping(bytes32 fingerprint => PendingAssignment assignment) private _pendingAssignments;
    mapping(bytes32 fingerprint => mapping(bytes32 documentHash => Licence licence)) private _licences;

    /// @param ledger_ The ProvenanceLedger (version 2) whose roles, organisations and batches this registry reads.
    constructor(address ledger_) {
        // Ensure that the registry is bound to a ledger.
        if (ledger_ == address(0)) revert ZeroLedger();
        _ledger = IProvenanceLedger(ledger_);
    }

    /// @inheritdoc IDesignRegistry
    function register(
        bytes32 fingerprint,
        uint64 perceptualCode,
        bytes32 metadataHash,
        bytes32 ownerRef,
        bytes32 parent,
        Commitment calldata commitment
    ) external {
        // Ensure that the fingerprint is a real hash.
        if (fingerprint == bytes32(0)) revert ZeroFingerprint();
        // Ensure that the metadata is identified.
        if (metadataHash == bytes32(0)) revert ZeroMetadataHash();
        // Ensure that the owner is identified.
        if (ownerRef == bytes32(0)) revert ZeroOwnerRef();
        IOrganisations.Account memory account = _ledger.accountOf(msg.sender);
        // Ensure that the caller is a registrar now (a role holder is bound and not compromised).
        if (account.roles & _REGISTRAR == 0) {
            revert IAccessControl.AccessControlUnauthorizedAccount(msg.sender, REGISTRAR_ROLE);
        }
        uint256 filing = _checkCommitment(fingerprint, account.organisation, commitment);
        StoredDesign storage design = _designs[fingerprint];
        uint256 existing = design.filing;
        if (existing != 0) {
            // Ensure that priority only ever moves to an earlier commitment.
            if (_filedBlock(existing) <= _filedBlock(filing)) {
                revert DesignAlreadyRegistered(
                    fingerprint, address(uint160(existing)), _filedAt(existing), _filedBlock(existing)
                );
            }
            emit DesignDisplaced(
                fingerprint, address(uint160(existing)), design.ownerRef, _filedBlock(existing)
            );
        }
        if (parent != bytes32(0)) {
            // Ensure that a design does not derive from itself.
            if (parent == fingerprint) revert DesignIsOwnParent(fingerprint);
            // Ensure that the parent design is registered.
            if (_designs[parent].filing == 0) revert ParentNotRegistered(parent);
        }

        design.filing = uint256(uint160(msg.sender)) | filing;
        design.ownerRef = ownerRef;
        design.metadataHash = metadataHash;
        emit DesignRegistered(
            fingerprint,
            msg.sender,
            ownerRef,
            perceptualCode,
            metadataHash,
            parent,
            commitment.anchorer,
            commitment.root
        );
    }

    /// @inheritdoc IDesignRegistry
    function proposeAssignment(
        bytes32 fingerprint,
        address newRegistrant,
        bytes32 newOwnerRef,
        bytes32 documentHash
    ) external {
        // Ensure that the registration goes to an account.
        if (newRegistrant == address(0)) revert ZeroRegistrant();
        // Ensure that the new owner is identified.
        if (newOwnerRef == bytes32(0)) revert ZeroOwnerRef();
        // Ensure that the assignment document is identified.
        if (documentHash == bytes32(0)) revert ZeroDocumentHash();
        address registrant = _checkFinal(fingerprint);
        if (!_mayPropose(msg.sender, registrant)) {
            // Ensure that the admin only rescues designs whose registrar lost its role.
            if (_ledger.hasRole(_ADMIN_ROLE, msg.sender)) {
                revert RegistrantStillActive(fingerprint, registrant);
            }
            // Ensure that only the active registrant assigns its design.
            revert NotActiveRegistrant(fingerprint, msg.sender, registrant);
        }

        _pendingAssignments[fingerprint] = PendingAssignment({
            newRegistrant: newRegistrant,
            newOwnerRef: newOwnerRef,
            documentHash: documentHash,
            proposedBy: msg.sender,
            proposedAt: uint64(block.timestamp)
        });
        emit AssignmentProposed(fingerprint, newRegistrant, documentHash, newOwnerRef, msg.sender);
    }

    /// @inheritdoc IDesignRegistry
    function acceptAssignment(bytes32 fingerprint, bytes32 documentHash) external {
        PendingAssignment memory pending = _pendingAssignments[fingerprint];
        // Ensure that there is something to accept.
        if (pending.newRegistrant == address(0)) revert NoPendingAssignment(fingerprint);
        // Ensure that only the named new registrant accepts.
        if (msg.sender != pending.newRegistrant) {
            revert NotProposedRegistrant(fingerprint, msg.sender, pending.newRegistrant);
        }
        // Ensure that the new registrant accepts exactly the document that was proposed.
        if (documentHash != pending.documentHash) {
            revert AssignmentDocumentMismatch(fingerprint, pending.documentHash, documentHash);
        }
        // Ensure that designs only ever go to registrars.
        if (!_isRegistrar(msg.sender)) {
            revert IAccessControl.AccessControlUnauthorizedAccount(msg.sender, REGISTRAR_ROLE);
        }
        StoredDesign storage design = _designs[fingerprint];
        uint256 filing = design.filing;
        address previousRegistrant = address(uint160(filing));
        // Ensure that the proposer's authority still stands (a registrar that lost its role assigns nothing).
        if (!_mayPropose(pending.proposedBy, previousRegistrant)) {
            revert AssignmentNoLongerAuthorised(fingerprint, pending.proposedBy);
        }
        bytes32 previousOwnerRef = design.ownerRef;

        delete _pendingAssignments[fingerprint];
        design.filing = (filing & ~uint256(type(uint160).max)) | uint256(uint160(msg.sender));
        design.ownerRef = pending.newOwnerRef;
        emit DesignAssigned(
            fingerprint,
            msg.sender,
            pending.newOwnerRef,
            previousRegistrant,
            previousOwnerRef,
            documentHash,
            pending.proposedBy
        );
    }

    /// @inheritdoc IDesignRegistry
    function cancelAssignment(bytes32 fingerprint) external {
        PendingAssignment storage pending = _pendingAssignments[fingerprint];
        address newRegistrant = pending.newRegistrant;
        // Ensure that there is something to cancel.
        if (newRegistrant == address(0)) revert NoPendingAssignment(fingerprint);
        // Ensure that only the proposer, who may propose now, or the declining new registrant cancels.
        if (
            msg.sender != pending.proposedBy && msg.sender != newRegistrant
                && !_mayPropose(msg.sender, address(uint160(_designs[fingerprint].filing)))
        ) revert UnauthorisedCancellation(fingerprint, msg.sender);
        bytes32 documentHash = pending.documentHash;

        delete _pendingAssignments[fingerprint];
        emit AssignmentCancelled(fingerprint, documentHash, msg.sender);
    }

    /// @inheritdoc IDesignRegistry
    function grantLicence(
        bytes32 fingerprint,
        bytes32 licenseeRef,
        bytes32 documentHash,
        uint64 validFrom,
        uint64 validUntil
    ) external {
        // Ensure that the licensee is identified.
        if (licenseeRef == bytes32(0)) revert ZeroLicenseeRef();
        // Ensure that the licence document is identified.
        if (documentHash == bytes32(0)) revert ZeroDocumentHash();
        // Ensure that a bounded licence ends after it starts.
        if (validUntil != 0 && validUntil <= validFrom) revert InvalidLicencePeriod(validFrom, validUntil);
        _checkActiveRegistrant(fingerprint, _checkFinal(fingerprint));
        Licence storage licence = _licences[fingerprint][documentHash];
        uint64 grantedAt = licence.grantedAt;
        // Ensure that one document records one licence.
        if (grantedAt != 0) revert LicenceAlreadyGranted(fingerprint, documentHash, grantedAt);

        licence.licenseeRef = licenseeRef;
        licence.grantedBy = msg.sender;
        licence.grantedAt = uint64(block.timestamp);
        licence.validFrom = validFrom;
        licence.validUntil = validUntil;
        emit LicenceGranted(fingerprint, licenseeRef, documentHash, validFrom, validUntil, msg.sender);
    }

    /// @inheritdoc IDesignRegistry
    function terminateLicence(bytes32 fingerprint, bytes32 documentHash, uint16 reason) external {
        // Ensure that every termination carries a reason.
        if (reason == 0) revert ZeroTerminationReason();
        _checkActiveRegistrant(fingerprint, _checkRegistered(fingerprint));
        Licence storage licence = _licences[fingerprint][documentHash];
        // Ensure that the licence exists.
        if (licence.grantedAt == 0) revert LicenceNotGranted(fingerprint, documentHash);
        uint64 terminatedAt = licence.terminatedAt;
        // Ensure that a termination is final.
        if (terminatedAt != 0) revert LicenceAlreadyTerminated(fingerprint, documentHash, terminatedAt);

        licence.terminatedBy = msg.sender;
        licence.terminatedAt = uint64(block.timestamp);
        licence.terminationReason = reason;
        emit LicenceTerminated(fingerprint, documentHash, reason, msg.sender);
    }

    /// @inheritdoc IDesignRegistry
    function designOf(bytes32 fingerprint) external view returns (Design memory design) {
        StoredDesign storage stored = _designs[fingerprint];
        uint256 filing = stored.filing;
        if (filing == 0) return design;
        design = Design({
            registrant: address(uint160(filing)),
            filedAt: _filedAt(filing),
            filedBlock: _filedBlock(filing),
            finalAt: _finalAt(filing),
            ownerRef: stored.ownerRef,
            metadataHash: stored.metadataHash
        });
    }

    /// @inheritdoc IDesignRegistry
    function isRegistered(bytes32 fingerprint) external view returns (bool) {
        return _designs[fingerprint].filing != 0;
    }

    /// @inheritdoc IDesignRegistry
    function pendingAssignmentOf(bytes32 fingerprint) external view returns (PendingAssignment memory) {
        return _pendingAssignments[fingerprint];
    }

    /// @inheritdoc IDesignRegistry
    function licenceOf(bytes32 fingerprint, bytes32 documentHash) external view returns (Licence memory) {
        return _licences[fingerprint][documentHash];
    }

    /// @inheritdoc IDesignRegistry
    function commitmentHash(bytes32 fingerprint, address registrant, bytes32 salt)
        external
        pure
        returns (bytes32)
    {
        return _commitmentHash(fingerprint, registrant, salt);
    }

    /// @inheritdoc IDesignRegistry
    function ledger() external view returns (address) {
        return address(_ledger);
    }

    /// @inheritdoc IDesignRegistry
    function version() external pure returns (string memory) {
        return "2.0.0";
    }

    /**
     * @dev Reverts unless `commitment` proves `commitmentHash(fingerprint, msg.sender, salt)` in a design
     * commitment batch of `organisation`, anchored in an earlier block and at most {REVEAL_WINDOW} ago; returns the
     * filing time and block, placed as in slot 0 of a design.
     */
    function _checkCommitment(bytes32 fingerprint, bytes16 organisation, Commitment calldata commitment)
        private
        view
        returns (uint256 filing)
    {
        IRecordAnchor.Batch memory batch = _ledger.batchOf(commitment.anchorer, commitment.root);
        // Ensure that the commitment's batch exists.
        if (batch.count == 0) revert CommitmentNotAnchored(commitment.anchorer, commitment.root);
        // Ensure that the batch holds design commitments.
        if (batch.kind != IRecordAnchor.RecordKind.DesignCommitment) {
            revert NotACommitmentBatch(commitment.anchorer, commitment.root, batch.kind);
        }
        // Ensure that the commitment is the registrant organisation's own.
        if (batch.organisation != organisation) {
            revert CommitmentOfOtherOrganisation(batch.organisation, organisation);
        }
        // Ensure that the commitment was on chain before this registration was sent.
        if (batch.anchoredBlock >= block.number) revert CommitmentNotEarlier(batch.anchoredBlock);
        uint256 expiresAt = uint256(batch.anchoredAt) + REVEAL_WINDOW;
        // Ensure that a filing becomes final REVEAL_WINDOW after its commitment.
        if (block.timestamp > expiresAt) revert CommitmentExpired(batch.anchoredAt, uint64(expiresAt));
        bytes32 commitmentHash_ = _commitmentHash(fingerprint, msg.sender, commitment.salt);
        // Ensure that the batch holds this very commitment.
        if (!MerkleProof.verifyCalldata(commitment.proof, commitment.root, recordLeaf(commitmentHash_))) {
            revert InvalidCommitmentProof(commitment.anchorer, commitment.root, commitmentHash_);
        }
        return (uint256(batch.anchoredAt) << 160) | (uint256(batch.anchoredBlock) << 200);
    }

    /// @dev Reverts unless `fingerprint` is registered; returns its registrant.
    function _checkRegistered(bytes32 fingerprint) private view returns (address registrant) {
        registrant = address(uint160(_designs[fingerprint].filing));
        // Ensure that the design is registered.
        if (registrant == address(0)) revert DesignNotRegistered(fingerprint);
    }

    /// @dev Reverts unless `fingerprint` is registered and its filing final; returns its registrant.
    function _checkFinal(bytes32 fingerprint) private view returns (address registrant) {
        uint256 filing = _designs[fingerprint].filing;
        registrant = address(uint160(filing));
        // Ensure that the design is registered.
        if (registrant == address(0)) revert DesignNotRegistered(fingerprint);
        uint64 finalAt = _finalAt(filing);
        // Ensure that a filing that an earlier commitment may still displace is neither assigned nor licensed.
        if (block.timestamp < finalAt) revert DesignNotFinal(fingerprint, finalAt);
    }

    /// @dev Reverts unless the caller is `registrant` and holds REGISTRAR_ROLE.
    function _checkActiveRegistrant(bytes32 fingerprint, address registrant) private view {
        // Ensure that only the registrant, while a registrar, manages its design.
        if (msg.sender != registrant || !_isRegistrar(msg.sender)) {
            revert NotActiveRegistrant(fingerprint, msg.sender, registrant);
        }
    }

    /// @dev Whether `account` may propose an assignment of a design of `registrant`: the registrant while it holds
    /// REGISTRAR_ROLE, or the ledger admin once the registrant no longer does.
    function _mayPropose(address account, address registrant) private view returns (bool) {
        bool registrantActive = _isRegistrar(registrant);
        if (account == registrant && registrantActive) return true;
        return !registrantActive && _ledger.hasRole(_ADMIN_ROLE, account);
    }

    function _isRegistrar(address account) private view returns (bool) {
        return _ledger.hasRole(REGISTRAR_ROLE, account);
    }

    function _commitmentHash(bytes32 fingerprint, address registrant, bytes32 salt)
        private
        pure
        returns (bytes32)
    {
        return keccak256(abi.encode(fingerprint, registrant, salt));
    }

    function _filedAt(uint256 filing) private pure returns (uint64) {
        return uint64((filing >> 160) & type(uint40).max);
    }

    function _filedBlock(uint256 filing) private pure returns (uint64) {
        return uint64((filing >> 200) & type(uint48).max);
    }

    function _finalAt(uint256 filing) private pure returns (uint64) {
        return _filedAt(filing) + uint64(REVEAL_WINDOW) + 1;
    }
}
