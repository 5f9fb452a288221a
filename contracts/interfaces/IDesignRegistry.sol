// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.24;

/**
 * @title IDesignRegistry
 * @notice Registry of jewellery designs for copyright evidence: first to file wins.
 *
 * A design is identified by its fingerprint, the SHA-256 of the design file. Nothing personal is stored: the
 * copyright owner is named only by `ownerRef`, a hash whose meaning is kept off chain; the design's descriptive
 * metadata only by `metadataHash`; licences and assignments only by the hash of the signed document.
 *
 * Roles are read from the ProvenanceLedger: REGISTRAR_ROLE registers designs; the ledger's DEFAULT_ADMIN_ROLE
 * administers every registration (assignments and licences) besides its current registrant.
 *
 * Front-running: only REGISTRAR_ROLE can register. A mempool observer who sees a pending registration cannot
 * register the fingerprint first without that role, and registrars are accountable consortium members whose every
 * write is attributable (the registrant is recorded with the registration and in the event). A commit–reveal
 * scheme would double the gas and the latency of every registration for no gain in this model, so none is used.
 */
interface IDesignRegistry {
    /**
     * @notice A registered design as returned by {designOf}. A zero `registrant` means "not registered".
     * @param registrant Account that registered the design, or that it was last assigned to.
     * @param registeredAt Block timestamp of the registration (unchanged by assignments).
     * @param blockNumber Block number of the registration (unchanged by assignments).
     * @param ownerRef Hash identifying the current copyright owner (never a name).
     * @param metadataHash Hash of the design's metadata document.
     * @dev The perceptual code and the parent are not stored: they are carried by the {DesignRegistered} log of
     * the registration (indexed by fingerprint), which is as permanent as storage. Storing them would need two
     * more slots and take a registration past its 120,000 gas goal.
     */
    struct Design {
        address registrant;
        uint64 registeredAt;
        uint64 blockNumber;
        bytes32 ownerRef;
        bytes32 metadataHash;
    }

    /**
     * @notice A licence as returned by {licenceOf}. A zero `grantedAt` means "no such licence".
     * @param licenseeRef Hash identifying the licensee (never a name).
     * @param grantedBy Account that recorded the licence.
     * @param grantedAt Block timestamp of the recording.
     * @param validFrom Start of the licence (Unix seconds), as stated in the document.
     * @param validUntil End of the licence (Unix seconds); 0 when open-ended.
     */
    struct Licence {
        bytes32 licenseeRef;
        address grantedBy;
        uint64 grantedAt;
        uint64 validFrom;
        uint64 validUntil;
    }

    /// @notice The design `fingerprint` was registered by `registrant` for the owner `ownerRef`.
    event DesignRegistered(
        bytes32 indexed fingerprint,
        address indexed registrant,
        bytes32 indexed ownerRef,
        uint64 perceptualCode,
        bytes32 metadataHash,
        bytes32 parent
    );

