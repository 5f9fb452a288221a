// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.24;

/**
 * @title IOrganisations
 * @notice Which organisation each writing account belongs to, and which accounts were compromised.
 *
 * An organisation (a brand, a supplier, a factory, a legal team, the operator) is named on chain only by a non-zero
 * 16-byte identifier chosen by the admin; Hallmark uses the organisation's UUID. The admin binds an account to an
 * organisation once: a binding never moves and is never removed, so everything an account ever wrote stays the
 * organisation's. Every role other than DEFAULT_ADMIN_ROLE can only be granted to a bound account, so every batch,
 * revocation, supersession, flag and design registration is attributable to one organisation.
 *
 * Compromise: the admin declares that an account's key was compromised from a block `B` on. Every batch that account
 * anchored in block `B` or later then reads Flagged (Revoked for certificates) with the compromise's reason; its
 * batches anchored before `B` are unaffected. The declaration is final: `B` can later be moved earlier (when the
 * theft turns out to be older), never later, and the account loses every role for good (it can never be granted a
 * role again).
 */
interface IOrganisations {
    /**
     * @notice What the ledger knows of an account, from one storage slot.
     * @param organisation The organisation the account is bound to; zero when unbound.
     * @param roles The operational roles the account holds now, one bit each: 1 SUPPLIER_ROLE, 2 FACTORY_ROLE,
     * 4 ISSUER_ROLE, 8 REVOKER_ROLE, 16 REGISTRAR_ROLE.
     * @param compromisedFrom First block from which the account is compromised; 0 when it is not.
     */
    struct Account {
        bytes16 organisation;
        uint8 roles;
        uint64 compromisedFrom;
    }

    /**
     * @notice The latest compromise declaration of an account (zero `fromBlock`: none).
     * @param fromBlock Batches anchored by the account in this block or later are flagged.
     * @param reason Reason code of the declaration (non-zero; meanings are kept off chain).
     * @param markedAt Block timestamp of the latest declaration.
     * @param markedBy The admin account that made the latest declaration.
     */
    struct Compromise {
        uint64 fromBlock;
        uint16 reason;
        uint64 markedAt;
        address markedBy;
    }

    /// @notice `account` was bound to `organisation` by `boundBy`.
    event AccountBound(address indexed account, bytes16 indexed organisation, address boundBy);

    /// @notice `account` of `organisation` was declared compromised from block `fromBlock` by `markedBy`.
    event AccountCompromised(
        address indexed account,
        bytes16 indexed organisation,
        uint64 fromBlock,
        uint16 reason,
        address markedBy
    );

    /// @notice The account is the zero address.
    error ZeroAccount();

    /// @notice The organisation identifier is zero.
    error ZeroOrganisation();

    /// @notice `account` is already bound to `organisation`; a binding never moves.
    error AccountAlreadyBound(address account, bytes16 organisation);

    /// @notice `account` is bound to no organisation.
    error AccountNotBound(address account);

    /// @notice `account` was declared compromised from block `fromBlock`: it can hold no role any more.
    error AccountIsCompromised(address account, uint64 fromBlock);

    /// @notice A compromise must start at a block between 1 and the current block `currentBlock`.
    error InvalidCompromiseBlock(uint64 fromBlock, uint64 currentBlock);

    /// @notice `account` is already compromised from `currentFromBlock`; a new declaration can only move it earlier.
    error CompromiseCannotMoveLater(address account, uint64 currentFromBlock, uint64 requestedFromBlock);

    /**
     * @notice Bind `account` to `organisation`, for good. Only DEFAULT_ADMIN_ROLE.
     * @dev Reverts with `AccessControlUnauthorizedAccount`, {ZeroAccount}, {ZeroOrganisation} or
     * {AccountAlreadyBound}. Emits {AccountBound}.
     */
    function bindAccount(address account, bytes16 organisation) external;

    /**
     * @notice Declare `account` compromised from block `fromBlock` on, for `reason` (non-zero). Only
     * DEFAULT_ADMIN_ROLE. The account loses every operational role it holds (recorded in the role history) and can
     * never be granted one again. A later declaration may only move `fromBlock` earlier; it replaces the reason.
     * @dev Reverts with `AccessControlUnauthorizedAccount`, {AccountNotBound}, {IRecordAnchor-ZeroReason},
     * {InvalidCompromiseBlock} (0, or after the current block) or {CompromiseCannotMoveLater}. Emits
     * {AccountCompromised}, and `RoleRevoked` for each role taken away.
     */
    function markCompromised(address account, uint64 fromBlock, uint16 reason) external;

    /// @notice The organisation, current operational roles and compromise block of `account`.
    function accountOf(address account) external view returns (Account memory);

    /// @notice The latest compromise declaration of `account` (zero `fromBlock`: none).
    function compromiseOf(address account) external view returns (Compromise memory);
}
