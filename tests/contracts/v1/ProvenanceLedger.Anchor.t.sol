// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.24;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {IERC165} from "@openzeppelin/contracts/utils/introspection/IERC165.sol";
import {ProvenanceLedger} from "../../../contracts/ProvenanceLedger.sol";
import {ICertificateStatus} from "../../../contracts/interfaces/ICertificateStatus.sol";
import {IProvenanceLedger} from "../../../contracts/interfaces/IProvenanceLedger.sol";
import {IRecordAnchor} from "../../../contracts/interfaces/IRecordAnchor.sol";
import {IRoleHistory} from "../../../contracts/interfaces/IRoleHistory.sol";
import {V1_LedgerFixture} from "./Fixtures.sol";
import {MerkleTree} from "../utils/MerkleTree.sol";

contract V1_ProvenanceLedger_constructor_Test is V1_LedgerFixture {
    function test_RevertWhen_AdminIsZero() public {
        vm.expectRevert(abi.encodeWithSelector(IProvenanceLedger.ZeroAdmin.selector));
        new ProvenanceLedger(address(0));
    }

    function test_GrantsOnlyTheAdminRole() public view {
        vm.assertTrue(ledger.hasRole(DEFAULT_ADMIN_ROLE, admin));
        vm.assertFalse(ledger.hasRole(DEFAULT_ADMIN_ROLE, deployer));
        vm.assertFalse(ledger.hasRole(SUPPLIER_ROLE, admin));
        vm.assertFalse(ledger.hasRole(ISSUER_ROLE, admin));
    }

    function test_EmitsRoleGrantedAndRecordsHistory() public {
        vm.expectEmit(true, true, true, true);
        emit IAccessControl.RoleGranted(DEFAULT_ADMIN_ROLE, stranger, address(this));
        ProvenanceLedger fresh = new ProvenanceLedger(stranger);
        IRoleHistory.RoleChange[] memory history = fresh.roleHistory(DEFAULT_ADMIN_ROLE, stranger);
        vm.assertEq(history.length, 1);
        vm.assertTrue(history[0].granted);
        vm.assertEq(history[0].by, address(this));
        vm.assertEq(history[0].timestamp, START);
        vm.assertEq(history[0].blockNumber, 1_000);
    }

    function test_RoleConstants() public view {
        vm.assertEq(ledger.SUPPLIER_ROLE(), keccak256("SUPPLIER_ROLE"));
        vm.assertEq(ledger.FACTORY_ROLE(), keccak256("FACTORY_ROLE"));
        vm.assertEq(ledger.ISSUER_ROLE(), keccak256("ISSUER_ROLE"));
        vm.assertEq(ledger.REVOKER_ROLE(), keccak256("REVOKER_ROLE"));
        vm.assertEq(ledger.REGISTRAR_ROLE(), keccak256("REGISTRAR_ROLE"));
        vm.assertEq(ledger.MAX_PROOF_LENGTH(), 64);
    }
}

contract V1_ProvenanceLedger_version_Test is V1_LedgerFixture {
    function test_Version() public view {
        vm.assertEq(ledger.version(), "1.0.0");
    }
}

contract V1_ProvenanceLedger_supportsInterface_Test is V1_LedgerFixture {
    function test_SupportsItsInterfaces() public view {
        vm.assertTrue(ledger.supportsInterface(type(IProvenanceLedger).interfaceId));
        vm.assertTrue(ledger.supportsInterface(type(IRoleHistory).interfaceId));
        vm.assertTrue(ledger.supportsInterface(type(IRecordAnchor).interfaceId));
        vm.assertTrue(ledger.supportsInterface(type(ICertificateStatus).interfaceId));
        vm.assertTrue(ledger.supportsInterface(type(IAccessControl).interfaceId));
        vm.assertTrue(ledger.supportsInterface(type(IERC165).interfaceId));
        vm.assertFalse(ledger.supportsInterface(0xffffffff));
    }
}

