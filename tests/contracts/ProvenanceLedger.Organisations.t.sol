// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.24;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {
    IAccessControlDefaultAdminRules
} from "@openzeppelin/contracts/access/extensions/IAccessControlDefaultAdminRules.sol";
import {IERC165} from "@openzeppelin/contracts/utils/introspection/IERC165.sol";
import {ProvenanceLedger} from "../../contracts/v2/ProvenanceLedger.sol";
import {ICertificateStatus} from "../../contracts/v2/interfaces/ICertificateStatus.sol";
import {IOrganisations} from "../../contracts/v2/interfaces/IOrganisations.sol";
import {IProvenanceLedger} from "../../contracts/v2/interfaces/IProvenanceLedger.sol";
import {IRecordAnchor} from "../../contracts/v2/interfaces/IRecordAnchor.sol";
import {IRoleHistory} from "../../contracts/v2/interfaces/IRoleHistory.sol";
import {LedgerFixture} from "./utils/Fixtures.sol";

contract ProvenanceLedger_constructor_Test is LedgerFixture {
    function test_RevertWhen_AdminIsZero() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControlDefaultAdminRules.AccessControlInvalidDefaultAdmin.selector, address(0)
            )
        );
        new ProvenanceLedger(ADMIN_DELAY, address(0));
    }

    function test_GrantsOnlyTheAdminRole() public view {
        vm.assertTrue(ledger.hasRole(DEFAULT_ADMIN_ROLE, admin));
        vm.assertEq(ledger.defaultAdmin(), admin);
        vm.assertEq(ledger.defaultAdminDelay(), ADMIN_DELAY);
        vm.assertFalse(ledger.hasRole(DEFAULT_ADMIN_ROLE, deployer));
        vm.assertFalse(ledger.hasRole(SUPPLIER_ROLE, admin));
        vm.assertEq(ledger.accountOf(admin).organisation, bytes16(0));
    }

    function test_RecordsTheAdminGrantInTheHistory() public {
        vm.expectEmit(true, true, true, true);
        emit IAccessControl.RoleGranted(DEFAULT_ADMIN_ROLE, stranger, address(this));
        ProvenanceLedger fresh = new ProvenanceLedger(1 days, stranger);
        IRoleHistory.RoleChange[] memory history = fresh.roleHistory(DEFAULT_ADMIN_ROLE, stranger);
        vm.assertEq(history.length, 1);
        vm.assertTrue(history[0].granted);
        vm.assertEq(history[0].by, address(this));
        vm.assertEq(history[0].timestamp, START);
        vm.assertEq(history[0].blockNumber, 1_000);
        vm.assertTrue(fresh.hasRoleAt(DEFAULT_ADMIN_ROLE, stranger, 1_000));
        vm.assertFalse(fresh.hasRoleAt(DEFAULT_ADMIN_ROLE, stranger, 999));
    }

    function test_Constants() public view {
        vm.assertEq(ledger.SUPPLIER_ROLE(), keccak256("SUPPLIER_ROLE"));
        vm.assertEq(ledger.FACTORY_ROLE(), keccak256("FACTORY_ROLE"));
        vm.assertEq(ledger.ISSUER_ROLE(), keccak256("ISSUER_ROLE"));
        vm.assertEq(ledger.REVOKER_ROLE(), keccak256("REVOKER_ROLE"));
        vm.assertEq(ledger.REGISTRAR_ROLE(), keccak256("REGISTRAR_ROLE"));
        vm.assertEq(ledger.MAX_PROOF_LENGTH(), 64);
        vm.assertEq(ledger.MAX_MULTIPROOF_RECORDS(), 1024);
        vm.assertEq(ledger.MAX_MULTIPROOF_LENGTH(), 1024);
        vm.assertEq(ledger.version(), "2.0.0");
    }

    function test_SupportsItsInterfaces() public view {
        vm.assertTrue(ledger.supportsInterface(type(IProvenanceLedger).interfaceId));
        vm.assertTrue(ledger.supportsInterface(type(IRoleHistory).interfaceId));
        vm.assertTrue(ledger.supportsInterface(type(IOrganisations).interfaceId));
        vm.assertTrue(ledger.supportsInterface(type(IRecordAnchor).interfaceId));
        vm.assertTrue(ledger.supportsInterface(type(ICertificateStatus).interfaceId));
        vm.assertTrue(ledger.supportsInterface(type(IAccessControlDefaultAdminRules).interfaceId));
        vm.assertTrue(ledger.supportsInterface(type(IAccessControl).interfaceId));
        vm.assertTrue(ledger.supportsInterface(type(IERC165).interfaceId));
        vm.assertFalse(ledger.supportsInterface(0xffffffff));
    }
}

