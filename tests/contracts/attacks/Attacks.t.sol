// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.24;

import {ICertificateStatus} from "../../../contracts/interfaces/ICertificateStatus.sol";
import {IRecordAnchor} from "../../../contracts/interfaces/IRecordAnchor.sol";
import {LedgerFixture} from "../utils/Fixtures.sol";
import {MerkleTree} from "../utils/MerkleTree.sol";

/// @notice The hostile consortium member: a second brand with its own issuer and revoker, a rival legal team.
abstract contract AttackFixture is LedgerFixture {
    using MerkleTree for MerkleTree.Tree;

    address internal issuerB;
    address internal revokerB;
    address internal registrarB;

    function setUp() public virtual override {
        super.setUp();
        issuerB = makeActor(21, "issuer of brand B");
        revokerB = makeActor(22, "revoker of brand B");
        registrarB = makeActor(23, "registrar of legal B");
        vm.startPrank(admin);
        ledger.grantRole(ISSUER_ROLE, issuerB);
        ledger.grantRole(REVOKER_ROLE, revokerB);
        ledger.grantRole(REGISTRAR_ROLE, registrarB);
        vm.stopPrank();
    }

    function state(bytes32 root, bytes32 hash, bytes32[] memory path) internal view returns (uint256) {
        return uint256(ledger.certificateStatus(root, hash, path).status);
    }
}

/// Issue item 1: brand B supersedes brand A's certificate by anchoring its hash in a batch of its own.
contract Attack_SupersedeAcrossOrganisations_Test is AttackFixture {
    using MerkleTree for MerkleTree.Tree;

    function test_AnotherBrandCannotSupersedeACertificate() public {
        (MerkleTree.Tree memory tree, bytes32 rootA) = anchorCertificates(1, 8);
        bytes32 x = tree.records[3];
        bytes32[] memory proofX = tree.proof(x);
        // B anchors X's hash alone, and a certificate of its own.
        bytes32 rootB = MerkleTree.leaf(x);
        bytes32 mine = keccak256("B's certificate");
        vm.startPrank(issuerB);
        ledger.anchor(rootB, IRecordAnchor.RecordKind.Certificate, 1);
        ledger.anchor(MerkleTree.leaf(mine), IRecordAnchor.RecordKind.Certificate, 1);
        (bool ok,) = address(ledger).call(
            abi.encodeCall(
                ICertificateStatus.supersedeCertificate,
                (rootB, x, noProof(), MerkleTree.leaf(mine), mine, noProof())
            )
        );
        vm.stopPrank();
        ok; // whether or not B's call went through, A's certificate must read as A left it
        vm.assertEq(state(rootA, x, proofX), uint256(ICertificateStatus.CertificateState.Valid), "A's certificate");
    }
}

/// Issue item 2: a supplier anchors a brand's pending certificate root first, under another kind.
contract Attack_RootSquatting_Test is AttackFixture {
    using MerkleTree for MerkleTree.Tree;

    function test_SquattingARootHasNoEffectOnItsOwner() public {
        MerkleTree.Tree memory tree = MerkleTree.build(MerkleTree.records(2, 8));
        bytes32 root = tree.root();
        vm.prank(supplier); // copied from the mempool
        ledger.anchor(root, IRecordAnchor.RecordKind.Other, 8);
        vm.prank(issuer);
        (bool anchored,) =
            address(ledger).call(abi.encodeCall(IRecordAnchor.anchor, (root, IRecordAnchor.RecordKind.Certificate, 8)));
        vm.assertTrue(anchored, "the brand's own anchoring goes through");
        bytes32 c = tree.records[0];
        vm.assertEq(state(root, c, tree.proof(c)), uint256(ICertificateStatus.CertificateState.Valid));
        vm.prank(revoker);
        ledger.revokeCertificate(root, c, tree.proof(c), 1);
    }
}

