// SPDX-License-Identifier: UNLICENSED
pragma solidity 0.8.28;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {IDesignRegistry} from "./interfaces/IDesignRegistry.sol";

/**
 * @title DesignRegistry
 * @notice Hallmark's design copyright registry (first to file wins), with assignments and licences.
 * @dev Roles are read from the ProvenanceLedger with one `hasRole` call per write. Storage of a design: slot 0
 * packs registrant, registration time and block number; slot 1 the owner reference; slot 2 the metadata hash.
 * The perceptual code and the parent are in the DesignRegistered log only (the 120,000 gas goal).
 */
contract DesignRegistry is IDesignRegistry {
    /// @inheritdoc IDesignRegistry
    bytes32 public constant REGISTRAR_ROLE = keccak256("REGISTRAR_ROLE");

    /// @dev The ledger's DEFAULT_ADMIN_ROLE (OpenZeppelin AccessControl).
    bytes32 private constant _ADMIN_ROLE = 0x00;

    /// @dev Stored registration: 3 slots.
    struct StoredDesign {
        address registrant;
        uint48 registeredAt;
        uint48 blockNumber;
        bytes32 ownerRef;
        bytes32 metadataHash;
    }

    address private immutable _ledger;

    mapping(bytes32 fingerprint => StoredDesign design) private _designs;
    mapping(bytes32 fingerprint => mapping(bytes32 documentHash => Licence licence)) private _licences;

    /// @param ledger_ The ProvenanceLedger whose roles this registry reads.
    constructor(address ledger_) {
        // Ensure that the registry is bound to a ledger.
        if (ledger_ == address(0)) revert ZeroLedger();
        _ledger = ledger_;
    }

    /// @inheritdoc IDesignRegistry
    function register(
        bytes32 fingerprint,
        uint64 perceptualCode,
        bytes32 metadataHash,
        bytes32 ownerRef,
        bytes32 parent
    ) external {
        // Ensure that the caller is a registrar (this is also what makes front-running harmless).
        if (!IAccessControl(_ledger).hasRole(REGISTRAR_ROLE, msg.sender)) {
            revert IAccessControl.AccessControlUnauthorizedAccount(msg.sender, REGISTRAR_ROLE);
        }
        // Ensure that the fingerprint is a real hash.
        if (fingerprint == bytes32(0)) revert ZeroFingerprint();
        // Ensure that the metadata is identified.
        if (metadataHash == bytes32(0)) revert ZeroMetadataHash();
        // Ensure that the owner is identified.
        if (ownerRef == bytes32(0)) revert ZeroOwnerRef();
        StoredDesign storage design = _designs[fingerprint];
        address existing = design.registrant;
        // Ensure that the first registration stands (first to file wins).
        if (existing != address(0)) revert DesignAlreadyRegistered(fingerprint, existing, design.registeredAt);
        if (parent != bytes32(0)) {
            // Ensure that a design does not derive from itself.
            if (parent == fingerprint) revert DesignIsOwnParent(fingerprint);
            // Ensure that the parent design is registered.
            if (_designs[parent].registrant == address(0)) revert ParentNotRegistered(parent);
        }

        _storeRegistration(design, msg.sender);
        design.ownerRef = ownerRef;
        design.metadataHash = metadataHash;
        emit DesignRegistered(fingerprint, msg.sender, ownerRef, perceptualCode, metadataHash, parent);
    }

    /// @inheritdoc IDesignRegistry
    function assign(bytes32 fingerprint, address newRegistrant, bytes32 newOwnerRef, bytes32 documentHash)
        external
    {
        // Ensure that the registration goes to an account.
        if (newRegistrant == address(0)) revert ZeroRegistrant();
        // Ensure that the new owner is identified.
        if (newOwnerRef == bytes32(0)) revert ZeroOwnerRef();
        // Ensure that the assignment document is identified.
        if (documentHash == bytes32(0)) revert ZeroDocumentHash();
        StoredDesign storage design = _designs[fingerprint];
        address previousRegistrant = _checkRegistrantOrAdmin(fingerprint, design);
        bytes32 previousOwnerRef = design.ownerRef;

        design.registrant = newRegistrant;
        design.ownerRef = newOwnerRef;
        emit DesignAssigned(
            fingerprint, newRegistrant, newOwnerRef, previousRegistrant, previousOwnerRef, documentHash, msg.sender
        );
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
        _checkRegistrantOrAdmin(fingerprint, _designs[fingerprint]);
        Licence storage licence = _licences[fingerprint][documentHash];
        uint64 grantedAt = licence.grantedAt;
        // Ensure that one document records one licence.
        if (grantedAt != 0) revert LicenceAlreadyGranted(fingerprint, documentHash, grantedAt);

        _licences[fingerprint][documentHash] = Licence({
            licenseeRef: licenseeRef,
            grantedBy: msg.sender,
            grantedAt: uint64(block.timestamp),
            validFrom: validFrom,
            validUntil: validUntil
        });
        emit LicenceGranted(fingerprint, licenseeRef, documentHash, validFrom, validUntil, msg.sender);
    }

    /// @inheritdoc IDesignRegistry
    function designOf(bytes32 fingerprint) external view returns (Design memory) {
        StoredDesign storage design = _designs[fingerprint];
        return Design({
            registrant: design.registrant,
            registeredAt: design.registeredAt,
            blockNumber: design.blockNumber,
            ownerRef: design.ownerRef,
            metadataHash: design.metadataHash
        });
    }

    /// @inheritdoc IDesignRegistry
    function isRegistered(bytes32 fingerprint) external view returns (bool) {
        return _designs[fingerprint].registrant != address(0);
    }

    /// @inheritdoc IDesignRegistry
    function licenceOf(bytes32 fingerprint, bytes32 documentHash) external view returns (Licence memory) {
        return _licences[fingerprint][documentHash];
    }

    /// @inheritdoc IDesignRegistry
    function ledger() external view returns (address) {
        return _ledger;
    }

    /// @inheritdoc IDesignRegistry
    function version() external pure returns (string memory) {
        return "1.0.0";
    }

    /// @dev Writes slot 0 of `design` (registrant, registration time and block) at once: Solidity's legacy code
    /// generator would write the three packed members with three SSTOREs, and {register} has a gas goal.
    function _storeRegistration(StoredDesign storage design, address registrant) private {
        uint256 packed = uint256(uint160(registrant)) | (uint256(uint48(block.timestamp)) << 160)
            | (uint256(uint48(block.number)) << 208);
        assembly ("memory-safe") {
            sstore(design.slot, packed)
        }
    }

    /// @dev Reverts unless the design is registered and the caller is its registrant or the ledger admin;
    /// returns the current registrant.
    function _checkRegistrantOrAdmin(bytes32 fingerprint, StoredDesign storage design)
        private
        view
        returns (address registrant)
    {
        registrant = design.registrant;
        // Ensure that the design is registered.
        if (registrant == address(0)) revert DesignNotRegistered(fingerprint);
        // Ensure that the caller manages this registration.
        if (msg.sender != registrant && !IAccessControl(_ledger).hasRole(_ADMIN_ROLE, msg.sender)) {
            revert NotRegistrantOrAdmin(fingerprint, msg.sender, registrant);
        }
    }
}
