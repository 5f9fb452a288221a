// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.24;

/**
 * @title IRoleHistory
 * @notice History of every role grant and revocation of the Hallmark ledger, keyed by block number.
 *
 * The ledger keeps, for each (role, account) pair, one entry per actual change of membership: a grant of a role
 * the account did not hold, or a revocation (including a renunciation, a compromise declaration and a transfer of
 * the admin role) of a role it held. Calls that change nothing leave no entry. Each entry carries the block number
 * (the key of {hasRoleAt}) and the block timestamp (for display).
 *
 * The same history can be rebuilt from events alone: OpenZeppelin's `RoleGranted(role, account, sender)` and
 * `RoleRevoked(role, account, sender)` are emitted for exactly the same changes.
 */
interface IRoleHistory {
    /**
     * @notice One change of membership of a role. Stored in one slot with a 40-bit time (valid until the year
     * 36812) and a 48-bit block number (2.8e14 blocks: 8,900 years of one block per millisecond); a write that
     * would not fit reverts instead of wrapping.
     * @param timestamp Block timestamp of the change (seconds since the Unix epoch).
     * @param blockNumber Block number of the change.
     * @param granted True for a grant, false for a revocation or renunciation.
     * @param by The account that made the change (the role's admin, or the account itself when renouncing).
     */
    struct RoleChange {
        uint64 timestamp;
        uint64 blockNumber;
        bool granted;
        address by;
    }

    /// @notice `index` is not below the length of the history of `role` for `account`.
    error RoleHistoryIndexOutOfBounds(bytes32 role, address account, uint256 index, uint256 length);

    /**
     * @notice The full history of `role` for `account`, oldest first.
     * @dev Linear in the length of the history; for very long histories use {roleHistoryLength} and
     * {roleHistoryEntry}, whose cost is bounded.
     */
    function roleHistory(bytes32 role, address account) external view returns (RoleChange[] memory);

    /// @notice Number of entries in the history of `role` for `account`.
    function roleHistoryLength(bytes32 role, address account) external view returns (uint256);

    /// @notice Entry `index` (0 = oldest) of the history of `role` for `account`.
    function roleHistoryEntry(bytes32 role, address account, uint256 index)
        external
        view
        returns (RoleChange memory);

    /**
     * @notice Whether `account` held `role` at any moment of block `blockNumber`: it held the role when the block
     * began, or was granted it by a transaction of that block. So a role granted, used and revoked within one block
     * reads as held in that block, and every write the ledger accepted from an account in block N is matched by
     * `hasRoleAt(role, account, N)`. Logarithmic in the length of the history.
     */
    function hasRoleAt(bytes32 role, address account, uint256 blockNumber) external view returns (bool);
}