contract ProvenanceLedger_bindAccount_Test is LedgerFixture {
    function testFuzz_BindsAndEmits(address account, bytes16 organisation) public {
        vm.assume(account != address(0) && organisation != 0);
        vm.assume(ledger.accountOf(account).organisation == 0);
        vm.expectEmit(true, true, true, true, address(ledger));
        emit IOrganisations.AccountBound(account, organisation, admin);
        vm.prank(admin);
        ledger.bindAccount(account, organisation);
        IOrganisations.Account memory a = ledger.accountOf(account);
        vm.assertEq(a.organisation, organisation);
        vm.assertEq(a.roles, 0);
        vm.assertEq(a.compromisedFrom, 0);
    }

    function testFuzz_RevertWhen_AlreadyBound(bytes16 other) public {
        vm.assume(other != 0);
        vm.expectRevert(
            abi.encodeWithSelector(IOrganisations.AccountAlreadyBound.selector, issuer, ORG_BRAND)
        );
        vm.prank(admin);
        ledger.bindAccount(issuer, other);
    }

    function test_RevertWhen_ZeroArguments() public {
        vm.startPrank(admin);
        vm.expectRevert(IOrganisations.ZeroAccount.selector);
        ledger.bindAccount(address(0), ORG_BRAND);
        vm.expectRevert(IOrganisations.ZeroOrganisation.selector);
        ledger.bindAccount(stranger, bytes16(0));
        vm.stopPrank();
    }

    function testFuzz_RevertWhen_CallerIsNotAdmin(address caller) public {
        vm.assume(caller != admin);
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControl.AccessControlUnauthorizedAccount.selector, caller, DEFAULT_ADMIN_ROLE
            )
        );
        vm.prank(caller);
        ledger.bindAccount(stranger, ORG_BRAND);
    }
}

contract ProvenanceLedger_grantRole_Test is LedgerFixture {
    function test_RevertWhen_AccountIsNotBound() public {
        vm.expectRevert(abi.encodeWithSelector(IOrganisations.AccountNotBound.selector, stranger));
        vm.prank(admin);
        ledger.grantRole(ISSUER_ROLE, stranger);
    }

    function test_RevertWhen_AccountIsCompromised() public {
        vm.startPrank(admin);
        ledger.markCompromised(issuer, 1_000, 3);
        vm.expectRevert(abi.encodeWithSelector(IOrganisations.AccountIsCompromised.selector, issuer, 1_000));
        ledger.grantRole(ISSUER_ROLE, issuer);
        vm.stopPrank();
    }

    function test_RevertWhen_GrantingTheAdminRole() public {
        vm.expectRevert(IAccessControlDefaultAdminRules.AccessControlEnforcedDefaultAdminRules.selector);
        vm.prank(admin);
        ledger.grantRole(DEFAULT_ADMIN_ROLE, issuer);
    }

    function test_RolesAndKindsFollowEveryChange() public {
        vm.startPrank(admin);
        ledger.grantRole(REVOKER_ROLE, issuer);
        vm.assertEq(ledger.accountOf(issuer).roles, 4 | 8);
        ledger.grantRole(REGISTRAR_ROLE, issuer);
        ledger.grantRole(SUPPLIER_ROLE, issuer);
        ledger.grantRole(FACTORY_ROLE, issuer);
        vm.assertEq(ledger.accountOf(issuer).roles, 31);
        ledger.revokeRole(ISSUER_ROLE, issuer);
        vm.assertEq(ledger.accountOf(issuer).roles, 1 | 2 | 8 | 16);
        vm.stopPrank();
        // Without ISSUER_ROLE: no certificates; products still through FACTORY_ROLE.
        vm.expectRevert(
            abi.encodeWithSelector(
                IRecordAnchor.UnauthorisedAnchorer.selector, issuer, IRecordAnchor.RecordKind.Certificate
            )
        );
        vm.prank(issuer);
        ledger.anchor(keccak256("c"), IRecordAnchor.RecordKind.Certificate, 1);
        vm.prank(issuer);
        ledger.anchor(keccak256("p"), IRecordAnchor.RecordKind.Product, 1);
        vm.prank(issuer);
        ledger.anchor(keccak256("d"), IRecordAnchor.RecordKind.DesignCommitment, 1);
    }
}

