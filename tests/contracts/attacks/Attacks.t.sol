// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.24;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {
    IAccessControlDefaultAdminRules
} from "@openzeppelin/contracts/access/extensions/IAccessControlDefaultAdminRules.sol";
import {ICertificateStatus} from "../../../contracts/v2/interfaces/ICertificateStatus.sol";
import {IDesignRegistry} from "../../../contracts/v2/interfaces/IDesignRegistry.sol";
import {IRecordAnchor} from "../../../contracts/v2/interfaces/IRecordAnchor.sol";
import {LedgerFixture} from "../utils/Fixtures.sol";
import {MerkleTree} from "../utils/MerkleTree.sol";

/**
 * @notice The attacks of issue 11, played by a hostile consortium member (brand B, legal team B, the supplier, a
 * thief holding a key). Each test was written first against the version 1 contracts, where every one of them
 * failed; the assertions are the same here, on version 2.
 */
abstract contract AttackFixture is LedgerFixture {
    using MerkleTree for MerkleTree.Tree;

    bytes32 internal constant NO_ISSUANCE = bytes32(0);

    /// @dev The status of brand A's certificate read as a verifier would, from A's document and A's evidence.
    function stateOfA(bytes32 root, bytes32 hash, bytes32[] memory path) internal view returns (uint256) {
        return uint256(ledger.certificateStatus(ORG_BRAND, NO_ISSUANCE, hash, issuer, root, path).state);
    }

    function ref(address anchorer, bytes32 root, bytes32 hash, bytes32[] memory path)
        internal
        pure
        returns (ICertificateStatus.CertificateRef memory)
    {
        return ICertificateStatus.CertificateRef({
            anchorer: anchorer, root: root, certificateHash: hash, proof: path
        });
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
        // Through B's own copy: recorded for B only.
        ledger.supersedeCertificate(
            ref(issuerB, rootB, x, noProof()), ref(issuerB, MerkleTree.leaf(mine), mine, noProof())
        );
        // Through A's batch: refused.
        vm.expectRevert(
            abi.encodeWithSelector(IRecordAnchor.NotOwnOrganisation.selector, issuerB, ORG_BRAND_B, ORG_BRAND)
        );
        ledger.supersedeCertificate(
            ref(issuer, rootA, x, proofX), ref(issuerB, MerkleTree.leaf(mine), mine, noProof())
        );
        vm.stopPrank();
        vm.assertEq(
            stateOfA(rootA, x, proofX), uint256(ICertificateStatus.CertificateState.Valid), "A's certificate"
        );
        // And the verifier of A's document never accepts B's copy as A's.
        ICertificateStatus.CertificateStatus memory viaB =
            ledger.certificateStatus(ORG_BRAND, NO_ISSUANCE, x, issuerB, rootB, noProof());
        vm.assertEq(uint256(viaB.state), uint256(ICertificateStatus.CertificateState.Unknown));
        vm.assertEq(uint256(viaB.cause), uint256(IRecordAnchor.Cause.OtherOrganisation));
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
        (bool anchored,) = address(ledger)
            .call(abi.encodeCall(IRecordAnchor.anchor, (root, IRecordAnchor.RecordKind.Certificate, 8)));
        vm.assertTrue(anchored, "the brand's own anchoring goes through");
        bytes32 c = tree.records[0];
        vm.assertEq(stateOfA(root, c, tree.proof(c)), uint256(ICertificateStatus.CertificateState.Valid));
        vm.prank(revoker);
        ledger.revokeCertificate(issuer, root, c, tree.proof(c), 1);
        vm.assertEq(stateOfA(root, c, tree.proof(c)), uint256(ICertificateStatus.CertificateState.Revoked));
        // The squatter's batch is its own, as Other: it proves nothing as a certificate.
        vm.assertFalse(
            ledger.verifyRecord(supplier, root, IRecordAnchor.RecordKind.Certificate, c, tree.proof(c))
        );
    }

    function test_RootAlreadyAnchoredOnlyComesFromTheSameAccount() public {
        bytes32 root = keccak256("pending root");
        vm.prank(issuerB);
        ledger.anchor(root, IRecordAnchor.RecordKind.Certificate, 3);
        vm.prank(issuer);
        ledger.anchor(root, IRecordAnchor.RecordKind.Certificate, 3);
        vm.expectRevert(
            abi.encodeWithSelector(
                IRecordAnchor.RootAlreadyAnchored.selector,
                issuer,
                root,
                IRecordAnchor.RecordKind.Certificate,
                3,
                START
            )
        );
        vm.prank(issuer);
        ledger.anchor(root, IRecordAnchor.RecordKind.Certificate, 3);
    }
}