/// Issue item 3: after revokeBatch(R), re-anchoring a certificate or an inner node of R makes it read Valid.
contract Attack_RevocationUndone_Test is AttackFixture {
    using MerkleTree for MerkleTree.Tree;

    function test_ReanchoringACertificateDoesNotReviveIt() public {
        (MerkleTree.Tree memory tree, bytes32 root) = anchorCertificates(3, 8);
        vm.prank(revoker);
        ledger.revokeBatch(root, 7);
        bytes32 c = tree.records[5];
        vm.prank(issuer);
        ledger.anchor(MerkleTree.leaf(c), IRecordAnchor.RecordKind.Certificate, 1);
        vm.assertEq(
            state(MerkleTree.leaf(c), c, noProof()), uint256(ICertificateStatus.CertificateState.Revoked), "alone"
        );
    }

    function test_AnchoringAnInnerNodeDoesNotReviveIt() public {
        (MerkleTree.Tree memory tree, bytes32 root) = anchorCertificates(4, 8);
        vm.prank(revoker);
        ledger.revokeBatch(root, 7);
        bytes32 c = tree.records[0];
        bytes32[] memory full = tree.proof(c);
        // The node two levels up, computable from any holder's proof.
        bytes32 inner = MerkleTree.leaf(c);
        for (uint256 i = 0; i < 2; ++i) {
            inner = inner < full[i] ? keccak256(abi.encode(inner, full[i])) : keccak256(abi.encode(full[i], inner));
        }
        bytes32[] memory shortPath = new bytes32[](2);
        (shortPath[0], shortPath[1]) = (full[0], full[1]);
        vm.prank(issuerB);
        ledger.anchor(inner, IRecordAnchor.RecordKind.Certificate, 4);
        vm.assertNotEq(
            state(inner, c, shortPath), uint256(ICertificateStatus.CertificateState.Valid), "through the inner node"
        );
    }
}

/// Issue item 4: a registrar that lost REGISTRAR_ROLE still assigns and licenses its designs.
contract Attack_DisabledRegistrar_Test is AttackFixture {
    function test_ADisabledRegistrarCannotAssignOrLicence() public {
        vm.prank(registrar);
        registry.register(keccak256("design"), 0, keccak256("meta"), keccak256("owner"), 0);
        vm.prank(admin);
        ledger.revokeRole(REGISTRAR_ROLE, registrar);
        vm.startPrank(registrar);
        (bool assigned,) = address(registry).call(
            abi.encodeWithSignature(
                "assign(bytes32,address,bytes32,bytes32)", keccak256("design"), stranger, keccak256("x"), keccak256("d")
            )
        );
        (bool licensed,) = address(registry).call(
            abi.encodeWithSignature(
                "grantLicence(bytes32,bytes32,bytes32,uint64,uint64)",
                keccak256("design"),
                keccak256("licensee"),
                keccak256("doc"),
                uint64(0),
                uint64(0)
            )
        );
        vm.stopPrank();
        vm.assertFalse(assigned, "assign");
        vm.assertFalse(licensed, "grantLicence");
    }
}

/// Issue item 5: a rival registrar copies a pending registration from the mempool and wins first-to-file.
contract Attack_FilingPriorityStolen_Test is AttackFixture {
    function test_ACopiedRegistrationDoesNotTakePriority() public {
        bytes32 fp = keccak256("A's design file");
        // The rival sees A's pending registration and gets its own copy mined first.
        vm.prank(registrarB);
        registry.register(fp, 0, keccak256("meta"), keccak256("rival owner"), 0);
        vm.prank(registrar);
        (bool ok,) = address(registry).call(
            abi.encodeWithSignature(
                "register(bytes32,uint64,bytes32,bytes32,bytes32)", fp, 0, keccak256("meta"), keccak256("owner"), 0
            )
        );
        ok;
        vm.assertEq(registry.designOf(fp).registrant, registrar, "the original registrant holds priority");
    }
}

/// Issue item 6: one stolen admin key takes over the admin role in one block.
contract Attack_OneAdminKey_Test is AttackFixture {
    function test_AdminRoleCannotBeTakenInOneBlock() public {
        vm.prank(admin);
        (bool ok,) = address(ledger).call(abi.encodeWithSignature("grantRole(bytes32,address)", bytes32(0), stranger));
        vm.assertFalse(ok && ledger.hasRole(DEFAULT_ADMIN_ROLE, stranger), "admin role handed over at once");
    }

    function test_AdminCannotSeizeAnActiveRegistrantsDesign() public {
        vm.prank(registrar);
        registry.register(keccak256("design"), 0, keccak256("meta"), keccak256("owner"), 0);
        vm.prank(admin);
        (bool ok,) = address(registry).call(
            abi.encodeWithSignature(
                "assign(bytes32,address,bytes32,bytes32)", keccak256("design"), stranger, keccak256("x"), keccak256("d")
            )
        );
        ok;
        vm.assertEq(registry.designOf(keccak256("design")).registrant, registrar);
    }
}