contract ProvenanceLedger_markCompromised_Test is LedgerFixture {
    function testFuzz_MarksTakesRolesAndEmits(uint64 fromBlock, uint16 reason) public {
        vm.roll(5_000);
        fromBlock = uint64(bound(fromBlock, 1, 5_000));
        vm.assume(reason != 0);
        vm.prank(admin);
        ledger.grantRole(REVOKER_ROLE, issuer);
        vm.expectEmit(true, true, true, true, address(ledger));
        emit IOrganisations.AccountCompromised(issuer, ORG_BRAND, fromBlock, reason, admin);
        vm.expectEmit(true, true, true, true, address(ledger));
        emit IAccessControl.RoleRevoked(ISSUER_ROLE, issuer, admin);
        vm.expectEmit(true, true, true, true, address(ledger));
        emit IAccessControl.RoleRevoked(REVOKER_ROLE, issuer, admin);
        vm.prank(admin);
        ledger.markCompromised(issuer, fromBlock, reason);

        IOrganisations.Account memory a = ledger.accountOf(issuer);
        vm.assertEq(a.organisation, ORG_BRAND);
        vm.assertEq(a.roles, 0);
        vm.assertEq(a.compromisedFrom, fromBlock);
        IOrganisations.Compromise memory c = ledger.compromiseOf(issuer);
        vm.assertEq(c.fromBlock, fromBlock);
        vm.assertEq(c.reason, reason);
        vm.assertEq(c.markedAt, START);
        vm.assertEq(c.markedBy, admin);
        vm.assertFalse(ledger.hasRole(ISSUER_ROLE, issuer));
        vm.assertFalse(ledger.hasRole(REVOKER_ROLE, issuer));
        vm.assertEq(ledger.roleHistoryLength(ISSUER_ROLE, issuer), 2);
    }

    function test_MovesOnlyEarlier() public {
        vm.roll(5_000);
        vm.startPrank(admin);
        ledger.markCompromised(issuer, 4_000, 3);
        vm.expectRevert(
            abi.encodeWithSelector(IOrganisations.CompromiseCannotMoveLater.selector, issuer, 4_000, 4_500)
        );
        ledger.markCompromised(issuer, 4_500, 3);
        vm.expectRevert(
            abi.encodeWithSelector(IOrganisations.CompromiseCannotMoveLater.selector, issuer, 4_000, 4_000)
        );
        ledger.markCompromised(issuer, 4_000, 3);
        vm.warp(START + 60);
        ledger.markCompromised(issuer, 3_000, 9);
        vm.stopPrank();
        IOrganisations.Compromise memory c = ledger.compromiseOf(issuer);
        vm.assertEq(c.fromBlock, 3_000);
        vm.assertEq(c.reason, 9);
        vm.assertEq(c.markedAt, START + 60);
        vm.assertEq(ledger.accountOf(issuer).compromisedFrom, 3_000);
    }

    function test_RevertWhen_BlockIsZeroOrInTheFuture() public {
        vm.startPrank(admin);
        vm.expectRevert(abi.encodeWithSelector(IOrganisations.InvalidCompromiseBlock.selector, 0, 1_000));
        ledger.markCompromised(issuer, 0, 3);
        vm.expectRevert(abi.encodeWithSelector(IOrganisations.InvalidCompromiseBlock.selector, 1_001, 1_000));
        ledger.markCompromised(issuer, 1_001, 3);
        vm.stopPrank();
    }

    function test_RevertWhen_NotBoundOrNoReason() public {
        vm.startPrank(admin);
        vm.expectRevert(abi.encodeWithSelector(IOrganisations.AccountNotBound.selector, stranger));
        ledger.markCompromised(stranger, 1, 3);
        vm.expectRevert(IRecordAnchor.ZeroReason.selector);
        ledger.markCompromised(issuer, 1, 0);
        vm.stopPrank();
    }

    function testFuzz_RevertWhen_CallerIsNotAdmin(address caller) public {
        vm.assume(caller != admin);
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControl.AccessControlUnauthorizedAccount.selector, caller, DEFAULT_ADMIN_ROLE
            )
        );
        vm.prank(caller);
        ledger.markCompromised(issuer, 1, 3);
    }

    function test_ACompromisedAccountWritesNothing() public {
        vm.prank(admin);
        ledger.markCompromised(revoker, 1_000, 3);
        vm.startPrank(revoker);
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControl.AccessControlUnauthorizedAccount.selector, revoker, REVOKER_ROLE
            )
        );
        ledger.revokeIssuance(keccak256("i"), 1);
        vm.expectRevert(
            abi.encodeWithSelector(
                IRecordAnchor.UnauthorisedAnchorer.selector, revoker, IRecordAnchor.RecordKind.Other
            )
        );
        ledger.anchor(keccak256("r"), IRecordAnchor.RecordKind.Other, 1);
        vm.stopPrank();
    }
}

