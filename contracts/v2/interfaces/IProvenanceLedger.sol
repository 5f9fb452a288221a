// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.24;

import {
    IAccessControlDefaultAdminRules
} from "@openzeppelin/contracts/access/extensions/IAccessControlDefaultAdminRules.sol";
import {ICertificateStatus} from "./ICertificateStatus.sol";
import {IOrganisations} from "./IOrganisations.sol";
import {IRecordAnchor} from "./IRecordAnchor.sol";
import {IRoleHistory} from "./IRoleHistory.sol";

/**
 * @title IProvenanceLedger
 * @notice The Hallmark ledger, version 2: organisations and roles (with their history), batches anchored per
 * account, flags, compromise declarations, and the status of certificates per issuing organisation.
 *
 * Roles (OpenZeppelin AccessControlDefaultAdminRules). Every role other than DEFAULT_ADMIN_ROLE is granted only to
 * an account bound to an organisation (see {IOrganisations}) that is not compromised:
 *
 * - DEFAULT_ADMIN_ROLE: one account at a time (put it behind a timelock and a multisig); grants and revokes the
 *   other roles, binds accounts to organisations, declares compromises. It is handed over in two steps with a delay
 *   (`beginDefaultAdminTransfer`, then `acceptDefaultAdminTransfer` after `defaultAdminDelay()`), and renounced in
 *   two steps as well. It grants no operational permission by itself and cannot undo any record: batches, flags,
 *   revocations, supersessions, compromise declarations and design filings stay as written.
 * - SUPPLIER_ROLE: anchors material lot records (and Other records).
 * - FACTORY_ROLE: anchors production steps and products (and Other records).
 * - ISSUER_ROLE: anchors certificates and products (and Other records); supersedes its organisation's certificates.
 * - REVOKER_ROLE: revokes its organisation's certificates and issuances; supersedes them; flags its batches.
 * - REGISTRAR_ROLE: anchors design commitments and registers, assigns and licenses designs in the DesignRegistry.
 */
interface IProvenanceLedger is
    IAccessControlDefaultAdminRules,
    IRoleHistory,
    IOrganisations,
    IRecordAnchor,
    ICertificateStatus
{
    /// @notice Role that anchors material lot records.
    function SUPPLIER_ROLE() external view returns (bytes32);

    /// @notice Role that anchors production steps and products.
    function FACTORY_ROLE() external view returns (bytes32);

    /// @notice Role that anchors certificates and products, and supersedes certificates.
    function ISSUER_ROLE() external view returns (bytes32);

    /// @notice Role that revokes and supersedes certificates and flags batches of its organisation.
    function REVOKER_ROLE() external view returns (bytes32);

    /// @notice Role that anchors design commitments and registers designs in the DesignRegistry.
    function REGISTRAR_ROLE() external view returns (bytes32);

    /// @notice Version of this contract's interface and behaviour ("2.0.0").
    function version() external pure returns (string memory);
}
