// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.24;

import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {IOrganisations} from "../../contracts/v2/interfaces/IOrganisations.sol";
import {IRecordAnchor} from "../../contracts/v2/interfaces/IRecordAnchor.sol";
import {LedgerFixture} from "./utils/Fixtures.sol";
import {MerkleTree} from "./utils/MerkleTree.sol";

contract ProvenanceLedger_anchor_Test is LedgerFixture {
    bytes32 internal constant ROOT = keccak256("root");

    function _allowed(IRecordAnchor.RecordKind kind, address account) internal view returns (bool) {
        if (account == supplier) {
            return kind == IRecordAnchor.RecordKind.MaterialLot || kind == IRecordAnchor.RecordKind.Other;
        }
        if (account == factory) {
            return kind == IRecordAnchor.RecordKind.ProductionStep || kind == IRecordAnchor.RecordKind.Product
                || kind == IRecordAnchor.RecordKind.Other;
        }
        if (account == issuer) {
            return kind == IRecordAnchor.RecordKind.Certificate || kind == IRecordAnchor.RecordKind.Product
                || kind == IRecordAnchor.RecordKind.Other;
        }
        if (account == registrar) return kind == IRecordAnchor.RecordKind.DesignCommitment;
        return false;
    }

    function _actor(uint256 seed) internal view returns (address) {
        address[7] memory actors = [admin, supplier, factory, issuer, revoker, registrar, stranger];
        return actors[seed % 7];
    }

    function test_EveryKindAndRoleCombination() public {
        for (uint256 k = 0; k < 6; ++k) {
            for (uint256 a = 0; a < 7; ++a) {
                IRecordAnchor.RecordKind kind = IRecordAnchor.RecordKind(k);
                address account = _actor(a);
                bytes32 root = keccak256(abi.encode(k, a));
                if (_allowed(kind, account)) {
                    vm.prank(account);
                    ledger.anchor(root, kind, 1);
                    vm.assertEq(uint256(ledger.batchOf(account, root).kind), k);
                    continue;
                }
                vm.expectRevert(
                    abi.encodeWithSelector(IRecordAnchor.UnauthorisedAnchorer.selector, account, kind)
                );
                vm.prank(account);
                ledger.anchor(root, kind, 1);
            }
        }
    }

    function testFuzz_StoresBatchAndEmits(
        bytes32 root,
        uint256 kindSeed,
        uint24 count,
        uint40 when,
        uint48 number
    ) public {
        vm.assume(root != bytes32(0) && count != 0);
        IRecordAnchor.RecordKind kind = kindOf(kindSeed);
        address anchorer = anchorerFor(kind);
        vm.warp(when);
        vm.roll(number);
        vm.expectEmit(true, true, true, true, address(ledger));
        emit IRecordAnchor.BatchAnchored(anchorer, root, kind, count);
        vm.prank(anchorer);
        ledger.anchor(root, kind, count);

        IRecordAnchor.Batch memory b = ledger.batchOf(anchorer, root);
        vm.assertEq(uint256(b.kind), uint256(kind));
        vm.assertEq(b.count, count);
        vm.assertEq(b.organisation, ledger.accountOf(anchorer).organisation);
        vm.assertEq(b.anchoredAt, when);
        vm.assertEq(b.anchoredBlock, number);
        vm.assertTrue(ledger.isAnchored(anchorer, root));
        vm.assertFalse(ledger.isAnchored(stranger, root));
    }

    /// The same root from two accounts: two unrelated batches, neither disturbs the other.
    function testFuzz_SameRootFromTwoAccounts(bytes32 root) public {
        vm.assume(root != 0);
        vm.prank(supplier);
        ledger.anchor(root, IRecordAnchor.RecordKind.Other, 7);
        vm.warp(START + 1);
        vm.prank(issuer);
        ledger.anchor(root, IRecordAnchor.RecordKind.Certificate, 9);
        IRecordAnchor.Batch memory s = ledger.batchOf(supplier, root);
        IRecordAnchor.Batch memory i = ledger.batchOf(issuer, root);
        vm.assertEq(uint256(s.kind), uint256(IRecordAnchor.RecordKind.Other));
        vm.assertEq(s.count, 7);
        vm.assertEq(s.organisation, ORG_SUPPLIER);
        vm.assertEq(s.anchoredAt, START);
        vm.assertEq(uint256(i.kind), uint256(IRecordAnchor.RecordKind.Certificate));
        vm.assertEq(i.count, 9);
        vm.assertEq(i.organisation, ORG_BRAND);
        vm.assertEq(i.anchoredAt, START + 1);
    }

    function testFuzz_RevertWhen_RootAlreadyAnchoredBySameAccount(uint256 kindSeed) public {
        IRecordAnchor.RecordKind kind = kindOf(kindSeed);
        address anchorer = anchorerFor(kind);
        vm.prank(anchorer);
        ledger.anchor(ROOT, kind, 12);
        vm.warp(START + 100);
        vm.expectRevert(
            abi.encodeWithSelector(
                IRecordAnchor.RootAlreadyAnchored.selector, anchorer, ROOT, kind, 12, START
            )
        );
        vm.prank(anchorer);
        ledger.anchor(ROOT, kind, 3);
    }

    function test_RevertWhen_ZeroRootOrCount() public {
        vm.startPrank(supplier);
        vm.expectRevert(IRecordAnchor.ZeroRoot.selector);
        ledger.anchor(bytes32(0), IRecordAnchor.RecordKind.MaterialLot, 1);
        vm.expectRevert(IRecordAnchor.ZeroCount.selector);
        ledger.anchor(ROOT, IRecordAnchor.RecordKind.MaterialLot, 0);
        vm.stopPrank();
    }

    function test_RevertWhen_KindIsOutOfRange() public {
        vm.prank(supplier);
        (bool ok,) =
            address(ledger).call(abi.encodeWithSelector(IRecordAnchor.anchor.selector, ROOT, uint8(6), 1));
        vm.assertFalse(ok);
    }

    function test_RevertWhen_ClockNoLongerFits() public {
        vm.warp(uint256(type(uint40).max) + 1);
        vm.expectRevert(
            abi.encodeWithSelector(
                IRecordAnchor.ClockOutOfRange.selector, uint256(type(uint40).max) + 1, 1_000
            )
        );
        vm.prank(supplier);
        ledger.anchor(ROOT, IRecordAnchor.RecordKind.MaterialLot, 1);
        vm.warp(START);
        vm.roll(uint256(type(uint48).max) + 1);
        vm.expectRevert(
            abi.encodeWithSelector(
                IRecordAnchor.ClockOutOfRange.selector, START, uint256(type(uint48).max) + 1
            )
        );
        vm.prank(supplier);
        ledger.anchor(ROOT, IRecordAnchor.RecordKind.MaterialLot, 1);
    }

    function test_RevokedRoleStopsAnchoringButKeepsBatches() public {
        vm.prank(supplier);
        ledger.anchor(ROOT, IRecordAnchor.RecordKind.MaterialLot, 1);
        vm.prank(admin);
        ledger.revokeRole(SUPPLIER_ROLE, supplier);
        vm.expectRevert(
            abi.encodeWithSelector(
                IRecordAnchor.UnauthorisedAnchorer.selector, supplier, IRecordAnchor.RecordKind.MaterialLot
            )
        );
        vm.prank(supplier);
        ledger.anchor(keccak256("later"), IRecordAnchor.RecordKind.MaterialLot, 1);
        vm.assertEq(
            uint256(ledger.batchStatus(supplier, ROOT).state), uint256(IRecordAnchor.BatchState.Valid)
        );
    }
}