/// @notice DEFAULT_ADMIN_ROLE changes hands in two steps and only after the delay; renouncing it is delayed too.
contract ProvenanceLedger_defaultAdmin_Test is LedgerFixture {
    function test_TransferWaitsForTheDelayAndIsRecorded() public {
        vm.prank(admin);
        ledger.beginDefaultAdminTransfer(stranger);
        (address pending, uint48 schedule) = ledger.pendingDefaultAdmin();
        vm.assertEq(pending, stranger);
        vm.assertEq(schedule, START + ADMIN_DELAY);
        vm.warp(START + ADMIN_DELAY);
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControlDefaultAdminRules.AccessControlEnforcedDefaultAdminDelay.selector, schedule
            )
        );
        vm.prank(stranger);
        ledger.acceptDefaultAdminTransfer();
        vm.warp(START + ADMIN_DELAY + 1);
        vm.roll(2_000);
        vm.prank(stranger);
        ledger.acceptDefaultAdminTransfer();
        vm.assertEq(ledger.defaultAdmin(), stranger);
        vm.assertFalse(ledger.hasRole(DEFAULT_ADMIN_ROLE, admin));
        vm.assertTrue(ledger.hasRoleAt(DEFAULT_ADMIN_ROLE, admin, 1_999));
        vm.assertTrue(ledger.hasRoleAt(DEFAULT_ADMIN_ROLE, admin, 2_000)); // held when that block began
        vm.assertFalse(ledger.hasRoleAt(DEFAULT_ADMIN_ROLE, admin, 2_001));
        vm.assertTrue(ledger.hasRoleAt(DEFAULT_ADMIN_ROLE, stranger, 2_000));
    }

    function test_TheAdminCanCancelAStolenTransfer() public {
        vm.prank(admin);
        ledger.beginDefaultAdminTransfer(stranger);
        vm.prank(admin);
        ledger.cancelDefaultAdminTransfer();
        vm.warp(START + ADMIN_DELAY + 1);
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControlDefaultAdminRules.AccessControlInvalidDefaultAdmin.selector, stranger
            )
        );
        vm.prank(stranger);
        ledger.acceptDefaultAdminTransfer();
    }

    function test_RenouncingIsDelayed() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControlDefaultAdminRules.AccessControlEnforcedDefaultAdminDelay.selector, 0
            )
        );
        vm.prank(admin);
        ledger.renounceRole(DEFAULT_ADMIN_ROLE, admin);
    }
}
