// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.24;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {ICertificateStatus} from "../../../contracts/interfaces/ICertificateStatus.sol";
import {IRecordAnchor} from "../../../contracts/interfaces/IRecordAnchor.sol";
import {V1_LedgerFixture} from "./Fixtures.sol";
import {MerkleTree} from "../utils/MerkleTree.sol";

/// @notice Two anchored certificate batches (A: 8 certificates, B: 5 certificates) and one product batch.
abstract contract V1_CertificateFixture is V1_LedgerFixture {
    using MerkleTree for MerkleTree.Tree;

    MerkleTree.Tree internal treeA;
    MerkleTree.Tree internal treeB;
    MerkleTree.Tree internal productTree;
    bytes32 internal rootA;
    bytes32 internal rootB;
    bytes32 internal productRoot;

    function setUp() public virtual override {
        super.setUp();
        (treeA, rootA) = anchorCertificates(101, 8);
        (treeB, rootB) = anchorCertificates(202, 5);
        (productTree, productRoot) = anchorTree(303, 4, IRecordAnchor.RecordKind.Product);
    }

    function certA(uint256 i) internal view returns (bytes32) {
        return treeA.records[i % treeA.records.length];
    }

    function certB(uint256 i) internal view returns (bytes32) {
        return treeB.records[i % treeB.records.length];
    }

    function proofA(bytes32 cert) internal view returns (bytes32[] memory) {
        return MerkleTree.proof(treeA, cert);
    }

    function proofB(bytes32 cert) internal view returns (bytes32[] memory) {
        return MerkleTree.proof(treeB, cert);
    }

    function revokeA(bytes32 cert, uint16 reason) internal {
        vm.prank(revoker);
        ledger.revokeCertificate(rootA, cert, proofA(cert), reason);
    }

    function supersedeAB(bytes32 oldCert, bytes32 newCert) internal {
        vm.prank(issuer);
        ledger.supersedeCertificate(rootA, oldCert, proofA(oldCert), rootB, newCert, proofB(newCert));
    }

    function status(bytes32 root, bytes32 cert, bytes32[] memory path)
        internal
        view
        returns (ICertificateStatus.CertificateStatus memory)
    {
        return ledger.certificateStatus(root, cert, path);
    }

    function assertState(ICertificateStatus.CertificateStatus memory s, ICertificateStatus.CertificateState expected)
        internal
        pure
    {
        vm.assertEq(uint256(s.status), uint256(expected));
    }
}

