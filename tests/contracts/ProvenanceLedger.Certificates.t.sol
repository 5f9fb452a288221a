// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.24;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {ICertificateStatus} from "../../contracts/v2/interfaces/ICertificateStatus.sol";
import {IRecordAnchor} from "../../contracts/v2/interfaces/IRecordAnchor.sol";
import {LedgerFixture} from "./utils/Fixtures.sol";
import {MerkleTree} from "./utils/MerkleTree.sol";

abstract contract CertificateFixture is LedgerFixture {
    using MerkleTree for MerkleTree.Tree;

    bytes32 internal constant ISSUANCE = keccak256("order 4711");

    MerkleTree.Tree internal tree;
    bytes32 internal root;
    bytes32 internal cert;
    bytes32[] internal path;

    function setUp() public virtual override {
        super.setUp();
        MerkleTree.Tree memory t;
        (t, root) = anchorCertificates(1, 7);
        tree = t;
        cert = t.records[3];
        path = t.proof(cert);
        vm.roll(block.number + 1);
        vm.warp(START + 100);
    }

    function proofOf(bytes32 record) internal view returns (bytes32[] memory) {
        MerkleTree.Tree memory t = tree;
        return t.proof(record);
    }

    function ref(address anchorer, bytes32 root_, bytes32 hash, bytes32[] memory path_)
        internal
        pure
        returns (ICertificateStatus.CertificateRef memory)
    {
        return ICertificateStatus.CertificateRef({
            anchorer: anchorer, root: root_, certificateHash: hash, proof: path_
        });
    }

    function statusOf(bytes32 hash) internal view returns (ICertificateStatus.CertificateStatus memory) {
        return ledger.certificateStatus(ORG_BRAND, ISSUANCE, hash, issuer, root, proofOf(hash));
    }

    /// @dev A one-certificate batch of brand A holding `hash`.
    function anchorAlone(address anchorer, bytes32 hash) internal returns (bytes32 single) {
        single = MerkleTree.leaf(hash);
        vm.prank(anchorer);
        ledger.anchor(single, IRecordAnchor.RecordKind.Certificate, 1);
    }
}

