// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.24;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {IRoleHistory} from "../../contracts/v2/interfaces/IRoleHistory.sol";
import {LedgerFixture} from "./utils/Fixtures.sol";

contract ProvenanceLedger_roleHistory_Test is LedgerFixture {
    function testFuzz_RecordsEveryChangeWithTimeAndBlock(uint40 when, uint48 number) public {
        vm.assume(number >= 1_000);
        vm.warp(when);
        vm.roll(number);
        vm.expectEmit(true, true, true, true, address(ledger));
        emit IAccessControl.RoleRevoked(SUPPLIER_ROLE, supplier, admin);
        vm.prank(admin);
        ledger.revokeRole(SUPPLIER_ROLE, supplier);

        vm.assertEq(ledger.roleHistoryLength(SUPPLIER_ROLE, supplier), 2);
        IRoleHistory.RoleChange memory change = ledger.roleHistoryEntry(SUPPLIER_ROLE, supplier, 1);
        vm.assertEq(change.timestamp, when);
        vm.assertEq(change.blockNumber, number);
        vm.assertFalse(change.granted);
        vm.assertEq(change.by, admin);
        IRoleHistory.RoleChange[] memory all = ledger.roleHistory(SUPPLIER_ROLE, supplier);
        vm.assertEq(all.length, 2);
        vm.assertTrue(all[0].granted);
        vm.assertEq(all[0].blockNumber, 1_000);
    }

    function test_NoEntryWhenNothingChanges() public {
        vm.startPrank(admin);
        ledger.grantRole(SUPPLIER_ROLE, supplier);
        ledger.revokeRole(FACTORY_ROLE, supplier);
        vm.stopPrank();
        vm.assertEq(ledger.roleHistoryLength(SUPPLIER_ROLE, supplier), 1);
        vm.assertEq(ledger.roleHistoryLength(FACTORY_ROLE, supplier), 0);
    }

    function test_RenunciationIsRecordedAsTheAccountsOwn() public {
        vm.prank(supplier);
        ledger.renounceRole(SUPPLIER_ROLE, supplier);
        IRoleHistory.RoleChange memory change = ledger.roleHistoryEntry(SUPPLIER_ROLE, supplier, 1);
        vm.assertFalse(change.granted);
        vm.assertEq(change.by, supplier);
        vm.assertEq(ledger.accountOf(supplier).roles, 0);
    }

    function test_RevertWhen_EntryIsOutOfBounds() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                IRoleHistory.RoleHistoryIndexOutOfBounds.selector, SUPPLIER_ROLE, supplier, 1, 1
            )
        );
        ledger.roleHistoryEntry(SUPPLIER_ROLE, supplier, 1);
    }

    function test_RevertWhen_TheClockNoLongerFits() public {
        vm.warp(uint256(type(uint40).max) + 1);
        vm.expectRevert(
            abi.encodeWithSelector(
                SafeCast.SafeCastOverflowedUintDowncast.selector, 40, uint256(type(uint40).max) + 1
            )
        );
        vm.prank(admin);
        ledger.revokeRole(SUPPLIER_ROLE, supplier);
    }
}

contract ProvenanceLedger_hasRoleAt_Test is LedgerFixture {
    /// Granted in block 1,000 (setUp), revoked in 1,010, granted in 1,020.
    function test_KeyedByBlock() public {
        vm.roll(1_010);
        vm.prank(admin);
        ledger.revokeRole(FACTORY_ROLE, factory);
        vm.roll(1_020);
        vm.prank(admin);
        ledger.grantRole(FACTORY_ROLE, factory);
        vm.assertFalse(ledger.hasRoleAt(FACTORY_ROLE, factory, 999));
        vm.assertTrue(ledger.hasRoleAt(FACTORY_ROLE, factory, 1_000));
        vm.assertTrue(ledger.hasRoleAt(FACTORY_ROLE, factory, 1_009));
        vm.assertTrue(ledger.hasRoleAt(FACTORY_ROLE, factory, 1_010)); // held when the block began
        vm.assertFalse(ledger.hasRoleAt(FACTORY_ROLE, factory, 1_011));
        vm.assertFalse(ledger.hasRoleAt(FACTORY_ROLE, factory, 1_019));
        vm.assertTrue(ledger.hasRoleAt(FACTORY_ROLE, factory, 1_020));
        vm.assertTrue(ledger.hasRoleAt(FACTORY_ROLE, factory, type(uint256).max));
    }

    /// Granted, used and revoked within one block: held in that block, and only there.
    function test_GrantedUsedAndRevokedInOneBlock() public {
        vm.roll(2_000);
        vm.startPrank(admin);
        ledger.bindAccount(stranger, ORG_SUPPLIER);
        ledger.grantRole(SUPPLIER_ROLE, stranger);
        ledger.revokeRole(SUPPLIER_ROLE, stranger);
        vm.stopPrank();
        vm.assertFalse(ledger.hasRoleAt(SUPPLIER_ROLE, stranger, 1_999));
        vm.assertTrue(ledger.hasRoleAt(SUPPLIER_ROLE, stranger, 2_000));
        vm.assertFalse(ledger.hasRoleAt(SUPPLIER_ROLE, stranger, 2_001));
        vm.assertFalse(ledger.hasRole(SUPPLIER_ROLE, stranger));
    }

    /// Against a model: for random sequences of changes over blocks, "held at some moment of block b".
    function testFuzz_MatchesAModel(uint256 ops) public {
        vm.prank(admin);
        ledger.bindAccount(stranger, ORG_FACTORY);
        bool held = false;
        bool[40] memory heldDuring; // 40 blocks, up to three changes each: 120 of the 128 two-bit ops
        for (uint256 i = 0; i < 40; ++i) {
            heldDuring[i] = held;
            for (uint256 j = 0; j < 3; ++j) {
                uint256 op = (ops >> (2 * (3 * i + j))) & 3;
                if (op == 0) continue;
                vm.roll(3_000 + i);
                vm.prank(admin);
                if (op == 1) {
                    ledger.grantRole(FACTORY_ROLE, stranger);
                    held = true;
                    heldDuring[i] = true;
                } else {
                    ledger.revokeRole(FACTORY_ROLE, stranger);
                    held = false;
                }
            }
        }
        for (uint256 i = 0; i < 40; ++i) {
            vm.assertEq(ledger.hasRoleAt(FACTORY_ROLE, stranger, 3_000 + i), heldDuring[i]);
        }
        vm.assertFalse(ledger.hasRoleAt(FACTORY_ROLE, stranger, 2_999));
        vm.assertEq(ledger.hasRoleAt(FACTORY_ROLE, stranger, 3_040), held);
        vm.assertEq(ledger.hasRole(FACTORY_ROLE, stranger), held);
    }
}