contract V1_ProvenanceLedger_revokeCertificate_Test is V1_CertificateFixture {
    function testFuzz_RevokesAndEmits(uint256 pick, uint16 reason, uint64 when) public {
        vm.assume(reason != 0 && when != 0);
        bytes32 cert = certA(pick);
        vm.warp(when);
        vm.expectEmit(true, true, true, true, address(ledger));
        emit ICertificateStatus.CertificateRevoked(cert, rootA, reason, revoker);
        revokeA(cert, reason);

        ICertificateStatus.CertificateRecord memory record = ledger.statusOf(cert);
        vm.assertEq(record.revocation.revokedBy, revoker);
        vm.assertEq(record.revocation.revokedAt, when);
        vm.assertEq(record.revocation.reason, reason);
        ICertificateStatus.CertificateStatus memory s = status(rootA, cert, proofA(cert));
        assertState(s, ICertificateStatus.CertificateState.Revoked);
        vm.assertEq(s.reason, reason);
        vm.assertEq(s.at, when);
        // The other certificates of the batch stay valid.
        bytes32 other = certA(pick % 8 + 1);
        assertState(status(rootA, other, proofA(other)), ICertificateStatus.CertificateState.Valid);
    }

    function testFuzz_RevertWhen_CallerIsNotRevoker(address caller) public {
        vm.assume(caller != revoker);
        bytes32 cert = certA(0);
        bytes32[] memory path = proofA(cert);
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, caller, REVOKER_ROLE)
        );
        vm.prank(caller);
        ledger.revokeCertificate(rootA, cert, path, 1);
    }

    function test_RevertWhen_RevokerRoleWasRevoked() public {
        revokeA(certA(0), 1);
        vm.prank(admin);
        ledger.revokeRole(REVOKER_ROLE, revoker);
        bytes32 cert = certA(1);
        bytes32[] memory path = proofA(cert);
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, revoker, REVOKER_ROLE)
        );
        vm.prank(revoker);
        ledger.revokeCertificate(rootA, cert, path, 1);
    }

    function test_RevertWhen_ReasonIsZero() public {
        bytes32 cert = certA(0);
        bytes32[] memory path = proofA(cert);
        vm.expectRevert(abi.encodeWithSelector(ICertificateStatus.ZeroRevocationReason.selector));
        vm.prank(revoker);
        ledger.revokeCertificate(rootA, cert, path, 0);
    }

    function testFuzz_RevertWhen_RootIsNotAnchored(bytes32 root) public {
        vm.assume(root != rootA && root != rootB && root != productRoot);
        vm.expectRevert(abi.encodeWithSelector(ICertificateStatus.RootNotAnchored.selector, root));
        vm.prank(revoker);
        ledger.revokeCertificate(root, certA(0), noProof(), 1);
    }

    function test_RevertWhen_RootIsNotACertificateBatch() public {
        bytes32 record = productTree.records[0];
        bytes32[] memory path = MerkleTree.proof(productTree, record);
        vm.expectRevert(
            abi.encodeWithSelector(
                ICertificateStatus.NotACertificateBatch.selector, productRoot, IRecordAnchor.RecordKind.Product
            )
        );
        vm.prank(revoker);
        ledger.revokeCertificate(productRoot, record, path, 1);
    }

    function testFuzz_RevertWhen_ProofIsInvalid(uint256 pick, bytes32 noise) public {
        vm.assume(noise != bytes32(0));
        bytes32 cert = certA(pick);
        bytes32[] memory path = proofA(cert);
        path[pick % path.length] ^= noise;
        vm.expectRevert(abi.encodeWithSelector(ICertificateStatus.InvalidCertificateProof.selector, rootA, cert));
        vm.prank(revoker);
        ledger.revokeCertificate(rootA, cert, path, 1);
    }

    function test_RevertWhen_CertificateIsInAnotherBatch() public {
        bytes32 cert = certB(0);
        bytes32[] memory path = proofB(cert);
        vm.expectRevert(abi.encodeWithSelector(ICertificateStatus.InvalidCertificateProof.selector, rootA, cert));
        vm.prank(revoker);
        ledger.revokeCertificate(rootA, cert, path, 1);
    }

    function testFuzz_RevertWhen_RevokedTwice(uint256 pick, uint16 reason, uint16 secondReason) public {
        vm.assume(reason != 0 && secondReason != 0);
        bytes32 cert = certA(pick);
        revokeA(cert, reason);
        vm.warp(START + 1 days);
        bytes32[] memory path = proofA(cert);
        vm.expectRevert(
            abi.encodeWithSelector(
                ICertificateStatus.CertificateAlreadyRevoked.selector, cert, reason, START
            )
        );
        vm.prank(revoker);
        ledger.revokeCertificate(rootA, cert, path, secondReason);
    }

    function testFuzz_RevertWhen_ProofIsTooLong(uint256 length) public {
        length = bound(length, 65, 200);
        vm.expectRevert(abi.encodeWithSelector(IRecordAnchor.ProofTooLong.selector, length, 64));
        vm.prank(revoker);
        ledger.revokeCertificate(rootA, certA(0), new bytes32[](length), 1);
    }

    function test_RevokingASupersededCertificateDominates() public {
        bytes32 oldCert = certA(0);
        supersedeAB(oldCert, certB(0));
        revokeA(oldCert, 7);
        ICertificateStatus.CertificateStatus memory s = status(rootA, oldCert, proofA(oldCert));
        assertState(s, ICertificateStatus.CertificateState.Revoked);
        vm.assertEq(s.reason, 7);
        vm.assertEq(s.successor, bytes32(0));
        // statusOf still reports both facts.
        vm.assertEq(ledger.statusOf(oldCert).supersession.successor, certB(0));
    }

    function test_MayRevokeInsideARevokedBatch() public {
        vm.prank(revoker);
        ledger.revokeBatch(rootA, 2);
        revokeA(certA(3), 9);
        ICertificateStatus.CertificateStatus memory s = status(rootA, certA(3), proofA(certA(3)));
        assertState(s, ICertificateStatus.CertificateState.Revoked);
        vm.assertEq(s.reason, 9); // the certificate's own revocation is reported first
    }
}