/// Issue item 3: after a batch revocation, re-anchoring a certificate or an inner node makes it read Valid.
contract Attack_RevocationUndone_Test is AttackFixture {
    using MerkleTree for MerkleTree.Tree;

    bytes32 internal constant ISSUANCE = keccak256("order 4711");

    function _statusOfA(bytes32 root, bytes32 hash, bytes32[] memory path) internal view returns (uint256) {
        return uint256(ledger.certificateStatus(ORG_BRAND, ISSUANCE, hash, issuer, root, path).state);
    }

    function test_ReanchoringACertificateDoesNotReviveIt() public {
        (MerkleTree.Tree memory tree, bytes32 root) = anchorCertificates(3, 8);
        vm.prank(revoker);
        ledger.revokeIssuance(ISSUANCE, 7);
        bytes32 c = tree.records[5];
        vm.assertEq(_statusOfA(root, c, tree.proof(c)), uint256(ICertificateStatus.CertificateState.Revoked));
        vm.prank(issuer);
        ledger.anchor(MerkleTree.leaf(c), IRecordAnchor.RecordKind.Certificate, 1);
        vm.assertEq(
            _statusOfA(MerkleTree.leaf(c), c, noProof()),
            uint256(ICertificateStatus.CertificateState.Revoked),
            "alone"
        );
    }

    function test_AnchoringAnInnerNodeDoesNotReviveIt() public {
        (MerkleTree.Tree memory tree, bytes32 root) = anchorCertificates(4, 8);
        bytes32 c = tree.records[0];
        bytes32[] memory full = tree.proof(c);
        vm.prank(revoker);
        ledger.revokeCertificate(issuer, root, c, full, 7);
        // The node two levels up, computable from any holder's proof.
        bytes32 inner = MerkleTree.leaf(c);
        for (uint256 i = 0; i < 2; ++i) {
            inner = inner < full[i]
                ? keccak256(abi.encode(inner, full[i]))
                : keccak256(abi.encode(full[i], inner));
        }
        bytes32[] memory shortPath = new bytes32[](2);
        (shortPath[0], shortPath[1]) = (full[0], full[1]);
        vm.prank(issuer);
        ledger.anchor(inner, IRecordAnchor.RecordKind.Certificate, 4);
        vm.assertEq(
            _statusOfA(inner, c, shortPath),
            uint256(ICertificateStatus.CertificateState.Revoked),
            "inner node"
        );
        // Another brand anchoring it does not make it A's certificate either.
        vm.prank(issuerB);
        ledger.anchor(inner, IRecordAnchor.RecordKind.Certificate, 4);
        vm.assertNotEq(
            uint256(ledger.certificateStatus(ORG_BRAND, ISSUANCE, c, issuerB, inner, shortPath).state),
            uint256(ICertificateStatus.CertificateState.Valid),
            "through B"
        );
    }
}