contract V1_ProvenanceLedger_anchor_Test is V1_LedgerFixture {
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
        return false;
    }

    function _actor(uint256 seed) internal view returns (address) {
        address[7] memory actors = [admin, supplier, factory, issuer, revoker, registrar, stranger];
        return actors[seed % 7];
    }

    function test_EveryKindAndRoleCombination() public {
        for (uint256 k = 0; k < 5; ++k) {
            for (uint256 a = 0; a < 7; ++a) {
                IRecordAnchor.RecordKind kind = IRecordAnchor.RecordKind(k);
                address account = _actor(a);
                bytes32 root = keccak256(abi.encode(k, a));
                if (_allowed(kind, account)) {
                    vm.prank(account);
                    ledger.anchor(root, kind, 1);
                    vm.assertEq(ledger.batchOf(root).anchorer, account);
                } else {
                    vm.expectRevert(
                        abi.encodeWithSelector(IRecordAnchor.UnauthorisedAnchorer.selector, account, kind)
                    );
                    vm.prank(account);
                    ledger.anchor(root, kind, 1);
                }
            }
        }
    }

    function testFuzz_StoresBatchAndEmits(bytes32 root, uint256 kindSeed, uint24 count, uint64 when) public {
        vm.assume(root != bytes32(0) && count != 0);
        IRecordAnchor.RecordKind kind = kindOf(kindSeed);
        address anchorer = anchorerFor(kind);
        vm.warp(when);
        vm.expectEmit(true, true, true, true, address(ledger));
        emit IRecordAnchor.BatchAnchored(root, kind, anchorer, count);
        vm.prank(anchorer);
        ledger.anchor(root, kind, count);

        IRecordAnchor.Batch memory batch = ledger.batchOf(root);
        vm.assertEq(batch.anchorer, anchorer);
        vm.assertEq(uint256(batch.kind), uint256(kind));
        vm.assertEq(batch.count, count);
        vm.assertEq(batch.anchoredAt, when);
        vm.assertTrue(ledger.isAnchored(root));
    }

    function testFuzz_RevertWhen_Unauthorised(address account, uint256 kindSeed) public {
        vm.assume(account != supplier && account != factory && account != issuer);
        IRecordAnchor.RecordKind kind = kindOf(kindSeed);
        vm.expectRevert(abi.encodeWithSelector(IRecordAnchor.UnauthorisedAnchorer.selector, account, kind));
        vm.prank(account);
        ledger.anchor(ROOT, kind, 1);
    }

    function test_RevertWhen_AnchorerRoleWasRevoked() public {
        vm.prank(supplier);
        ledger.anchor(ROOT, IRecordAnchor.RecordKind.MaterialLot, 3);
        vm.prank(admin);
        ledger.revokeRole(SUPPLIER_ROLE, supplier);

        vm.expectRevert(
            abi.encodeWithSelector(
                IRecordAnchor.UnauthorisedAnchorer.selector, supplier, IRecordAnchor.RecordKind.MaterialLot
            )
        );
        vm.prank(supplier);
        ledger.anchor(keccak256("next"), IRecordAnchor.RecordKind.MaterialLot, 3);
        // The earlier batch stays: the role was held when it was anchored.
        vm.assertEq(ledger.batchOf(ROOT).anchorer, supplier);
    }

    function test_RevertWhen_RoleWasRenounced() public {
        vm.prank(issuer);
        ledger.renounceRole(ISSUER_ROLE, issuer);
        vm.expectRevert(
            abi.encodeWithSelector(
                IRecordAnchor.UnauthorisedAnchorer.selector, issuer, IRecordAnchor.RecordKind.Certificate
            )
        );
        vm.prank(issuer);
        ledger.anchor(ROOT, IRecordAnchor.RecordKind.Certificate, 1);
    }

    function test_RevertWhen_RootIsZero() public {
        vm.expectRevert(abi.encodeWithSelector(IRecordAnchor.ZeroRoot.selector));
        vm.prank(supplier);
        ledger.anchor(bytes32(0), IRecordAnchor.RecordKind.MaterialLot, 1);
    }

    function test_RevertWhen_CountIsZero() public {
        vm.expectRevert(abi.encodeWithSelector(IRecordAnchor.ZeroCount.selector));
        vm.prank(supplier);
        ledger.anchor(ROOT, IRecordAnchor.RecordKind.MaterialLot, 0);
    }

    function testFuzz_RevertWhen_RootAlreadyAnchored(bytes32 root, uint256 kindSeed, uint64 later) public {
        vm.assume(root != bytes32(0));
        vm.prank(supplier);
        ledger.anchor(root, IRecordAnchor.RecordKind.MaterialLot, 2);

        IRecordAnchor.RecordKind kind = kindOf(kindSeed);
        vm.warp(bound(later, START, type(uint64).max));
        vm.expectRevert(
            abi.encodeWithSelector(IRecordAnchor.RootAlreadyAnchored.selector, root, supplier, START)
        );
        vm.prank(anchorerFor(kind));
        ledger.anchor(root, kind, 9);
        vm.assertEq(ledger.batchOf(root).count, 2);
    }

    function test_RevertWhen_KindIsOutOfRange() public {
        (bool ok,) = address(ledger).call(
            abi.encodeWithSelector(IRecordAnchor.anchor.selector, ROOT, uint256(5), uint256(1))
        );
        vm.assertFalse(ok);
    }
}

