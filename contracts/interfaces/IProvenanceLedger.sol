// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.24;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {ICertificateStatus} from "./ICertificateStatus.sol";
import {IRecordAnchor} from "./IRecordAnchor.sol";
import {IRoleHistory} from "./IRoleHistory.sol";

/**
 * @title IProvenanceLedger
 * @notice The Hallmark ledger: roles (with their history), anchored record batches and certificate status.
 *
 * Roles (OpenZeppelin AccessControl; every role is administered by DEFAULT_ADMIN_ROLE, which by itself grants
 * no operational permission):
 *
 * - DEFAULT_ADMIN_ROLE: grants and revokes roles; administrator of the DesignRegistry as well.
 * - SUPPLIER_ROLE: anchors material lot records (and Other records).
 * - FACTORY_ROLE: anchors production steps and products (and Other records).
 * - ISSUER_ROLE: anchors certificates and products (and Other records); supersedes certificates.
 * - REVOKER_ROLE: revokes certificates and certificate batches.
 * - REGISTRAR_ROLE: registers designs in the DesignRegistry.
 */
interface IProvenanceLedger is IAccessControl, IRoleHistory, IRecordAnchor, ICertificateStatus {
    /// @notice The admin account given to the constructor is the zero address.
    error ZeroAdmin();

    /// @notice Role that anchors material lot records.
    function SUPPLIER_ROLE() external view returns (bytes32);

    /// @notice Role that anchors production steps and products.
    function FACTORY_ROLE() external view returns (bytes32);

    /// @notice Role that anchors certificates and products, and supersedes certificates.
    function ISSUER_ROLE() external view returns (bytes32);

    /// @notice Role that revokes certificates and certificate batches.
    function REVOKER_ROLE() external view returns (bytes32);

    /// @notice Role that registers designs in the DesignRegistry.
    function REGISTRAR_ROLE() external view returns (bytes32);

    /// @notice Version of this contract's interface and behaviour ("1.0.0").
    function version() external pure returns (string memory);
}