/// Issue item 4: a registrar that lost REGISTRAR_ROLE still assigns and licenses its designs.
contract Attack_DisabledRegistrar_Test is AttackFixture {
    function test_ADisabledRegistrarCannotAssignOrLicence() public {
        bytes32 fp = keccak256("design");
        IDesignRegistry.Commitment memory c = commit(fp);
        vm.prank(registrar);
        registry.register(fp, 0, keccak256("meta"), keccak256("owner"), 0, c);
        vm.warp(block.timestamp + registry.REVEAL_WINDOW() + 1);
        vm.prank(admin);
        ledger.revokeRole(REGISTRAR_ROLE, registrar);
        vm.startPrank(registrar);
        (bool assigned,) = address(registry)
            .call(
                abi.encodeCall(
                    IDesignRegistry.proposeAssignment, (fp, registrarB, keccak256("x"), keccak256("d"))
                )
            );
        (bool licensed,) = address(registry)
            .call(
                abi.encodeCall(
                    IDesignRegistry.grantLicence, (fp, keccak256("licensee"), keccak256("doc"), 0, 0)
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
        IDesignRegistry.Commitment memory mine = commit(fp);
        // A's registration is pending; the rival reads fingerprint and salt from it. A's commitment is of no use to
        // the rival (it names A's account and lives in A's organisation's batch) ...
        vm.expectRevert(
            abi.encodeWithSelector(
                IDesignRegistry.CommitmentOfOtherOrganisation.selector, ORG_LEGAL, ORG_LEGAL_B
            )
        );
        vm.prank(registrarB);
        registry.register(fp, 0, keccak256("meta"), keccak256("rival owner"), 0, mine);
        // ... so it commits now, and gets its copy mined first.
        IDesignRegistry.Commitment memory theirs =
            commit(registrarB, registrarB, fp, keccak256("rival salt"), 0);
        vm.prank(registrarB);
        registry.register(fp, 0, keccak256("meta"), keccak256("rival owner"), 0, theirs);
        vm.prank(registrar);
        (bool ok,) = address(registry)
            .call(
                abi.encodeCall(
                    IDesignRegistry.register, (fp, 0, keccak256("meta"), keccak256("owner"), 0, mine)
                )
            );
        ok;
        vm.assertEq(registry.designOf(fp).registrant, registrar, "the original registrant holds priority");
        vm.assertEq(registry.designOf(fp).ownerRef, keccak256("owner"));
    }
}

/// Issue item 6: one stolen admin key takes over the admin role, or seizes designs, in one block.
contract Attack_OneAdminKey_Test is AttackFixture {
    function test_AdminRoleCannotBeTakenInOneBlock() public {
        vm.prank(admin);
        (bool ok,) =
            address(ledger).call(abi.encodeWithSignature("grantRole(bytes32,address)", bytes32(0), stranger));
        vm.assertFalse(ok && ledger.hasRole(DEFAULT_ADMIN_ROLE, stranger), "admin role handed over at once");
        // The two-step transfer waits for the delay.
        vm.prank(admin);
        ledger.beginDefaultAdminTransfer(stranger);
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControlDefaultAdminRules.AccessControlEnforcedDefaultAdminDelay.selector,
                uint48(block.timestamp + ADMIN_DELAY)
            )
        );
        vm.prank(stranger);
        ledger.acceptDefaultAdminTransfer();
    }

    function test_AdminCannotSeizeAnActiveRegistrantsDesign() public {
        bytes32 fp = keccak256("design");
        IDesignRegistry.Commitment memory c = commit(fp);
        vm.prank(registrar);
        registry.register(fp, 0, keccak256("meta"), keccak256("owner"), 0, c);
        vm.warp(block.timestamp + registry.REVEAL_WINDOW() + 1);
        vm.prank(admin);
        (bool ok,) = address(registry)
            .call(
                abi.encodeCall(
                    IDesignRegistry.proposeAssignment, (fp, registrarB, keccak256("x"), keccak256("d"))
                )
            );
        vm.assertFalse(ok, "admin proposed an assignment of an active registrant's design");
        vm.assertEq(registry.designOf(fp).registrant, registrar);
    }
}