contract V1_ProvenanceLedger_revokeBatch_Test is V1_CertificateFixture {
    function testFuzz_RevokesEveryCertificate(uint16 reason) public {
        vm.assume(reason != 0);
        vm.expectEmit(true, true, true, true, address(ledger));
        emit ICertificateStatus.CertificateBatchRevoked(rootA, reason, revoker);
        vm.prank(revoker);
        ledger.revokeBatch(rootA, reason);

        for (uint256 i = 0; i < 8; ++i) {
            ICertificateStatus.CertificateStatus memory s = status(rootA, certA(i), proofA(certA(i)));
            assertState(s, ICertificateStatus.CertificateState.Revoked);
            vm.assertEq(s.reason, reason);
            vm.assertEq(s.at, START);
        }
        assertState(status(rootB, certB(0), proofB(certB(0))), ICertificateStatus.CertificateState.Valid);
        ICertificateStatus.Revocation memory r = ledger.batchRevocationOf(rootA);
        vm.assertEq(r.revokedBy, revoker);
        vm.assertEq(r.reason, reason);
        vm.assertEq(r.revokedAt, START);
    }

    function testFuzz_RevertWhen_CallerIsNotRevoker(address caller) public {
        vm.assume(caller != revoker);
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, caller, REVOKER_ROLE)
        );
        vm.prank(caller);
        ledger.revokeBatch(rootA, 1);
    }

    function test_RevertWhen_ReasonIsZero() public {
        vm.expectRevert(abi.encodeWithSelector(ICertificateStatus.ZeroRevocationReason.selector));
        vm.prank(revoker);
        ledger.revokeBatch(rootA, 0);
    }

    function testFuzz_RevertWhen_RootIsNotAnchored(bytes32 root) public {
        vm.assume(root != rootA && root != rootB && root != productRoot);
        vm.expectRevert(abi.encodeWithSelector(ICertificateStatus.RootNotAnchored.selector, root));
        vm.prank(revoker);
        ledger.revokeBatch(root, 1);
    }

    function test_RevertWhen_RootIsNotACertificateBatch() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                ICertificateStatus.NotACertificateBatch.selector, productRoot, IRecordAnchor.RecordKind.Product
            )
        );
        vm.prank(revoker);
        ledger.revokeBatch(productRoot, 1);
    }

    function test_RevertWhen_RevokedTwice() public {
        vm.prank(revoker);
        ledger.revokeBatch(rootA, 4);
        vm.expectRevert(
            abi.encodeWithSelector(ICertificateStatus.CertificateBatchAlreadyRevoked.selector, rootA, 4, START)
        );
        vm.prank(revoker);
        ledger.revokeBatch(rootA, 5);
    }
}