contract ProvenanceLedger_flagBatch_Test is LedgerFixture {
    bytes32 internal constant ROOT = keccak256("root");

    function testFuzz_FlagsAndEmits(uint16 reason, uint256 kindSeed) public {
        vm.assume(reason != 0);
        IRecordAnchor.RecordKind kind = kindOf(kindSeed);
        address anchorer = anchorerFor(kind);
        vm.prank(anchorer);
        ledger.anchor(ROOT, kind, 3);
        vm.warp(START + 50);
        bytes16 organisation = ledger.accountOf(anchorer).organisation;
        vm.expectEmit(true, true, true, true, address(ledger));
        emit IRecordAnchor.BatchFlagged(anchorer, ROOT, organisation, reason, anchorer);
        vm.prank(anchorer);
        ledger.flagBatch(anchorer, ROOT, reason);

        IRecordAnchor.Flag memory f = ledger.flagOf(anchorer, ROOT);
        vm.assertEq(f.flaggedBy, anchorer);
        vm.assertEq(f.flaggedAt, START + 50);
        vm.assertEq(f.reason, reason);
        IRecordAnchor.BatchStatus memory s = ledger.batchStatus(anchorer, ROOT);
        vm.assertEq(uint256(s.state), uint256(IRecordAnchor.BatchState.Flagged));
        vm.assertEq(uint256(s.cause), uint256(IRecordAnchor.Cause.BatchFlagged));
        vm.assertEq(s.reason, reason);
        vm.assertEq(s.at, START + 50);
        vm.assertEq(s.batch.count, 3);
    }

    function test_ARevokerOfTheOrganisationFlagsAnyKind() public {
        vm.prank(issuer);
        ledger.anchor(ROOT, IRecordAnchor.RecordKind.Product, 3);
        vm.prank(revoker);
        ledger.flagBatch(issuer, ROOT, 4);
        vm.assertEq(ledger.flagOf(issuer, ROOT).flaggedBy, revoker);
    }

    function test_RevertWhen_AnotherOrganisationFlags() public {
        vm.prank(issuer);
        ledger.anchor(ROOT, IRecordAnchor.RecordKind.Certificate, 3);
        address[4] memory others = [revokerB, issuerB, supplier, stranger];
        bytes16[4] memory theirs = [ORG_BRAND_B, ORG_BRAND_B, ORG_SUPPLIER, bytes16(0)];
        for (uint256 i = 0; i < others.length; ++i) {
            vm.expectRevert(
                abi.encodeWithSelector(
                    IRecordAnchor.NotOwnOrganisation.selector, others[i], theirs[i], ORG_BRAND
                )
            );
            vm.prank(others[i]);
            ledger.flagBatch(issuer, ROOT, 4);
        }
    }

    function test_RevertWhen_CallerHasNoRoleForTheKind() public {
        vm.prank(admin);
        ledger.bindAccount(stranger, ORG_FACTORY);
        vm.prank(factory);
        ledger.anchor(ROOT, IRecordAnchor.RecordKind.ProductionStep, 3);
        vm.expectRevert(
            abi.encodeWithSelector(
                IRecordAnchor.UnauthorisedFlagger.selector, stranger, IRecordAnchor.RecordKind.ProductionStep
            )
        );
        vm.prank(stranger);
        ledger.flagBatch(factory, ROOT, 4);
    }

    function test_RevertWhen_AlreadyFlaggedOrUnknownOrNoReason() public {
        vm.startPrank(supplier);
        ledger.anchor(ROOT, IRecordAnchor.RecordKind.MaterialLot, 3);
        ledger.flagBatch(supplier, ROOT, 4);
        vm.expectRevert(
            abi.encodeWithSelector(IRecordAnchor.BatchAlreadyFlagged.selector, supplier, ROOT, 4, START)
        );
        ledger.flagBatch(supplier, ROOT, 5);
        vm.expectRevert(
            abi.encodeWithSelector(IRecordAnchor.BatchNotAnchored.selector, supplier, keccak256("x"))
        );
        ledger.flagBatch(supplier, keccak256("x"), 4);
        vm.expectRevert(IRecordAnchor.ZeroReason.selector);
        ledger.flagBatch(supplier, ROOT, 0);
        vm.stopPrank();
    }
}