contract V1_ProvenanceLedger_batchOf_Test is V1_LedgerFixture {
    function testFuzz_UnknownRootIsZero(bytes32 root) public view {
        IRecordAnchor.Batch memory batch = ledger.batchOf(root);
        vm.assertEq(batch.anchorer, address(0));
        vm.assertEq(batch.count, 0);
        vm.assertEq(batch.anchoredAt, 0);
        vm.assertEq(uint256(batch.kind), 0);
    }
}

contract V1_ProvenanceLedger_isAnchored_Test is V1_LedgerFixture {
    function testFuzz_OnlyAnchoredRoots(bytes32 root, bytes32 other) public {
        vm.assume(root != bytes32(0) && other != root);
        vm.assertFalse(ledger.isAnchored(root));
        vm.prank(factory);
        ledger.anchor(root, IRecordAnchor.RecordKind.ProductionStep, 1);
        vm.assertTrue(ledger.isAnchored(root));
        vm.assertFalse(ledger.isAnchored(other));
    }
}

contract V1_ProvenanceLedger_verifyRecord_Test is V1_LedgerFixture {
    using MerkleTree for MerkleTree.Tree;

    function testFuzz_ProvesEveryRecordOfAnAnchoredBatch(uint256 seed, uint256 n, uint256 pick, uint256 kindSeed)
        public
    {
        n = bound(n, 1, 64);
        (MerkleTree.Tree memory tree, bytes32 root) = anchorTree(seed, n, kindOf(kindSeed));
        bytes32 record = tree.records[pick % n];
        vm.assertTrue(ledger.verifyRecord(root, record, tree.proof(record)));
    }

    function testFuzz_FalseForARecordNotInTheBatch(uint256 seed, uint256 n, uint256 pick, bytes32 outsider) public {
        n = bound(n, 1, 32);
        (MerkleTree.Tree memory tree, bytes32 root) = anchorTree(seed, n, IRecordAnchor.RecordKind.Product);
        for (uint256 i = 0; i < n; ++i) vm.assume(tree.records[i] != outsider);
        vm.assertFalse(ledger.verifyRecord(root, outsider, tree.proof(tree.records[pick % n])));
    }

    function testFuzz_FalseForATamperedProof(uint256 seed, uint256 n, uint256 pick, uint256 at, bytes32 noise)
        public
    {
        n = bound(n, 2, 32);
        (MerkleTree.Tree memory tree, bytes32 root) = anchorTree(seed, n, IRecordAnchor.RecordKind.Product);
        bytes32 record = tree.records[pick % n];
        bytes32[] memory path = tree.proof(record);
        at = at % path.length;
        vm.assume(noise != bytes32(0));
        path[at] ^= noise;
        vm.assertFalse(ledger.verifyRecord(root, record, path));
    }

    function testFuzz_FalseForAnUnanchoredRoot(uint256 seed, uint256 n, uint256 pick) public view {
        n = bound(n, 1, 16);
        MerkleTree.Tree memory tree = MerkleTree.build(MerkleTree.records(seed, n));
        bytes32 record = tree.records[pick % n];
        vm.assertFalse(ledger.verifyRecord(tree.root(), record, tree.proof(record)));
    }

    /// The ledger's proof loop computes exactly OpenZeppelin's MerkleProof (valid and invalid proofs alike).
    function testFuzz_AgreesWithOpenZeppelinMerkleProof(bytes32 record, bytes32[] memory path, bytes32 other)
        public
    {
        vm.assume(path.length <= 64);
        bytes32 root = MerkleProof.processProof(path, MerkleTree.leaf(record));
        vm.assume(root != bytes32(0));
        vm.prank(factory);
        ledger.anchor(root, IRecordAnchor.RecordKind.ProductionStep, 1);
        vm.assertTrue(ledger.verifyRecord(root, record, path));
        vm.assertEq(
            ledger.verifyRecord(root, other, path), MerkleProof.verify(path, root, MerkleTree.leaf(other))
        );
    }

    function test_SingleRecordBatch() public {
        bytes32 record = keccak256("urgent record");
        bytes32 root = MerkleTree.leaf(record);
        vm.prank(issuer);
        ledger.anchor(root, IRecordAnchor.RecordKind.Certificate, 1);
        vm.assertTrue(ledger.verifyRecord(root, record, noProof()));
        // The root itself is not a record of its batch.
        vm.assertFalse(ledger.verifyRecord(root, root, noProof()));
    }

    function testFuzz_RevertWhen_ProofIsTooLong(uint256 length) public {
        length = bound(length, 65, 300);
        vm.expectRevert(abi.encodeWithSelector(IRecordAnchor.ProofTooLong.selector, length, 64));
        ledger.verifyRecord(keccak256("r"), keccak256("x"), new bytes32[](length));
    }
}