contract V1_ProvenanceLedger_supersedeCertificate_Test is V1_CertificateFixture {
    function testFuzz_SupersedesAndEmits(uint256 i, uint256 j, uint64 when) public {
        vm.assume(when != 0);
        bytes32 oldCert = certA(i);
        bytes32 newCert = certB(j);
        vm.warp(when);
        vm.expectEmit(true, true, true, true, address(ledger));
        emit ICertificateStatus.CertificateSuperseded(oldCert, newCert, issuer);
        supersedeAB(oldCert, newCert);

        ICertificateStatus.CertificateStatus memory s = status(rootA, oldCert, proofA(oldCert));
        assertState(s, ICertificateStatus.CertificateState.Superseded);
        vm.assertEq(s.successor, newCert);
        vm.assertEq(s.at, when);
        vm.assertEq(s.reason, 0);
        ICertificateStatus.Supersession memory sup = ledger.statusOf(oldCert).supersession;
        vm.assertEq(sup.successor, newCert);
        vm.assertEq(sup.supersededBy, issuer);
        vm.assertEq(sup.supersededAt, when);
        assertState(status(rootB, newCert, proofB(newCert)), ICertificateStatus.CertificateState.Valid);
    }

    function test_SupersedesWithinOneBatchAndChains() public {
        bytes32 a0 = certA(0);
        bytes32 a1 = certA(1);
        vm.prank(issuer);
        ledger.supersedeCertificate(rootA, a0, proofA(a0), rootA, a1, proofA(a1));
        // The successor can itself be superseded later (a chain a0 -> a1 -> b0).
        supersedeAB(a1, certB(0));
        vm.assertEq(status(rootA, a1, proofA(a1)).successor, certB(0));
        vm.assertEq(status(rootA, a0, proofA(a0)).successor, a1);
    }

    function testFuzz_RevertWhen_CallerIsNotIssuer(address caller) public {
        vm.assume(caller != issuer);
        bytes32 oldCert = certA(0);
        bytes32 newCert = certB(0);
        bytes32[] memory oldPath = proofA(oldCert);
        bytes32[] memory newPath = proofB(newCert);
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, caller, ISSUER_ROLE)
        );
        vm.prank(caller);
        ledger.supersedeCertificate(rootA, oldCert, oldPath, rootB, newCert, newPath);
    }

    function test_RevertWhen_SuccessorIsTheSameCertificate() public {
        bytes32 cert = certA(0);
        bytes32[] memory path = proofA(cert);
        vm.expectRevert(abi.encodeWithSelector(ICertificateStatus.SuccessorIsSameCertificate.selector, cert));
        vm.prank(issuer);
        ledger.supersedeCertificate(rootA, cert, path, rootA, cert, path);
    }

    function test_RevertWhen_OldCertificateIsRevoked() public {
        bytes32 oldCert = certA(0);
        revokeA(oldCert, 6);
        bytes32 newCert = certB(0);
        bytes32[] memory oldPath = proofA(oldCert);
        bytes32[] memory newPath = proofB(newCert);
        vm.expectRevert(
            abi.encodeWithSelector(ICertificateStatus.CertificateAlreadyRevoked.selector, oldCert, 6, START)
        );
        vm.prank(issuer);
        ledger.supersedeCertificate(rootA, oldCert, oldPath, rootB, newCert, newPath);
    }

    function test_RevertWhen_OldBatchIsRevoked() public {
        vm.prank(revoker);
        ledger.revokeBatch(rootA, 3);
        bytes32 oldCert = certA(0);
        bytes32 newCert = certB(0);
        bytes32[] memory oldPath = proofA(oldCert);
        bytes32[] memory newPath = proofB(newCert);
        vm.expectRevert(
            abi.encodeWithSelector(ICertificateStatus.CertificateBatchAlreadyRevoked.selector, rootA, 3, START)
        );
        vm.prank(issuer);
        ledger.supersedeCertificate(rootA, oldCert, oldPath, rootB, newCert, newPath);
    }

    function test_RevertWhen_OldCertificateIsAlreadySuperseded() public {
        bytes32 oldCert = certA(0);
        supersedeAB(oldCert, certB(0));
        vm.warp(START + 10);
        bytes32 newCert = certB(1);
        bytes32[] memory oldPath = proofA(oldCert);
        bytes32[] memory newPath = proofB(newCert);
        vm.expectRevert(
            abi.encodeWithSelector(
                ICertificateStatus.CertificateAlreadySuperseded.selector, oldCert, certB(0), START
            )
        );
        vm.prank(issuer);
        ledger.supersedeCertificate(rootA, oldCert, oldPath, rootB, newCert, newPath);
    }

    function test_RevertWhen_NewCertificateIsRevoked() public {
        bytes32 newCert = certB(0);
        vm.prank(revoker);
        ledger.revokeCertificate(rootB, newCert, proofB(newCert), 8);
        bytes32 oldCert = certA(0);
        bytes32[] memory oldPath = proofA(oldCert);
        bytes32[] memory newPath = proofB(newCert);
        vm.expectRevert(
            abi.encodeWithSelector(ICertificateStatus.CertificateAlreadyRevoked.selector, newCert, 8, START)
        );
        vm.prank(issuer);
        ledger.supersedeCertificate(rootA, oldCert, oldPath, rootB, newCert, newPath);
    }

    function test_RevertWhen_NewBatchIsRevoked() public {
        vm.prank(revoker);
        ledger.revokeBatch(rootB, 2);
        bytes32 oldCert = certA(0);
        bytes32 newCert = certB(0);
        bytes32[] memory oldPath = proofA(oldCert);
        bytes32[] memory newPath = proofB(newCert);
        vm.expectRevert(
            abi.encodeWithSelector(ICertificateStatus.CertificateBatchAlreadyRevoked.selector, rootB, 2, START)
        );
        vm.prank(issuer);
        ledger.supersedeCertificate(rootA, oldCert, oldPath, rootB, newCert, newPath);
    }

    function test_RevertWhen_NewCertificateIsSuperseded() public {
        bytes32 b0 = certB(0);
        bytes32 b1 = certB(1);
        vm.prank(issuer);
        ledger.supersedeCertificate(rootB, b0, proofB(b0), rootB, b1, proofB(b1));
        bytes32 oldCert = certA(0);
        bytes32[] memory oldPath = proofA(oldCert);
        bytes32[] memory newPath = proofB(b0);
        vm.expectRevert(
            abi.encodeWithSelector(ICertificateStatus.CertificateAlreadySuperseded.selector, b0, b1, START)
        );
        vm.prank(issuer);
        ledger.supersedeCertificate(rootA, oldCert, oldPath, rootB, b0, newPath);
    }

    function test_RevertWhen_OldProofIsInvalid() public {
        bytes32 oldCert = certA(0);
        bytes32 newCert = certB(0);
        bytes32[] memory badPath = proofA(certA(1));
        bytes32[] memory newPath = proofB(newCert);
        vm.expectRevert(abi.encodeWithSelector(ICertificateStatus.InvalidCertificateProof.selector, rootA, oldCert));
        vm.prank(issuer);
        ledger.supersedeCertificate(rootA, oldCert, badPath, rootB, newCert, newPath);
    }

    function test_RevertWhen_NewProofIsInvalid() public {
        bytes32 oldCert = certA(0);
        bytes32 newCert = certB(0);
        bytes32[] memory oldPath = proofA(oldCert);
        bytes32[] memory badPath = proofB(certB(1));
        vm.expectRevert(abi.encodeWithSelector(ICertificateStatus.InvalidCertificateProof.selector, rootB, newCert));
        vm.prank(issuer);
        ledger.supersedeCertificate(rootA, oldCert, oldPath, rootB, newCert, badPath);
    }

    function test_RevertWhen_NewRootIsNotACertificateBatch() public {
        bytes32 oldCert = certA(0);
        bytes32 record = productTree.records[0];
        bytes32[] memory oldPath = proofA(oldCert);
        bytes32[] memory newPath = MerkleTree.proof(productTree, record);
        vm.expectRevert(
            abi.encodeWithSelector(
                ICertificateStatus.NotACertificateBatch.selector, productRoot, IRecordAnchor.RecordKind.Product
            )
        );
        vm.prank(issuer);
        ledger.supersedeCertificate(rootA, oldCert, oldPath, productRoot, record, newPath);
    }

    function test_RevertWhen_OldRootIsNotAnchored() public {
        bytes32 newCert = certB(0);
        bytes32[] memory newPath = proofB(newCert);
        bytes32 unknown = keccak256("unknown");
        vm.expectRevert(abi.encodeWithSelector(ICertificateStatus.RootNotAnchored.selector, unknown));
        vm.prank(issuer);
        ledger.supersedeCertificate(unknown, certA(0), noProof(), rootB, newCert, newPath);
    }

    function test_RevertWhen_ProofIsTooLong() public {
        vm.expectRevert(abi.encodeWithSelector(IRecordAnchor.ProofTooLong.selector, 65, 64));
        vm.prank(issuer);
        ledger.supersedeCertificate(rootA, certA(0), new bytes32[](65), rootB, certB(0), noProof());
    }
}