/// Issue item 7: batches that are not certificates can never be flagged; no compromise from a block.
contract Attack_StolenKeyBatches_Test is AttackFixture {
    function test_ALotBatchCanBeFlaggedByItsOrganisation() public {
        bytes32 root = keccak256("lots anchored with a stolen key");
        vm.prank(supplier);
        ledger.anchor(root, IRecordAnchor.RecordKind.MaterialLot, 10);
        vm.prank(supplier);
        (bool ok,) = address(ledger)
            .call(abi.encodeWithSignature("flagBatch(address,bytes32,uint16)", supplier, root, 9));
        vm.assertTrue(ok, "flagBatch");
        vm.assertEq(
            uint256(ledger.batchStatus(supplier, root).state), uint256(IRecordAnchor.BatchState.Flagged)
        );
    }

    function test_AdminCanMarkAnAccountCompromisedFromABlock() public {
        bytes32 before = keccak256("lots before the theft");
        bytes32 stolen = keccak256("lots after the theft");
        vm.prank(supplier);
        ledger.anchor(before, IRecordAnchor.RecordKind.MaterialLot, 10);
        vm.roll(block.number + 5);
        uint64 theft = uint64(block.number);
        vm.prank(supplier);
        ledger.anchor(stolen, IRecordAnchor.RecordKind.MaterialLot, 10);
        vm.roll(block.number + 5);
        vm.prank(admin);
        (bool ok,) = address(ledger)
            .call(abi.encodeWithSignature("markCompromised(address,uint64,uint16)", supplier, theft, 9));
        vm.assertTrue(ok, "markCompromised");
        vm.assertEq(
            uint256(ledger.batchStatus(supplier, before).state), uint256(IRecordAnchor.BatchState.Valid)
        );
        vm.assertEq(
            uint256(ledger.batchStatus(supplier, stolen).state), uint256(IRecordAnchor.BatchState.Flagged)
        );
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
        (bool ok,) = address(ledger)
            .call(
                abi.encodeCall(
                    ICertificateStatus.supersedeCertificate,
                    (ref(issuer, root, c, tree.proof(c)), ref(issuer, zeroRoot, 0, noProof()))
                )
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
        (bool ok, bytes memory ret) = address(ledger)
            .staticcall(
                abi.encodeCall(
                    IRecordAnchor.verifyRecords,
                    (issuer, root, IRecordAnchor.RecordKind.Certificate, hashes, path, flags)
                )
            );
        vm.assertTrue(ok, "verifyRecords reverted");
        vm.assertFalse(abi.decode(ret, (bool)));
    }

    function test_VerifyRecordChecksTheKind() public {
        bytes32 any = keccak256("a hash a supplier wants verified");
        vm.prank(supplier);
        ledger.anchor(MerkleTree.leaf(any), IRecordAnchor.RecordKind.Other, 1);
        // "verified as a certificate" must not follow from an Other batch.
        (bool ok, bytes memory ret) = address(ledger)
            .staticcall(
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
        vm.startPrank(admin);
        ledger.bindAccount(stranger, ORG_SUPPLIER);
        ledger.grantRole(SUPPLIER_ROLE, stranger);
        vm.stopPrank();
        vm.roll(block.number + 1); // same second, next block
        vm.prank(stranger);
        ledger.anchor(keccak256("quick"), IRecordAnchor.RecordKind.MaterialLot, 1);
        uint256 used = block.number;
        vm.roll(block.number + 1);
        vm.prank(admin);
        ledger.revokeRole(SUPPLIER_ROLE, stranger);
        (bool ok, bytes memory ret) = address(ledger)
            .staticcall(
                abi.encodeWithSignature("hasRoleAt(bytes32,address,uint256)", SUPPLIER_ROLE, stranger, used)
            );
        vm.assertTrue(ok && abi.decode(ret, (bool)), "held at the block it was used");
    }

    function test_SupersessionNamesBothBatches() public {
        (MerkleTree.Tree memory tree, bytes32 root) = anchorCertificates(7, 4);
        bytes32 successor = keccak256("successor");
        vm.prank(issuer);
        ledger.anchor(MerkleTree.leaf(successor), IRecordAnchor.RecordKind.Certificate, 1);
        bytes32 c = tree.records[1];
        vm.prank(issuer);
        ledger.supersedeCertificate(
            ref(issuer, root, c, tree.proof(c)), ref(issuer, MerkleTree.leaf(successor), successor, noProof())
        );
        ICertificateStatus.Supersession memory s = ledger.certificateRecordOf(ORG_BRAND, c).supersession;
        vm.assertEq(s.successorRoot, MerkleTree.leaf(successor));
        vm.assertEq(s.successorAnchorer, issuer);
        vm.assertEq(s.root, root);
        vm.assertEq(s.anchorer, issuer);
    }

    function test_AdminRoleCannotBeGrantedDirectly() public {
        vm.expectRevert(IAccessControlDefaultAdminRules.AccessControlEnforcedDefaultAdminRules.selector);
        vm.prank(admin);
        ledger.grantRole(DEFAULT_ADMIN_ROLE, stranger);
        vm.assertFalse(ledger.hasRole(DEFAULT_ADMIN_ROLE, stranger));
        // IAccessControl's own error is what a non-admin meets.
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControl.AccessControlUnauthorizedAccount.selector, stranger, DEFAULT_ADMIN_ROLE
            )
        );
        vm.prank(stranger);
        ledger.grantRole(SUPPLIER_ROLE, stranger);
    }
}
