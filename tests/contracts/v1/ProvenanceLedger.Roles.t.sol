// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.24;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {IRecordAnchor} from "../../../contracts/interfaces/IRecordAnchor.sol";
import {IRoleHistory} from "../../../contracts/interfaces/IRoleHistory.sol";
import {V1_LedgerFixture} from "./Fixtures.sol";

contract V1_ProvenanceLedger_grantRole_Test is V1_LedgerFixture {
    function testFuzz_RecordsTheGrant(address account, uint64 when, uint64 blockNumber) public {
        vm.assume(account != supplier);
        when = uint64(bound(when, 0, type(uint40).max)); // the history stores 40-bit times and blocks
        blockNumber = uint64(bound(blockNumber, 0, type(uint40).max));
        vm.warp(when);
        vm.roll(blockNumber);
        vm.expectEmit(true, true, true, true, address(ledger));
        emit IAccessControl.RoleGranted(SUPPLIER_ROLE, account, admin);
        vm.prank(admin);
        ledger.grantRole(SUPPLIER_ROLE, account);

        vm.assertEq(ledger.roleHistoryLength(SUPPLIER_ROLE, account), 1);
        IRoleHistory.RoleChange memory change = ledger.roleHistoryEntry(SUPPLIER_ROLE, account, 0);
        vm.assertEq(change.timestamp, when);
        vm.assertEq(change.blockNumber, blockNumber);
        vm.assertTrue(change.granted);
        vm.assertEq(change.by, admin);
        vm.assertTrue(ledger.hasRoleAt(SUPPLIER_ROLE, account, when));
    }

    function test_NoEntryWhenAlreadyHeld() public {
        vm.prank(admin);
        ledger.grantRole(SUPPLIER_ROLE, supplier);
        vm.assertEq(ledger.roleHistoryLength(SUPPLIER_ROLE, supplier), 1);
    }

    function testFuzz_RevertWhen_CallerIsNotAdmin(address caller) public {
        vm.assume(caller != admin);
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControl.AccessControlUnauthorizedAccount.selector, caller, DEFAULT_ADMIN_ROLE
            )
        );
        vm.prank(caller);
        ledger.grantRole(ISSUER_ROLE, caller);
    }

    function test_GrantEnablesAnchoring() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                IRecordAnchor.UnauthorisedAnchorer.selector, stranger, IRecordAnchor.RecordKind.Other
            )
        );
        vm.prank(stranger);
        ledger.anchor(keccak256("r"), IRecordAnchor.RecordKind.Other, 1);
        vm.prank(admin);
        ledger.grantRole(FACTORY_ROLE, stranger);
        vm.prank(stranger);
        ledger.anchor(keccak256("r"), IRecordAnchor.RecordKind.Other, 1);
    }
}

contract V1_ProvenanceLedger_revokeRole_Test is V1_LedgerFixture {
    function test_RecordsTheRevocation() public {
        vm.warp(START + 50);
        vm.roll(2_000);
        vm.expectEmit(true, true, true, true, address(ledger));
        emit IAccessControl.RoleRevoked(FACTORY_ROLE, factory, admin);
        vm.prank(admin);
        ledger.revokeRole(FACTORY_ROLE, factory);

        IRoleHistory.RoleChange[] memory history = ledger.roleHistory(FACTORY_ROLE, factory);
        vm.assertEq(history.length, 2);
        vm.assertTrue(history[0].granted);
        vm.assertFalse(history[1].granted);
        vm.assertEq(history[1].timestamp, START + 50);
        vm.assertEq(history[1].blockNumber, 2_000);
        vm.assertEq(history[1].by, admin);
    }

    function test_NoEntryWhenNotHeld() public {
        vm.prank(admin);
        ledger.revokeRole(FACTORY_ROLE, stranger);
        vm.assertEq(ledger.roleHistoryLength(FACTORY_ROLE, stranger), 0);
    }

    function test_KeepsOtherAnchoringRights() public {
        vm.startPrank(admin);
        ledger.grantRole(ISSUER_ROLE, factory);
        ledger.revokeRole(FACTORY_ROLE, factory);
        vm.stopPrank();
        // Still an issuer: Product and Other remain, ProductionStep is gone.
        vm.startPrank(factory);
        ledger.anchor(keccak256("p"), IRecordAnchor.RecordKind.Product, 1);
        ledger.anchor(keccak256("o"), IRecordAnchor.RecordKind.Other, 1);
        vm.expectRevert(
            abi.encodeWithSelector(
                IRecordAnchor.UnauthorisedAnchorer.selector, factory, IRecordAnchor.RecordKind.ProductionStep
            )
        );
        ledger.anchor(keccak256("s"), IRecordAnchor.RecordKind.ProductionStep, 1);
        vm.stopPrank();
    }
}