contract V1_ProvenanceLedger_verifyRecords_Test is V1_LedgerFixture {
    using MerkleTree for MerkleTree.Tree;

    function _subset(MerkleTree.Tree memory tree, uint256 mask) internal pure returns (bytes32[] memory out) {
        uint256 n = tree.records.length;
        uint256 k = 0;
        for (uint256 i = 0; i < n; ++i) if ((mask >> i) & 1 == 1) ++k;
        out = new bytes32[](k);
        k = 0;
        for (uint256 i = 0; i < n; ++i) if ((mask >> i) & 1 == 1) out[k++] = tree.records[i];
    }

    function testFuzz_ProvesAnySubset(uint256 seed, uint256 n, uint256 mask) public {
        n = bound(n, 1, 32);
        (MerkleTree.Tree memory tree, bytes32 root) = anchorTree(seed, n, IRecordAnchor.RecordKind.MaterialLot);
        mask = mask % (uint256(1) << n);
        vm.assume(mask != 0);
        (bytes32[] memory ordered, bytes32[] memory path, bool[] memory flags) =
            tree.multiProof(_subset(tree, mask));
        vm.assertTrue(ledger.verifyRecords(root, ordered, path, flags));
    }

    function testFuzz_FalseForAForeignRecord(uint256 seed, uint256 n, uint256 mask, bytes32 outsider) public {
        n = bound(n, 1, 16);
        (MerkleTree.Tree memory tree, bytes32 root) = anchorTree(seed, n, IRecordAnchor.RecordKind.MaterialLot);
        for (uint256 i = 0; i < n; ++i) vm.assume(tree.records[i] != outsider);
        mask = mask % (uint256(1) << n);
        vm.assume(mask != 0);
        (bytes32[] memory ordered, bytes32[] memory path, bool[] memory flags) =
            tree.multiProof(_subset(tree, mask));
        ordered[0] = outsider;
        vm.assertFalse(ledger.verifyRecords(root, ordered, path, flags));
    }

    function test_FalseForUnanchoredRootEmptySetOrInconsistentFlags() public {
        MerkleTree.Tree memory tree = MerkleTree.build(MerkleTree.records(7, 5));
        bytes32[] memory subset = new bytes32[](2);
        (subset[0], subset[1]) = (tree.records[0], tree.records[3]);
        (bytes32[] memory ordered, bytes32[] memory path, bool[] memory flags) = tree.multiProof(subset);
        vm.assertFalse(ledger.verifyRecords(tree.root(), ordered, path, flags)); // not anchored yet

        vm.prank(supplier);
        ledger.anchor(tree.root(), IRecordAnchor.RecordKind.MaterialLot, 5);
        vm.assertTrue(ledger.verifyRecords(tree.root(), ordered, path, flags));
        vm.assertFalse(ledger.verifyRecords(tree.root(), new bytes32[](0), path, flags));
        vm.assertFalse(ledger.verifyRecords(tree.root(), ordered, path, new bool[](flags.length + 1)));
        // The empty-set trick (root as the only proof node) proves nothing.
        bytes32[] memory rootOnly = new bytes32[](1);
        rootOnly[0] = tree.root();
        vm.assertFalse(ledger.verifyRecords(tree.root(), new bytes32[](0), rootOnly, new bool[](0)));
    }

    function test_RevertWhen_TooManyRecords() public {
        vm.expectRevert(abi.encodeWithSelector(IRecordAnchor.TooManyRecords.selector, 1025, 1024));
        ledger.verifyRecords(keccak256("r"), new bytes32[](1025), new bytes32[](0), new bool[](1024));
    }

    function test_RevertWhen_ProofIsTooLong() public {
        vm.expectRevert(abi.encodeWithSelector(IRecordAnchor.ProofTooLong.selector, 1025, 1024));
        ledger.verifyRecords(keccak256("r"), new bytes32[](1), new bytes32[](1025), new bool[](1025));
    }
}