contract ProvenanceLedger_batchStatus_Test is LedgerFixture {
    bytes32 internal constant ROOT = keccak256("root");

    function test_Unknown() public view {
        IRecordAnchor.BatchStatus memory s = ledger.batchStatus(supplier, ROOT);
        vm.assertEq(uint256(s.state), uint256(IRecordAnchor.BatchState.Unknown));
        vm.assertEq(uint256(s.cause), uint256(IRecordAnchor.Cause.NotAnchored));
        vm.assertEq(s.batch.count, 0);
    }

    /// Batches anchored in and after the compromise block read Flagged; earlier ones stay Valid.
    function testFuzz_CompromiseFlagsFromItsBlock(uint64 fromBlock) public {
        for (uint256 i = 0; i < 5; ++i) {
            vm.roll(1_000 + i * 10);
            vm.prank(supplier);
            ledger.anchor(keccak256(abi.encode(i)), IRecordAnchor.RecordKind.MaterialLot, 1);
        }
        vm.roll(1_100);
        vm.warp(START + 999);
        fromBlock = uint64(bound(fromBlock, 1, 1_100));
        vm.prank(admin);
        ledger.markCompromised(supplier, fromBlock, 13);
        for (uint256 i = 0; i < 5; ++i) {
            IRecordAnchor.BatchStatus memory s = ledger.batchStatus(supplier, keccak256(abi.encode(i)));
            if (1_000 + i * 10 >= fromBlock) {
                vm.assertEq(uint256(s.state), uint256(IRecordAnchor.BatchState.Flagged));
                vm.assertEq(uint256(s.cause), uint256(IRecordAnchor.Cause.AnchorerCompromised));
                vm.assertEq(s.reason, 13);
                vm.assertEq(s.at, START + 999);
            } else {
                vm.assertEq(uint256(s.state), uint256(IRecordAnchor.BatchState.Valid));
                vm.assertEq(uint256(s.cause), uint256(IRecordAnchor.Cause.None));
            }
        }
    }

    function test_AFlagIsReportedBeforeACompromise() public {
        vm.prank(supplier);
        ledger.anchor(ROOT, IRecordAnchor.RecordKind.MaterialLot, 1);
        vm.prank(supplier);
        ledger.flagBatch(supplier, ROOT, 2);
        vm.prank(admin);
        ledger.markCompromised(supplier, 1, 13);
        vm.assertEq(
            uint256(ledger.batchStatus(supplier, ROOT).cause), uint256(IRecordAnchor.Cause.BatchFlagged)
        );
    }
}