contract ProvenanceLedger_revokeCertificate_Test is CertificateFixture {
    function testFuzz_RevokesAndEmits(uint256 pick, uint16 reason) public {
        vm.assume(reason != 0);
        bytes32 hash = tree.records[pick % 7];
        vm.expectEmit(true, true, true, true, address(ledger));
        emit ICertificateStatus.CertificateRevoked(ORG_BRAND, hash, issuer, root, reason, revoker);
        vm.prank(revoker);
        ledger.revokeCertificate(issuer, root, hash, proofOf(hash), reason);

        ICertificateStatus.Revocation memory r = ledger.certificateRecordOf(ORG_BRAND, hash).revocation;
        vm.assertEq(r.revokedBy, revoker);
        vm.assertEq(r.revokedAt, START + 100);
        vm.assertEq(r.reason, reason);
        ICertificateStatus.CertificateStatus memory s = statusOf(hash);
        vm.assertEq(uint256(s.state), uint256(ICertificateStatus.CertificateState.Revoked));
        vm.assertEq(uint256(s.cause), uint256(IRecordAnchor.Cause.CertificateRevoked));
        vm.assertEq(s.reason, reason);
        vm.assertEq(s.at, START + 100);
        // Nothing of another organisation's copy changes.
        vm.assertEq(ledger.certificateRecordOf(ORG_BRAND_B, hash).revocation.revokedAt, 0);
    }

    function test_RevertWhen_CallerIsNotARevoker() public {
        address[4] memory callers = [issuer, admin, stranger, supplier];
        for (uint256 i = 0; i < callers.length; ++i) {
            vm.expectRevert(
                abi.encodeWithSelector(
                    IAccessControl.AccessControlUnauthorizedAccount.selector, callers[i], REVOKER_ROLE
                )
            );
            vm.prank(callers[i]);
            ledger.revokeCertificate(issuer, root, cert, path, 1);
        }
    }

    function test_RevertWhen_TheCertificateIsAnotherOrganisations() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                IRecordAnchor.NotOwnOrganisation.selector, revokerB, ORG_BRAND_B, ORG_BRAND
            )
        );
        vm.prank(revokerB);
        ledger.revokeCertificate(issuer, root, cert, path, 1);
    }

    function test_RevertWhen_BatchIsUnknownNotCertificatesOrProofWrong() public {
        vm.startPrank(revoker);
        vm.expectRevert(abi.encodeWithSelector(IRecordAnchor.BatchNotAnchored.selector, issuerB, root));
        ledger.revokeCertificate(issuerB, root, cert, path, 1);
        vm.stopPrank();
        vm.prank(issuer);
        ledger.anchor(keccak256("products"), IRecordAnchor.RecordKind.Product, 2);
        vm.startPrank(revoker);
        vm.expectRevert(
            abi.encodeWithSelector(
                ICertificateStatus.NotACertificateBatch.selector,
                issuer,
                keccak256("products"),
                IRecordAnchor.RecordKind.Product
            )
        );
        ledger.revokeCertificate(issuer, keccak256("products"), cert, path, 1);
        vm.expectRevert(
            abi.encodeWithSelector(
                ICertificateStatus.InvalidCertificateProof.selector, issuer, root, keccak256("not in it")
            )
        );
        ledger.revokeCertificate(issuer, root, keccak256("not in it"), path, 1);
        vm.expectRevert(abi.encodeWithSelector(IRecordAnchor.ProofTooLong.selector, 65, 64));
        ledger.revokeCertificate(issuer, root, cert, new bytes32[](65), 1);
        vm.expectRevert(IRecordAnchor.ZeroReason.selector);
        ledger.revokeCertificate(issuer, root, cert, path, 0);
        vm.stopPrank();
    }

    function test_RevertWhen_AlreadyRevokedThroughAnyBatch() public {
        vm.prank(revoker);
        ledger.revokeCertificate(issuer, root, cert, path, 2);
        bytes32 single = anchorAlone(issuer, cert);
        vm.expectRevert(
            abi.encodeWithSelector(
                ICertificateStatus.CertificateAlreadyRevoked.selector, ORG_BRAND, cert, 2, START + 100
            )
        );
        vm.prank(revoker);
        ledger.revokeCertificate(issuer, single, cert, noProof(), 3);
    }

    /// Revocation applies through every batch of the organisation: the same issuer's or another account's.
    function test_RevokedThroughEveryBatchOfTheOrganisation() public {
        vm.prank(revoker);
        ledger.revokeCertificate(issuer, root, cert, path, 2);
        address second = makeActor(31, "second issuer of A");
        enrol(second, ORG_BRAND, ISSUER_ROLE);
        bytes32 single = anchorAlone(second, cert);
        ICertificateStatus.CertificateStatus memory s =
            ledger.certificateStatus(ORG_BRAND, bytes32(0), cert, second, single, noProof());
        vm.assertEq(uint256(s.state), uint256(ICertificateStatus.CertificateState.Revoked));
    }
}

contract ProvenanceLedger_revokeIssuance_Test is CertificateFixture {
    function testFuzz_RevokesEveryCertificateNamingIt(uint16 reason, uint256 pick) public {
        vm.assume(reason != 0);
        vm.expectEmit(true, true, true, true, address(ledger));
        emit ICertificateStatus.IssuanceRevoked(ORG_BRAND, ISSUANCE, reason, revoker);
        vm.prank(revoker);
        ledger.revokeIssuance(ISSUANCE, reason);

        ICertificateStatus.Revocation memory r = ledger.issuanceRevocationOf(ORG_BRAND, ISSUANCE);
        vm.assertEq(r.revokedBy, revoker);
        vm.assertEq(r.revokedAt, START + 100);
        vm.assertEq(r.reason, reason);
        bytes32 hash = tree.records[pick % 7];
        ICertificateStatus.CertificateStatus memory s = statusOf(hash);
        vm.assertEq(uint256(s.state), uint256(ICertificateStatus.CertificateState.Revoked));
        vm.assertEq(uint256(s.cause), uint256(IRecordAnchor.Cause.IssuanceRevoked));
        vm.assertEq(s.reason, reason);
        // A document naming another issuance, or none, is not touched.
        s = ledger.certificateStatus(ORG_BRAND, keccak256("other order"), hash, issuer, root, proofOf(hash));
        vm.assertEq(uint256(s.state), uint256(ICertificateStatus.CertificateState.Valid));
        s = ledger.certificateStatus(ORG_BRAND, bytes32(0), hash, issuer, root, proofOf(hash));
        vm.assertEq(uint256(s.state), uint256(ICertificateStatus.CertificateState.Valid));
        // Brand B's issuance of the same id is its own.
        vm.assertEq(ledger.issuanceRevocationOf(ORG_BRAND_B, ISSUANCE).revokedAt, 0);
    }

    function test_RevertWhen_InvalidOrRepeated() public {
        vm.startPrank(revoker);
        vm.expectRevert(ICertificateStatus.ZeroIssuanceId.selector);
        ledger.revokeIssuance(bytes32(0), 1);
        vm.expectRevert(IRecordAnchor.ZeroReason.selector);
        ledger.revokeIssuance(ISSUANCE, 0);
        ledger.revokeIssuance(ISSUANCE, 1);
        vm.expectRevert(
            abi.encodeWithSelector(
                ICertificateStatus.IssuanceAlreadyRevoked.selector, ORG_BRAND, ISSUANCE, 1, START + 100
            )
        );
        ledger.revokeIssuance(ISSUANCE, 2);
        vm.stopPrank();
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControl.AccessControlUnauthorizedAccount.selector, issuer, REVOKER_ROLE
            )
        );
        vm.prank(issuer);
        ledger.revokeIssuance(ISSUANCE, 1);
    }
}