contract V1_ProvenanceLedger_renounceRole_Test is V1_LedgerFixture {
    function test_RecordsTheRenunciationByTheAccount() public {
        vm.expectEmit(true, true, true, true, address(ledger));
        emit IAccessControl.RoleRevoked(ISSUER_ROLE, issuer, issuer);
        vm.prank(issuer);
        ledger.renounceRole(ISSUER_ROLE, issuer);
        IRoleHistory.RoleChange memory change = ledger.roleHistoryEntry(ISSUER_ROLE, issuer, 1);
        vm.assertFalse(change.granted);
        vm.assertEq(change.by, issuer);
    }
}

contract V1_ProvenanceLedger_roleHistory_Test is V1_LedgerFixture {
    function test_EmptyForAnAccountWithoutHistory() public view {
        vm.assertEq(ledger.roleHistory(ISSUER_ROLE, stranger).length, 0);
        vm.assertEq(ledger.roleHistoryLength(ISSUER_ROLE, stranger), 0);
    }

    function testFuzz_RoleHistoryEntry_RevertWhen_OutOfBounds(uint256 index) public {
        index = bound(index, 1, type(uint256).max);
        vm.expectRevert(
            abi.encodeWithSelector(
                IRoleHistory.RoleHistoryIndexOutOfBounds.selector, SUPPLIER_ROLE, supplier, index, 1
            )
        );
        ledger.roleHistoryEntry(SUPPLIER_ROLE, supplier, index);
    }
}

/// @notice hasRoleAt against a model: a random sequence of grants and revocations at random (ordered) times.
contract V1_ProvenanceLedger_hasRoleAt_Test is V1_LedgerFixture {
    function testFuzz_MatchesTheSequenceOfChanges(uint256 ops, uint256 gaps, uint64 probe) public {
        uint256 n = bound(ops, 1, 16);
        uint256[] memory times = new uint256[](n);
        bool[] memory heldAfter = new bool[](n);
        uint256 t = START;
        bool held = false;
        for (uint256 i = 0; i < n; ++i) {
            t += (gaps >> (i * 8)) % 4; // 0..3 seconds: several changes may share a timestamp
            vm.warp(t);
            bool grant = (ops >> (i + 8)) & 1 == 1;
            vm.prank(admin);
            if (grant) ledger.grantRole(REVOKER_ROLE, stranger);
            else ledger.revokeRole(REVOKER_ROLE, stranger);
            held = grant;
            times[i] = t;
            heldAfter[i] = held;
        }
        uint256 p = bound(probe, START - 1, t + 1);
        bool expected = false;
        for (uint256 i = 0; i < n; ++i) {
            if (times[i] <= p) expected = heldAfter[i];
        }
        // forge-lint: disable-next-line(unsafe-typecast)
        vm.assertEq(ledger.hasRoleAt(REVOKER_ROLE, stranger, uint64(p)), expected); // p < 2^32
        vm.assertEq(ledger.hasRoleAt(REVOKER_ROLE, stranger, type(uint64).max), held);
    }

    function test_BeforeAndAfterARevocation() public {
        vm.warp(START + 100);
        vm.prank(admin);
        ledger.revokeRole(ISSUER_ROLE, issuer);
        vm.assertFalse(ledger.hasRoleAt(ISSUER_ROLE, issuer, START - 1));
        vm.assertTrue(ledger.hasRoleAt(ISSUER_ROLE, issuer, START));
        vm.assertTrue(ledger.hasRoleAt(ISSUER_ROLE, issuer, START + 99));
        vm.assertFalse(ledger.hasRoleAt(ISSUER_ROLE, issuer, START + 100));
        vm.assertFalse(ledger.hasRoleAt(ISSUER_ROLE, stranger, START));
    }
}