/// Issue item 7: batches that are not certificates can never be flagged; no compromise from a block.
contract Attack_StolenKeyBatches_Test is AttackFixture {
    function test_ALotBatchCanBeFlaggedByItsOrganisation() public {
        bytes32 root = keccak256("lots anchored with a stolen key");
        vm.prank(supplier);
        ledger.anchor(root, IRecordAnchor.RecordKind.MaterialLot, 10);
        vm.prank(supplier);
        (bool ok,) =
            address(ledger).call(abi.encodeWithSignature("flagBatch(address,bytes32,uint16)", supplier, root, 9));
        vm.assertTrue(ok, "flagBatch");
    }

    function test_AdminCanMarkAnAccountCompromisedFromABlock() public {
        vm.prank(admin);
        (bool ok,) =
            address(ledger).call(abi.encodeWithSignature("markCompromised(address,uint64,uint16)", supplier, 1, 9));
        vm.assertTrue(ok, "markCompromised");
    }
}

/// Issue item 8, the smaller defects.
contract Attack_SmallerDefects_Test is AttackFixture {
    using MerkleTree for MerkleTree.Tree;

    function test_ZeroSuccessorIsRefused() public {
        (MerkleTree.Tree memory tree, bytes32 root) = anchorCertificates(5, 4);
        bytes32 c = tree.records[0];
        bytes32 zeroRoot = MerkleTree.leaf(bytes32(0)); // a batch whose one record hash is zero
        vm.startPrank(issuer);
        ledger.anchor(zeroRoot, IRecordAnchor.RecordKind.Certificate, 1);
        (bool ok,) = address(ledger).call(
            abi.encodeCall(ICertificateStatus.supersedeCertificate, (root, c, tree.proof(c), zeroRoot, 0, noProof()))
        );
        vm.stopPrank();
        vm.assertFalse(ok, "superseded by the zero hash");
    }

    function test_VerifyRecordsReturnsFalseOnAMalformedMultiproof() public {
        (MerkleTree.Tree memory tree, bytes32 root) = anchorCertificates(6, 4);
        bytes32[] memory hashes = new bytes32[](2);
        (hashes[0], hashes[1]) = (tree.records[0], tree.records[1]);
        bytes32[] memory path = new bytes32[](1);
        bool[] memory flags = new bool[](2); // two proof nodes asked for, one given
        (bool ok, bytes memory ret) = address(ledger).staticcall(
            abi.encodeCall(IRecordAnchor.verifyRecords, (root, hashes, path, flags))
        );
        vm.assertTrue(ok, "verifyRecords reverted");
        vm.assertFalse(abi.decode(ret, (bool)));
    }

    function test_VerifyRecordChecksTheKind() public {
        bytes32 any = keccak256("a hash a supplier wants verified");
        vm.prank(supplier);
        ledger.anchor(MerkleTree.leaf(any), IRecordAnchor.RecordKind.Other, 1);
        // "verified as a certificate" must not follow from an Other batch.
        (bool ok, bytes memory ret) = address(ledger).staticcall(
            abi.encodeWithSignature(
                "verifyRecord(address,bytes32,uint8,bytes32,bytes32[])",
                supplier,
                MerkleTree.leaf(any),
                uint8(IRecordAnchor.RecordKind.Certificate),
                any,
                noProof()
            )
        );
        vm.assertTrue(ok, "no kind-aware verifyRecord");
        vm.assertFalse(abi.decode(ret, (bool)));
    }

    function test_RoleUsedWithinOneSecondReadsAsHeld() public {
        vm.prank(admin);
        ledger.grantRole(SUPPLIER_ROLE, stranger);
        vm.roll(block.number + 1); // same second, next block
        vm.prank(stranger);
        ledger.anchor(keccak256("quick"), IRecordAnchor.RecordKind.MaterialLot, 1);
        uint256 used = block.number;
        vm.roll(block.number + 1);
        vm.prank(admin);
        ledger.revokeRole(SUPPLIER_ROLE, stranger);
        (bool ok, bytes memory ret) = address(ledger).staticcall(
            abi.encodeWithSignature("hasRoleAt(bytes32,address,uint256)", SUPPLIER_ROLE, stranger, used)
        );
        vm.assertTrue(ok && abi.decode(ret, (bool)), "held at the block it was used");
    }
}