contract ProvenanceLedger_supersedeCertificate_Test is CertificateFixture {
    bytes32 internal constant SUCCESSOR = keccak256("re-engraved certificate");
    bytes32 internal successorRoot;

    function setUp() public override {
        super.setUp();
        successorRoot = anchorAlone(issuer, SUCCESSOR);
    }

    function _supersede(address caller) internal {
        vm.prank(caller);
        ledger.supersedeCertificate(
            ref(issuer, root, cert, path), ref(issuer, successorRoot, SUCCESSOR, noProof())
        );
    }

    function test_SupersedesAndNamesBothBatches() public {
        vm.expectEmit(true, true, true, true, address(ledger));
        emit ICertificateStatus.CertificateSuperseded(
            ORG_BRAND, cert, SUCCESSOR, issuer, root, issuer, successorRoot, issuer
        );
        _supersede(issuer);
        ICertificateStatus.Supersession memory s = ledger.certificateRecordOf(ORG_BRAND, cert).supersession;
        vm.assertEq(s.successorHash, SUCCESSOR);
        vm.assertEq(s.successorRoot, successorRoot);
        vm.assertEq(s.successorAnchorer, issuer);
        vm.assertEq(s.supersededAt, START + 100);
        vm.assertEq(s.supersededBy, issuer);
        vm.assertEq(s.root, root);
        vm.assertEq(s.anchorer, issuer);
        ICertificateStatus.CertificateStatus memory status = statusOf(cert);
        vm.assertEq(uint256(status.state), uint256(ICertificateStatus.CertificateState.Superseded));
        vm.assertEq(status.at, START + 100);
        vm.assertEq(status.successorHash, SUCCESSOR);
        vm.assertEq(status.successorRoot, successorRoot);
        vm.assertEq(status.successorAnchorer, issuer);
    }

    function test_TheRevokerAndTheAdminMaySupersede() public {
        _supersede(revoker);
        vm.assertEq(ledger.certificateRecordOf(ORG_BRAND, cert).supersession.supersededBy, revoker);
        bytes32 other = tree.records[0];
        vm.prank(admin);
        ledger.supersedeCertificate(
            ref(issuer, root, other, proofOf(other)),
            ref(issuer, root, tree.records[1], proofOf(tree.records[1]))
        );
        vm.assertEq(ledger.certificateRecordOf(ORG_BRAND, other).supersession.supersededBy, admin);
    }

    function test_RevertWhen_CallerIsOfAnotherOrganisationOrRole() public {
        vm.expectRevert(
            abi.encodeWithSelector(IRecordAnchor.NotOwnOrganisation.selector, issuerB, ORG_BRAND_B, ORG_BRAND)
        );
        _supersede(issuerB);
        vm.expectRevert(abi.encodeWithSelector(ICertificateStatus.UnauthorisedSuperseder.selector, supplier));
        _supersede(supplier);
        vm.expectRevert(abi.encodeWithSelector(ICertificateStatus.UnauthorisedSuperseder.selector, stranger));
        _supersede(stranger);
    }

    function test_RevertWhen_SuccessorIsAnotherOrganisations() public {
        bytes32 theirs = anchorAlone(issuerB, keccak256("B's certificate"));
        vm.expectRevert(
            abi.encodeWithSelector(IRecordAnchor.NotOwnOrganisation.selector, issuer, ORG_BRAND, ORG_BRAND_B)
        );
        vm.prank(issuer);
        ledger.supersedeCertificate(
            ref(issuer, root, cert, path), ref(issuerB, theirs, keccak256("B's certificate"), noProof())
        );
    }

    function test_RevertWhen_SuccessorIsZeroOrTheSame() public {
        vm.startPrank(issuer);
        vm.expectRevert(ICertificateStatus.ZeroSuccessor.selector);
        ledger.supersedeCertificate(ref(issuer, root, cert, path), ref(issuer, successorRoot, 0, noProof()));
        vm.expectRevert(abi.encodeWithSelector(ICertificateStatus.SuccessorIsSameCertificate.selector, cert));
        ledger.supersedeCertificate(ref(issuer, root, cert, path), ref(issuer, root, cert, path));
        vm.stopPrank();
    }

    function test_RevertWhen_SuccessorIsNotProvenOrItsBatchFlagged() public {
        vm.startPrank(issuer);
        vm.expectRevert(
            abi.encodeWithSelector(
                ICertificateStatus.InvalidCertificateProof.selector, issuer, successorRoot, keccak256("x")
            )
        );
        ledger.supersedeCertificate(
            ref(issuer, root, cert, path), ref(issuer, successorRoot, keccak256("x"), path)
        );
        ledger.flagBatch(issuer, successorRoot, 5);
        vm.expectRevert(
            abi.encodeWithSelector(
                ICertificateStatus.SuccessorBatchNotValid.selector,
                issuer,
                successorRoot,
                IRecordAnchor.Cause.BatchFlagged
            )
        );
        ledger.supersedeCertificate(
            ref(issuer, root, cert, path), ref(issuer, successorRoot, SUCCESSOR, noProof())
        );
        vm.stopPrank();
    }

    function test_RevertWhen_EitherIsRevokedOrSuperseded() public {
        _supersede(issuer);
        vm.expectRevert(
            abi.encodeWithSelector(
                ICertificateStatus.CertificateAlreadySuperseded.selector,
                ORG_BRAND,
                cert,
                SUCCESSOR,
                START + 100
            )
        );
        _supersede(issuer);
        // A superseded certificate cannot be a successor.
        bytes32 other = tree.records[0];
        vm.expectRevert(
            abi.encodeWithSelector(
                ICertificateStatus.CertificateAlreadySuperseded.selector,
                ORG_BRAND,
                cert,
                SUCCESSOR,
                START + 100
            )
        );
        vm.prank(issuer);
        ledger.supersedeCertificate(ref(issuer, root, other, proofOf(other)), ref(issuer, root, cert, path));
        // A revoked one neither.
        vm.prank(revoker);
        ledger.revokeCertificate(issuer, successorRoot, SUCCESSOR, noProof(), 9);
        vm.expectRevert(
            abi.encodeWithSelector(
                ICertificateStatus.CertificateAlreadyRevoked.selector, ORG_BRAND, SUCCESSOR, 9, START + 100
            )
        );
        vm.prank(issuer);
        ledger.supersedeCertificate(
            ref(issuer, root, other, proofOf(other)), ref(issuer, successorRoot, SUCCESSOR, noProof())
        );
    }

    function test_RevocationWinsOverSupersession() public {
        _supersede(issuer);
        vm.prank(revoker);
        ledger.revokeCertificate(issuer, root, cert, path, 4);
        ICertificateStatus.CertificateStatus memory s = statusOf(cert);
        vm.assertEq(uint256(s.state), uint256(ICertificateStatus.CertificateState.Revoked));
        vm.assertEq(s.successorHash, 0);
    }
}