contract V1_ProvenanceLedger_certificateStatus_Test is V1_CertificateFixture {
    function testFuzz_ValidForEveryAnchoredCertificate(uint256 pick) public view {
        bytes32 cert = certA(pick);
        ICertificateStatus.CertificateStatus memory s = status(rootA, cert, proofA(cert));
        assertState(s, ICertificateStatus.CertificateState.Valid);
        vm.assertEq(s.at, START);
        vm.assertEq(s.reason, 0);
        vm.assertEq(s.successor, bytes32(0));
    }

    function testFuzz_UnknownForABadProof(uint256 pick, bytes32 noise) public view {
        vm.assume(noise != bytes32(0));
        bytes32 cert = certA(pick);
        bytes32[] memory path = proofA(cert);
        path[0] ^= noise;
        ICertificateStatus.CertificateStatus memory s = status(rootA, cert, path);
        assertState(s, ICertificateStatus.CertificateState.Unknown);
        vm.assertEq(s.at, 0);
    }

    function testFuzz_UnknownForAnUnanchoredRoot(bytes32 root, bytes32 cert) public view {
        vm.assume(root != rootA && root != rootB && root != productRoot);
        assertState(status(root, cert, noProof()), ICertificateStatus.CertificateState.Unknown);
    }

    function test_UnknownForANonCertificateBatch() public view {
        bytes32 record = productTree.records[1];
        bytes32[] memory path = MerkleTree.proof(productTree, record);
        vm.assertTrue(ledger.verifyRecord(productRoot, record, path));
        assertState(status(productRoot, record, path), ICertificateStatus.CertificateState.Unknown);
    }

    function test_RevokedBatchDominatesSupersession() public {
        bytes32 oldCert = certA(2);
        supersedeAB(oldCert, certB(2));
        vm.warp(START + 100);
        vm.prank(revoker);
        ledger.revokeBatch(rootA, 5);
        ICertificateStatus.CertificateStatus memory s = status(rootA, oldCert, proofA(oldCert));
        assertState(s, ICertificateStatus.CertificateState.Revoked);
        vm.assertEq(s.reason, 5);
        vm.assertEq(s.at, START + 100);
    }

    function test_RevertWhen_ProofIsTooLong() public {
        vm.expectRevert(abi.encodeWithSelector(IRecordAnchor.ProofTooLong.selector, 65, 64));
        ledger.certificateStatus(rootA, certA(0), new bytes32[](65));
    }
}