contract ProvenanceLedger_verifyRecord_Test is LedgerFixture {
    using MerkleTree for MerkleTree.Tree;

    function testFuzz_ProvesEveryRecordOfItsKindOnly(uint256 seed, uint256 n, uint256 pick, uint256 kindSeed)
        public
    {
        n = bound(n, 1, 33);
        IRecordAnchor.RecordKind kind = kindOf(kindSeed);
        (MerkleTree.Tree memory tree, bytes32 root) = anchorTree(seed, n, kind);
        bytes32 record = tree.records[pick % n];
        bytes32[] memory path = tree.proof(record);
        address anchorer = anchorerFor(kind);
        vm.assertTrue(ledger.verifyRecord(anchorer, root, kind, record, path));
        vm.assertFalse(
            ledger.verifyRecord(anchorer, root, kindOf(kindSeed % 6 + 1), record, path), "another kind"
        );
        vm.assertFalse(ledger.verifyRecord(stranger, root, kind, record, path), "another anchorer");
        vm.assertFalse(
            ledger.verifyRecord(anchorer, root, kind, keccak256(abi.encode(record)), path), "not a record"
        );
    }

    function testFuzz_FalseForTamperedProofs(uint256 seed, uint256 n, uint256 pick, uint256 at, bytes32 noise)
        public
    {
        n = bound(n, 2, 33);
        (MerkleTree.Tree memory tree, bytes32 root) =
            anchorTree(seed, n, IRecordAnchor.RecordKind.MaterialLot);
        bytes32 record = tree.records[pick % n];
        bytes32[] memory path = tree.proof(record);
        uint256 i = at % path.length;
        vm.assume(path[i] != noise);
        path[i] = noise;
        vm.assertFalse(
            ledger.verifyRecord(supplier, root, IRecordAnchor.RecordKind.MaterialLot, record, path)
        );
    }

    function test_FalseOnceTheBatchIsFlagged() public {
        (MerkleTree.Tree memory tree, bytes32 root) = anchorTree(1, 4, IRecordAnchor.RecordKind.Product);
        bytes32 record = tree.records[2];
        vm.assertTrue(
            ledger.verifyRecord(factory, root, IRecordAnchor.RecordKind.Product, record, tree.proof(record))
        );
        vm.prank(factory);
        ledger.flagBatch(factory, root, 1);
        vm.assertFalse(
            ledger.verifyRecord(factory, root, IRecordAnchor.RecordKind.Product, record, tree.proof(record))
        );
    }

    function test_RevertWhen_ProofIsTooLong() public {
        bytes32[] memory path = new bytes32[](65);
        vm.expectRevert(abi.encodeWithSelector(IRecordAnchor.ProofTooLong.selector, 65, 64));
        ledger.verifyRecord(
            supplier, keccak256("r"), IRecordAnchor.RecordKind.MaterialLot, keccak256("x"), path
        );
    }
}