    /// @notice The registration of `fingerprint` was assigned by `assignedBy` under the document `documentHash`.
    event DesignAssigned(
        bytes32 indexed fingerprint,
        address indexed newRegistrant,
        bytes32 indexed newOwnerRef,
        address previousRegistrant,
        bytes32 previousOwnerRef,
        bytes32 documentHash,
        address assignedBy
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

    /// @notice `fingerprint` was already registered by `registrant` at `registeredAt` (first to file wins).
    error DesignAlreadyRegistered(bytes32 fingerprint, address registrant, uint64 registeredAt);

    /// @notice `fingerprint` is not registered.
    error DesignNotRegistered(bytes32 fingerprint);

    /// @notice The parent design `parent` is not registered.
    error ParentNotRegistered(bytes32 parent);

    /// @notice A design cannot derive from itself.
    error DesignIsOwnParent(bytes32 fingerprint);

    /// @notice `account` is neither the current registrant (`registrant`) of `fingerprint` nor the ledger admin.
    error NotRegistrantOrAdmin(bytes32 fingerprint, address account, address registrant);

    /// @notice A licence of `fingerprint` under `documentHash` was already recorded at `grantedAt`.
    error LicenceAlreadyGranted(bytes32 fingerprint, bytes32 documentHash, uint64 grantedAt);

    /// @notice The licence ends (`validUntil`) at or before it starts (`validFrom`).
    error InvalidLicencePeriod(uint64 validFrom, uint64 validUntil);

    /**
     * @notice Register the design `fingerprint` (SHA-256 of the design file). Only REGISTRAR_ROLE of the ledger;
     * the caller becomes the registrant. First to file wins.
     * @param fingerprint SHA-256 of the design file; non-zero, not yet registered.
     * @param perceptualCode 64-bit ISCC Image-Code body; 0 when the design is not an image.
     * @param metadataHash Hash of the metadata document; non-zero.
     * @param ownerRef Hash identifying the copyright owner; non-zero.
     * @param parent Fingerprint of the registered design this one derives from (not `fingerprint`); 0 when none.
     * @dev `perceptualCode` and `parent` are recorded in the {DesignRegistered} log only (see {Design}); the parent
     * must be registered. Reverts with `AccessControlUnauthorizedAccount`, {ZeroFingerprint}, {ZeroMetadataHash}, {ZeroOwnerRef},
     * {DesignAlreadyRegistered}, {DesignIsOwnParent} or {ParentNotRegistered}. Emits {DesignRegistered}.
     */
    function register(
        bytes32 fingerprint,
        uint64 perceptualCode,
        bytes32 metadataHash,
        bytes32 ownerRef,
        bytes32 parent
    ) external;

    /**
     * @notice Assign the registration of `fingerprint` to `newRegistrant` for the owner `newOwnerRef`, under the
     * signed assignment document `documentHash`. Only the current registrant or the ledger admin.
     * @dev Reverts with {ZeroRegistrant}, {ZeroOwnerRef}, {ZeroDocumentHash}, {DesignNotRegistered} or
     * {NotRegistrantOrAdmin}. Emits {DesignAssigned}.
     */
    function assign(bytes32 fingerprint, address newRegistrant, bytes32 newOwnerRef, bytes32 documentHash) external;

    /**
     * @notice Record a licence of `fingerprint` to `licenseeRef` under the signed document `documentHash`, valid
     * from `validFrom` until `validUntil` (0: open-ended). Only the current registrant or the ledger admin. One
     * licence per (design, document).
     * @dev Reverts with {ZeroLicenseeRef}, {ZeroDocumentHash}, {InvalidLicencePeriod}, {DesignNotRegistered},
     * {NotRegistrantOrAdmin} or {LicenceAlreadyGranted}. Emits {LicenceGranted}.
     */
    function grantLicence(
        bytes32 fingerprint,
        bytes32 licenseeRef,
        bytes32 documentHash,
        uint64 validFrom,
        uint64 validUntil
    ) external;

    /// @notice The registration of `fingerprint` (zero `registrant`: not registered).
    function designOf(bytes32 fingerprint) external view returns (Design memory);

    /// @notice Whether `fingerprint` is registered.
    function isRegistered(bytes32 fingerprint) external view returns (bool);

    /// @notice The licence of `fingerprint` recorded under `documentHash` (zero `grantedAt`: none).
    function licenceOf(bytes32 fingerprint, bytes32 documentHash) external view returns (Licence memory);

    /// @notice The ProvenanceLedger whose roles this registry reads.
    function ledger() external view returns (address);

    /// @notice The ledger role that registers designs (same value as the ledger's REGISTRAR_ROLE).
    function REGISTRAR_ROLE() external view returns (bytes32);

    /// @notice Version of this contract's interface and behaviour ("1.0.0").
    function version() external pure returns (string memory);
}