contract V1_ProvenanceLedger_statusOf_Test is V1_CertificateFixture {
    function testFuzz_EmptyForAnUntouchedCertificate(bytes32 cert) public view {
        ICertificateStatus.CertificateRecord memory r = ledger.statusOf(cert);
        vm.assertEq(r.revocation.revokedAt, 0);
        vm.assertEq(r.revocation.reason, 0);
        vm.assertEq(r.revocation.revokedBy, address(0));
        vm.assertEq(r.supersession.successor, bytes32(0));
        vm.assertEq(r.supersession.supersededAt, 0);
        vm.assertEq(r.supersession.supersededBy, address(0));
    }

    function test_DoesNotReportBatchRevocations() public {
        vm.prank(revoker);
        ledger.revokeBatch(rootA, 1);
        vm.assertEq(ledger.statusOf(certA(0)).revocation.revokedAt, 0);
        vm.assertEq(ledger.batchRevocationOf(rootA).reason, 1);
    }
}

contract V1_ProvenanceLedger_batchRevocationOf_Test is V1_CertificateFixture {
    function testFuzz_EmptyUnlessRevoked(bytes32 root) public view {
        ICertificateStatus.Revocation memory r = ledger.batchRevocationOf(root);
        vm.assertEq(r.revokedAt, 0);
        vm.assertEq(r.revokedBy, address(0));
        vm.assertEq(r.reason, 0);
    }
}
