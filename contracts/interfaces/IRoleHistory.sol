// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.24;

/**
 * @title IRoleHistory
 * @notice Time-stamped history of every role grant and revocation of the Hallmark ledger.
 *
 * The ledger keeps, for each (role, account) pair, one entry per actual change of membership: a grant of a role
 * the account did not hold, or a revocation (including a renunciation) of a role it held. Calls that change
 * nothing (granting a role already held, revoking a role not held) leave no entry.
 *
 * The same history can be rebuilt from events alone: OpenZeppelin's `RoleGranted(role, account, sender)` and
 * `RoleRevoked(role, account, sender)` are emitted for exactly the same changes, and the block of each log gives
 * the timestamp and block number.
 */
interface IRoleHistory {
    /// @notice One change of membership of a role. Stored with 40-bit time and block fields (valid until the
    /// year 36812 and below block 2^40).
    /// @param timestamp Block timestamp of the change (seconds since the Unix epoch).
    /// @param blockNumber Block number of the change.
    /// @param granted True for a grant, false for a revocation or renunciation.
    /// @param by The account that made the change (the role's admin, or the account itself when renouncing).
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
     * @dev Costs about 3,100 gas per entry in an `eth_call`. The history only grows through the role admin's own
     * transactions; for very long histories use {roleHistoryLength} and {roleHistoryEntry}, whose cost is bounded.
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
     * @notice Whether `account` held `role` at `timestamp`: the state after the last change whose timestamp is at
     * most `timestamp` (false when there is no such change). When several changes share one timestamp, the last
     * one counts. Logarithmic in the length of the history.
     */
    function hasRoleAt(bytes32 role, address account, uint64 timestamp) external view returns (bool);
}