contract ProvenanceLedger_verifyRecords_Test is LedgerFixture {
    using MerkleTree for MerkleTree.Tree;

    /// @dev OpenZeppelin's own answer, or false when it reverts.
    function ozVerify(bytes32[] calldata path, bool[] calldata flags, bytes32 root, bytes32[] calldata leaves)
        external
        pure
        returns (bool)
    {
        return MerkleProof.multiProofVerifyCalldata(path, flags, root, leaves);
    }

    function _leaves(bytes32[] memory records) internal pure returns (bytes32[] memory leaves) {
        leaves = new bytes32[](records.length);
        for (uint256 i = 0; i < records.length; ++i) {
            leaves[i] = MerkleTree.leaf(records[i]);
        }
    }

    function testFuzz_ProvesAnySubset(uint256 seed, uint256 n, uint256 mask) public {
        n = bound(n, 1, 24);
        (MerkleTree.Tree memory tree, bytes32 root) =
            anchorTree(seed, n, IRecordAnchor.RecordKind.ProductionStep);
        uint256 size = 0;
        bytes32[] memory subset = new bytes32[](n);
        for (uint256 i = 0; i < n; ++i) {
            if ((mask >> i) & 1 == 1) subset[size++] = tree.records[i];
        }
        if (size == 0) subset[size++] = tree.records[0];
        assembly {
            mstore(subset, size)
        }
        (bytes32[] memory ordered, bytes32[] memory path, bool[] memory flags) = tree.multiProof(subset);
        IRecordAnchor.RecordKind kind = IRecordAnchor.RecordKind.ProductionStep;
        vm.assertTrue(ledger.verifyRecords(factory, root, kind, ordered, path, flags));
        vm.assertFalse(
            ledger.verifyRecords(factory, root, IRecordAnchor.RecordKind.Product, ordered, path, flags)
        );
        vm.assertFalse(ledger.verifyRecords(issuer, root, kind, ordered, path, flags));
    }

    /// Any input within the caps: an answer, never a revert; and true only where OpenZeppelin says true.
    function testFuzz_NeverRevertsAndNeverProvesMoreThanOpenZeppelin(
        bytes32[] memory records,
        bytes32[] memory path,
        bool[] memory flags,
        bool anchorWhatOpenZeppelinComputes
    ) public {
        bytes32 root = keccak256("some root");
        bytes32[] memory leaves = _leaves(records);
        if (anchorWhatOpenZeppelinComputes) {
            try this.processMultiProof(path, flags, leaves) returns (bytes32 computed) {
                if (computed != 0) root = computed;
            } catch {}
        }
        vm.prank(supplier);
        ledger.anchor(root, IRecordAnchor.RecordKind.MaterialLot, 1);
        bool answer =
            ledger.verifyRecords(supplier, root, IRecordAnchor.RecordKind.MaterialLot, records, path, flags);
        bool oz;
        try this.ozVerify(path, flags, root, leaves) returns (bool ok) {
            oz = ok;
        } catch {}
        if (answer) vm.assertTrue(oz, "more than OpenZeppelin");
    }

    /// @dev Used by the fuzz test to anchor whatever root OpenZeppelin computes from random inputs.
    function processMultiProof(bytes32[] calldata path, bool[] calldata flags, bytes32[] calldata leaves)
        external
        pure
        returns (bytes32)
    {
        return MerkleProof.processMultiProofCalldata(path, flags, leaves);
    }

    /// Malformed multiproofs on which OpenZeppelin reverts (or would read a hash it has not computed): false.
    function test_FalseForMalformedMultiproofs() public {
        (MerkleTree.Tree memory tree, bytes32 root) = anchorTree(9, 4, IRecordAnchor.RecordKind.MaterialLot);
        IRecordAnchor.RecordKind kind = IRecordAnchor.RecordKind.MaterialLot;
        bytes32[] memory two = new bytes32[](2);
        (two[0], two[1]) = (tree.records[0], tree.records[1]);
        bytes32[] memory one = new bytes32[](1);
        bool[] memory flags = new bool[](2);
        // Two proof nodes asked for, one given (OpenZeppelin: index out of bounds).
        vm.assertFalse(ledger.verifyRecords(supplier, root, kind, two, one, flags));
        // Counts that do not add up (OpenZeppelin: MerkleProofInvalidMultiproof).
        vm.assertFalse(ledger.verifyRecords(supplier, root, kind, two, one, new bool[](3)));
        // A step that would use the hash it is computing.
        bytes32[] memory three = new bytes32[](3);
        (three[0], three[1], three[2]) = (tree.records[0], tree.records[1], tree.records[2]);
        bool[] memory bad = new bool[](3);
        (bad[0], bad[1], bad[2]) = (true, true, true);
        vm.assertFalse(ledger.verifyRecords(supplier, root, kind, three, one, bad));
        // Nothing to prove.
        vm.assertFalse(ledger.verifyRecords(supplier, root, kind, new bytes32[](0), one, new bool[](0)));
    }

    function test_RevertWhen_OverTheCaps() public {
        IRecordAnchor.RecordKind kind = IRecordAnchor.RecordKind.MaterialLot;
        vm.expectRevert(abi.encodeWithSelector(IRecordAnchor.TooManyRecords.selector, 1025, 1024));
        ledger.verifyRecords(supplier, 0, kind, new bytes32[](1025), new bytes32[](0), new bool[](0));
        vm.expectRevert(abi.encodeWithSelector(IRecordAnchor.ProofTooLong.selector, 1025, 1024));
        ledger.verifyRecords(supplier, 0, kind, new bytes32[](1), new bytes32[](1025), new bool[](0));
    }

    function test_FalseForAFlaggedOrCompromisedBatch() public {
        (MerkleTree.Tree memory tree, bytes32 root) = anchorTree(10, 6, IRecordAnchor.RecordKind.MaterialLot);
        (bytes32[] memory ordered, bytes32[] memory path, bool[] memory flags) = tree.multiProof(tree.records);
        IRecordAnchor.RecordKind kind = IRecordAnchor.RecordKind.MaterialLot;
        vm.assertTrue(ledger.verifyRecords(supplier, root, kind, ordered, path, flags));
        vm.prank(admin);
        ledger.markCompromised(supplier, 1_000, 1);
        vm.assertFalse(ledger.verifyRecords(supplier, root, kind, ordered, path, flags));
        vm.assertEq(ledger.accountOf(supplier).roles, 0);
        IOrganisations.Compromise memory c = ledger.compromiseOf(supplier);
        vm.assertEq(c.fromBlock, 1_000);
    }
}