contract ProvenanceLedger_certificateStatus_Test is CertificateFixture {
    function test_ValidWithTheAnchoringTime() public view {
        ICertificateStatus.CertificateStatus memory s = statusOf(cert);
        vm.assertEq(uint256(s.state), uint256(ICertificateStatus.CertificateState.Valid));
        vm.assertEq(uint256(s.cause), uint256(IRecordAnchor.Cause.None));
        vm.assertEq(s.at, START);
        vm.assertEq(s.reason, 0);
    }

    function test_UnknownCauses() public {
        ICertificateStatus.CertificateStatus memory s =
            ledger.certificateStatus(ORG_BRAND, ISSUANCE, cert, issuerB, root, path);
        vm.assertEq(uint256(s.cause), uint256(IRecordAnchor.Cause.NotAnchored));
        vm.prank(issuer);
        ledger.anchor(keccak256("products"), IRecordAnchor.RecordKind.Product, 1);
        s = ledger.certificateStatus(ORG_BRAND, ISSUANCE, cert, issuer, keccak256("products"), path);
        vm.assertEq(uint256(s.cause), uint256(IRecordAnchor.Cause.WrongKind));
        s = ledger.certificateStatus(ORG_BRAND_B, ISSUANCE, cert, issuer, root, path);
        vm.assertEq(uint256(s.cause), uint256(IRecordAnchor.Cause.OtherOrganisation));
        s = ledger.certificateStatus(bytes16(0), ISSUANCE, cert, issuer, root, path);
        vm.assertEq(uint256(s.cause), uint256(IRecordAnchor.Cause.OtherOrganisation));
        s = ledger.certificateStatus(ORG_BRAND, ISSUANCE, keccak256("forged"), issuer, root, path);
        vm.assertEq(uint256(s.cause), uint256(IRecordAnchor.Cause.NotInBatch));
        vm.assertEq(uint256(s.state), uint256(ICertificateStatus.CertificateState.Unknown));
        vm.assertEq(s.at, 0);
    }

    function test_AFlaggedBatchReadsRevoked() public {
        vm.prank(revoker);
        ledger.flagBatch(issuer, root, 6);
        ICertificateStatus.CertificateStatus memory s = statusOf(cert);
        vm.assertEq(uint256(s.state), uint256(ICertificateStatus.CertificateState.Revoked));
        vm.assertEq(uint256(s.cause), uint256(IRecordAnchor.Cause.BatchFlagged));
        vm.assertEq(s.reason, 6);
        vm.assertEq(s.at, START + 100);
    }

    function test_ACompromisedAnchorerReadsRevokedFromItsBlock() public {
        // setUp anchored at block 1,000; a second batch at 1,001.
        bytes32 later = anchorAlone(issuer, keccak256("later certificate"));
        vm.roll(1_010);
        vm.prank(admin);
        ledger.markCompromised(issuer, 1_001, 8);
        vm.assertEq(uint256(statusOf(cert).state), uint256(ICertificateStatus.CertificateState.Valid));
        ICertificateStatus.CertificateStatus memory s = ledger.certificateStatus(
            ORG_BRAND, ISSUANCE, keccak256("later certificate"), issuer, later, noProof()
        );
        vm.assertEq(uint256(s.state), uint256(ICertificateStatus.CertificateState.Revoked));
        vm.assertEq(uint256(s.cause), uint256(IRecordAnchor.Cause.AnchorerCompromised));
        vm.assertEq(s.reason, 8);
        // Moved earlier: the first batch goes too.
        vm.prank(admin);
        ledger.markCompromised(issuer, 1_000, 8);
        vm.assertEq(uint256(statusOf(cert).cause), uint256(IRecordAnchor.Cause.AnchorerCompromised));
    }

    function test_OrderOfTheRevocationCauses() public {
        vm.prank(admin);
        ledger.markCompromised(issuer, 1_000, 8);
        vm.assertEq(uint256(statusOf(cert).cause), uint256(IRecordAnchor.Cause.AnchorerCompromised));
        vm.prank(revoker);
        ledger.flagBatch(issuer, root, 6);
        vm.assertEq(uint256(statusOf(cert).cause), uint256(IRecordAnchor.Cause.BatchFlagged));
        vm.prank(revoker);
        ledger.revokeIssuance(ISSUANCE, 5);
        vm.assertEq(uint256(statusOf(cert).cause), uint256(IRecordAnchor.Cause.IssuanceRevoked));
        vm.prank(revoker);
        ledger.revokeCertificate(issuer, root, cert, path, 4);
        vm.assertEq(uint256(statusOf(cert).cause), uint256(IRecordAnchor.Cause.CertificateRevoked));
        vm.assertEq(statusOf(cert).reason, 4);
    }

    function test_RevertWhen_ProofIsTooLong() public {
        vm.expectRevert(abi.encodeWithSelector(IRecordAnchor.ProofTooLong.selector, 65, 64));
        ledger.certificateStatus(ORG_BRAND, ISSUANCE, cert, issuer, root, new bytes32[](65));
    }
}
