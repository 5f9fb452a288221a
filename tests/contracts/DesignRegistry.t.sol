// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.24;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {DesignRegistry} from "../../contracts/v2/DesignRegistry.sol";
import {IDesignRegistry} from "../../contracts/v2/interfaces/IDesignRegistry.sol";
import {IRecordAnchor} from "../../contracts/v2/interfaces/IRecordAnchor.sol";
import {LedgerFixture} from "./utils/Fixtures.sol";
import {MerkleTree} from "./utils/MerkleTree.sol";

abstract contract RegistryFixture is LedgerFixture {
    bytes32 internal constant FP = keccak256("design file");
    bytes32 internal constant META = keccak256("metadata");
    bytes32 internal constant OWNER = keccak256("owner reference");
    bytes32 internal constant DOC = keccak256("signed document");
    uint64 internal constant CODE = 0x8f3c0a11d2e4b597;
    uint256 internal constant WINDOW = 1 days;

    function register(
        address registrant,
        bytes32 fingerprint,
        bytes32 parent,
        IDesignRegistry.Commitment memory c
    ) internal {
        vm.prank(registrant);
        registry.register(fingerprint, CODE, META, OWNER, parent, c);
    }

    /// @dev `registrar` commits to and registers `fingerprint`, then waits until the filing is final.
    function registerFinal(bytes32 fingerprint) internal {
        register(registrar, fingerprint, 0, commit(fingerprint));
        vm.warp(registry.designOf(fingerprint).finalAt);
    }
}

contract DesignRegistry_constructor_Test is RegistryFixture {
    function test_RevertWhen_LedgerIsZero() public {
        vm.expectRevert(IDesignRegistry.ZeroLedger.selector);
        new DesignRegistry(address(0));
    }

    function test_BindsTheLedger() public view {
        vm.assertEq(registry.ledger(), address(ledger));
        vm.assertEq(registry.REGISTRAR_ROLE(), ledger.REGISTRAR_ROLE());
        vm.assertEq(registry.REVEAL_WINDOW(), WINDOW);
        vm.assertEq(registry.version(), "2.0.0");
    }

    function testFuzz_CommitmentHash(bytes32 fingerprint, address registrant, bytes32 salt) public view {
        vm.assertEq(
            registry.commitmentHash(fingerprint, registrant, salt),
            keccak256(abi.encode(fingerprint, registrant, salt))
        );
    }
}

contract DesignRegistry_register_Test is RegistryFixture {
    function testFuzz_FilesWithTheCommitmentsTimeAndEmits(
        bytes32 fingerprint,
        uint64 code,
        bytes32 salt,
        uint256 wait
    ) public {
        vm.assume(fingerprint != 0);
        IDesignRegistry.Commitment memory c = commit(registrar, registrar, fingerprint, salt, 5);
        uint64 committedAt = uint64(block.timestamp - 12);
        uint64 committedBlock = uint64(block.number - 1);
        wait = bound(wait, 0, WINDOW - 12);
        vm.warp(block.timestamp + wait);
        vm.roll(block.number + 3);
        vm.expectEmit(true, true, true, true, address(registry));
        emit IDesignRegistry.DesignRegistered(fingerprint, registrar, OWNER, code, META, 0, registrar, c.root);
        vm.prank(registrar);
        registry.register(fingerprint, code, META, OWNER, 0, c);

        IDesignRegistry.Design memory d = registry.designOf(fingerprint);
        vm.assertEq(d.registrant, registrar);
        vm.assertEq(d.filedAt, committedAt);
        vm.assertEq(d.filedBlock, committedBlock);
        vm.assertEq(d.finalAt, committedAt + WINDOW + 1);
        vm.assertEq(d.ownerRef, OWNER);
        vm.assertEq(d.metadataHash, META);
        vm.assertTrue(registry.isRegistered(fingerprint));
    }

    function test_AnyAccountOfTheOrganisationMayAnchorTheCommitment() public {
        address second = makeActor(41, "second registrar of legal A");
        enrol(second, ORG_LEGAL, REGISTRAR_ROLE);
        register(registrar, FP, 0, commit(second, registrar, FP, keccak256("s"), 2));
        vm.assertEq(registry.designOf(FP).registrant, registrar);
    }

    function test_RegistersADerivedDesign() public {
        register(registrar, FP, 0, commit(FP));
        bytes32 child = keccak256("child");
        IDesignRegistry.Commitment memory c = commit(child);
        vm.expectEmit(true, true, true, true, address(registry));
        emit IDesignRegistry.DesignRegistered(child, registrar, OWNER, CODE, META, FP, registrar, c.root);
        register(registrar, child, FP, c);
    }

    function test_RevertWhen_ParentIsSelfOrUnknown() public {
        IDesignRegistry.Commitment memory c = commit(FP);
        vm.expectRevert(abi.encodeWithSelector(IDesignRegistry.DesignIsOwnParent.selector, FP));
        register(registrar, FP, FP, c);
        vm.expectRevert(
            abi.encodeWithSelector(IDesignRegistry.ParentNotRegistered.selector, keccak256("none"))
        );
        register(registrar, FP, keccak256("none"), c);
    }

    function testFuzz_RevertWhen_CallerIsNotARegistrar(uint256 pick) public {
        address[5] memory callers = [admin, issuer, revoker, stranger, supplier];
        address caller = callers[pick % 5];
        IDesignRegistry.Commitment memory c = commit(FP);
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControl.AccessControlUnauthorizedAccount.selector, caller, REGISTRAR_ROLE
            )
        );
        register(caller, FP, 0, c);
    }

    function test_RevertWhen_ZeroFields() public {
        IDesignRegistry.Commitment memory c = commit(FP);
        vm.startPrank(registrar);
        vm.expectRevert(IDesignRegistry.ZeroFingerprint.selector);
        registry.register(0, CODE, META, OWNER, 0, c);
        vm.expectRevert(IDesignRegistry.ZeroMetadataHash.selector);
        registry.register(FP, CODE, 0, OWNER, 0, c);
        vm.expectRevert(IDesignRegistry.ZeroOwnerRef.selector);
        registry.register(FP, CODE, META, 0, 0, c);
        vm.stopPrank();
    }

    function test_RevertWhen_CommitmentBatchIsMissingOrOfAnotherKind() public {
        IDesignRegistry.Commitment memory c = commit(FP);
        c.root = keccak256("nothing");
        vm.expectRevert(
            abi.encodeWithSelector(
                IDesignRegistry.CommitmentNotAnchored.selector, registrar, keccak256("nothing")
            )
        );
        register(registrar, FP, 0, c);
        // A batch of lots that happens to hold the commitment.
        bytes32 commitment = registry.commitmentHash(FP, registrar, c.salt);
        vm.prank(supplier);
        ledger.anchor(MerkleTree.leaf(commitment), IRecordAnchor.RecordKind.MaterialLot, 1);
        vm.roll(block.number + 1);
        IDesignRegistry.Commitment memory lots =
            IDesignRegistry.Commitment(supplier, MerkleTree.leaf(commitment), c.salt, noProof());
        vm.expectRevert(
            abi.encodeWithSelector(
                IDesignRegistry.NotACommitmentBatch.selector,
                supplier,
                MerkleTree.leaf(commitment),
                IRecordAnchor.RecordKind.MaterialLot
            )
        );
        register(registrar, FP, 0, lots);
    }

    /// A rival organisation cannot use, or place, a commitment for another organisation's registrant.
    function test_RevertWhen_CommitmentIsAnotherOrganisations() public {
        IDesignRegistry.Commitment memory theirs = commit(registrarB, registrar, FP, keccak256("s"), 0);
        vm.expectRevert(
            abi.encodeWithSelector(
                IDesignRegistry.CommitmentOfOtherOrganisation.selector, ORG_LEGAL_B, ORG_LEGAL
            )
        );
        register(registrar, FP, 0, theirs);
    }

    function test_RevertWhen_CommitmentIsInTheSameBlock() public {
        IDesignRegistry.Commitment memory c = commit(FP);
        vm.roll(block.number - 1);
        vm.expectRevert(abi.encodeWithSelector(IDesignRegistry.CommitmentNotEarlier.selector, block.number));
        register(registrar, FP, 0, c);
    }

    function test_RevertWhen_CommitmentIsTooOld() public {
        IDesignRegistry.Commitment memory c = commit(FP);
        uint64 committedAt = uint64(block.timestamp - 12);
        vm.warp(committedAt + WINDOW);
        vm.roll(block.number + 100);
        uint256 snapshot = block.timestamp;
        vm.warp(snapshot + 1);
        vm.expectRevert(
            abi.encodeWithSelector(
                IDesignRegistry.CommitmentExpired.selector, committedAt, committedAt + WINDOW
            )
        );
        register(registrar, FP, 0, c);
        vm.warp(snapshot); // the last second of the window still counts
        register(registrar, FP, 0, c);
    }

    function test_RevertWhen_TheCommitmentNamesSomethingElse() public {
        IDesignRegistry.Commitment memory c = commit(FP);
        bytes32 expected = registry.commitmentHash(FP, registrar, keccak256("wrong salt"));
        c.salt = keccak256("wrong salt");
        vm.expectRevert(
            abi.encodeWithSelector(
                IDesignRegistry.InvalidCommitmentProof.selector, registrar, c.root, expected
            )
        );
        register(registrar, FP, 0, c);
    }

    function test_RevertWhen_AnotherRegistrantOfTheOrganisationReveals() public {
        address second = makeActor(41, "second registrar of legal A");
        enrol(second, ORG_LEGAL, REGISTRAR_ROLE);
        IDesignRegistry.Commitment memory c = commit(FP);
        bytes32 expected = registry.commitmentHash(FP, second, c.salt);
        vm.expectRevert(
            abi.encodeWithSelector(
                IDesignRegistry.InvalidCommitmentProof.selector, registrar, c.root, expected
            )
        );
        register(second, FP, 0, c);
    }

    function test_AnEarlierCommitmentDisplacesALaterFiling() public {
        IDesignRegistry.Commitment memory early = commit(FP);
        uint64 earlyBlock = uint64(block.number - 1);
        IDesignRegistry.Commitment memory late = commit(registrarB, registrarB, FP, keccak256("late"), 0);
        uint64 lateBlock = uint64(block.number - 1);
        register(registrarB, FP, 0, late);
        vm.assertEq(registry.designOf(FP).filedBlock, lateBlock);

        vm.expectEmit(true, true, true, true, address(registry));
        emit IDesignRegistry.DesignDisplaced(FP, registrarB, OWNER, lateBlock);
        register(registrar, FP, 0, early);
        IDesignRegistry.Design memory d = registry.designOf(FP);
        vm.assertEq(d.registrant, registrar);
        vm.assertEq(d.filedBlock, earlyBlock);

        // And never back to a later one.
        vm.expectRevert(
            abi.encodeWithSelector(
                IDesignRegistry.DesignAlreadyRegistered.selector, FP, registrar, d.filedAt, earlyBlock
            )
        );
        register(registrarB, FP, 0, late);
    }

    function test_CommitmentsOfOneBlock_TheFirstFilingStands() public {
        bytes32 saltA = keccak256("a");
        bytes32 saltB = keccak256("b");
        bytes32 rootA = MerkleTree.leaf(registry.commitmentHash(FP, registrar, saltA));
        bytes32 rootB = MerkleTree.leaf(registry.commitmentHash(FP, registrarB, saltB));
        vm.prank(registrar);
        ledger.anchor(rootA, IRecordAnchor.RecordKind.DesignCommitment, 1);
        vm.prank(registrarB);
        ledger.anchor(rootB, IRecordAnchor.RecordKind.DesignCommitment, 1);
        vm.roll(block.number + 1);
        register(registrarB, FP, 0, IDesignRegistry.Commitment(registrarB, rootB, saltB, noProof()));
        vm.expectRevert(
            abi.encodeWithSelector(
                IDesignRegistry.DesignAlreadyRegistered.selector, FP, registrarB, START, 1_000
            )
        );
        register(registrar, FP, 0, IDesignRegistry.Commitment(registrar, rootA, saltA, noProof()));
    }
}

contract DesignRegistry_assignment_Test is RegistryFixture {
    bytes32 internal constant NEW_OWNER = keccak256("new owner");

    function setUp() public override {
        super.setUp();
        registerFinal(FP);
    }

    function _propose(address by) internal {
        vm.prank(by);
        registry.proposeAssignment(FP, registrarB, NEW_OWNER, DOC);
    }

    function test_TwoSteps() public {
        vm.expectEmit(true, true, true, true, address(registry));
        emit IDesignRegistry.AssignmentProposed(FP, registrarB, DOC, NEW_OWNER, registrar);
        _propose(registrar);
        IDesignRegistry.PendingAssignment memory p = registry.pendingAssignmentOf(FP);
        vm.assertEq(p.newRegistrant, registrarB);
        vm.assertEq(p.newOwnerRef, NEW_OWNER);
        vm.assertEq(p.documentHash, DOC);
        vm.assertEq(p.proposedBy, registrar);
        vm.assertEq(p.proposedAt, block.timestamp);
        // Nothing changes until the new registrant accepts.
        vm.assertEq(registry.designOf(FP).registrant, registrar);
        IDesignRegistry.Design memory before = registry.designOf(FP);

        vm.expectEmit(true, true, true, true, address(registry));
        emit IDesignRegistry.DesignAssigned(FP, registrarB, NEW_OWNER, registrar, OWNER, DOC, registrar);
        vm.prank(registrarB);
        registry.acceptAssignment(FP, DOC);
        IDesignRegistry.Design memory d = registry.designOf(FP);
        vm.assertEq(d.registrant, registrarB);
        vm.assertEq(d.ownerRef, NEW_OWNER);
        vm.assertEq(d.filedAt, before.filedAt);
        vm.assertEq(d.filedBlock, before.filedBlock);
        vm.assertEq(d.metadataHash, META);
        vm.assertEq(registry.pendingAssignmentOf(FP).newRegistrant, address(0));
    }

    function test_RevertWhen_NotFinal() public {
        bytes32 fresh = keccak256("fresh design");
        register(registrar, fresh, 0, commit(fresh));
        uint64 finalAt = registry.designOf(fresh).finalAt;
        vm.expectRevert(abi.encodeWithSelector(IDesignRegistry.DesignNotFinal.selector, fresh, finalAt));
        vm.prank(registrar);
        registry.proposeAssignment(fresh, registrarB, NEW_OWNER, DOC);
    }

    function test_RevertWhen_ProposerIsNotTheActiveRegistrant() public {
        vm.expectRevert(
            abi.encodeWithSelector(IDesignRegistry.NotActiveRegistrant.selector, FP, registrarB, registrar)
        );
        _propose(registrarB);
        vm.expectRevert(abi.encodeWithSelector(IDesignRegistry.RegistrantStillActive.selector, FP, registrar));
        _propose(admin);
        vm.prank(admin);
        ledger.revokeRole(REGISTRAR_ROLE, registrar);
        vm.expectRevert(
            abi.encodeWithSelector(IDesignRegistry.NotActiveRegistrant.selector, FP, registrar, registrar)
        );
        _propose(registrar);
    }

    function test_TheAdminRescuesTheDesignOfADisabledRegistrar() public {
        vm.prank(admin);
        ledger.revokeRole(REGISTRAR_ROLE, registrar);
        _propose(admin);
        vm.prank(registrarB);
        registry.acceptAssignment(FP, DOC);
        vm.assertEq(registry.designOf(FP).registrant, registrarB);
    }

    function test_RevertWhen_AcceptedByAnotherOrWithAnotherDocument() public {
        _propose(registrar);
        vm.expectRevert(
            abi.encodeWithSelector(IDesignRegistry.NotProposedRegistrant.selector, FP, stranger, registrarB)
        );
        vm.prank(stranger);
        registry.acceptAssignment(FP, DOC);
        vm.expectRevert(
            abi.encodeWithSelector(
                IDesignRegistry.AssignmentDocumentMismatch.selector, FP, DOC, keccak256("x")
            )
        );
        vm.prank(registrarB);
        registry.acceptAssignment(FP, keccak256("x"));
    }

    function test_RevertWhen_TheNewRegistrantIsNoRegistrar() public {
        vm.prank(registrar);
        registry.proposeAssignment(FP, issuer, NEW_OWNER, DOC);
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControl.AccessControlUnauthorizedAccount.selector, issuer, REGISTRAR_ROLE
            )
        );
        vm.prank(issuer);
        registry.acceptAssignment(FP, DOC);
    }

    /// A registrar that loses its role after proposing assigns nothing.
    function test_RevertWhen_TheProposerLostItsRole() public {
        _propose(registrar);
        vm.prank(admin);
        ledger.revokeRole(REGISTRAR_ROLE, registrar);
        vm.expectRevert(
            abi.encodeWithSelector(IDesignRegistry.AssignmentNoLongerAuthorised.selector, FP, registrar)
        );
        vm.prank(registrarB);
        registry.acceptAssignment(FP, DOC);
    }

    /// An admin's rescue proposal lapses once the registrant is active again.
    function test_RevertWhen_TheRegistrantIsActiveAgain() public {
        vm.prank(admin);
        ledger.revokeRole(REGISTRAR_ROLE, registrar);
        _propose(admin);
        vm.prank(admin);
        ledger.grantRole(REGISTRAR_ROLE, registrar);
        vm.expectRevert(
            abi.encodeWithSelector(IDesignRegistry.AssignmentNoLongerAuthorised.selector, FP, admin)
        );
        vm.prank(registrarB);
        registry.acceptAssignment(FP, DOC);
    }

    function test_CancelAndReplace() public {
        _propose(registrar);
        vm.prank(registrar);
        registry.proposeAssignment(FP, registrarB, NEW_OWNER, keccak256("second document"));
        vm.assertEq(registry.pendingAssignmentOf(FP).documentHash, keccak256("second document"));
        vm.expectRevert(
            abi.encodeWithSelector(IDesignRegistry.UnauthorisedCancellation.selector, FP, stranger)
        );
        vm.prank(stranger);
        registry.cancelAssignment(FP);
        vm.expectEmit(true, true, true, true, address(registry));
        emit IDesignRegistry.AssignmentCancelled(FP, keccak256("second document"), registrarB);
        vm.prank(registrarB); // declining
        registry.cancelAssignment(FP);
        vm.expectRevert(abi.encodeWithSelector(IDesignRegistry.NoPendingAssignment.selector, FP));
        vm.prank(registrar);
        registry.cancelAssignment(FP);
        vm.expectRevert(abi.encodeWithSelector(IDesignRegistry.NoPendingAssignment.selector, FP));
        vm.prank(registrarB);
        registry.acceptAssignment(FP, DOC);
    }

    function test_RevertWhen_ZeroArgumentsOrUnknownDesign() public {
        vm.startPrank(registrar);
        vm.expectRevert(IDesignRegistry.ZeroRegistrant.selector);
        registry.proposeAssignment(FP, address(0), NEW_OWNER, DOC);
        vm.expectRevert(IDesignRegistry.ZeroOwnerRef.selector);
        registry.proposeAssignment(FP, registrarB, 0, DOC);
        vm.expectRevert(IDesignRegistry.ZeroDocumentHash.selector);
        registry.proposeAssignment(FP, registrarB, NEW_OWNER, 0);
        vm.expectRevert(abi.encodeWithSelector(IDesignRegistry.DesignNotRegistered.selector, keccak256("x")));
        registry.proposeAssignment(keccak256("x"), registrarB, NEW_OWNER, DOC);
        vm.stopPrank();
    }
}

contract DesignRegistry_licences_Test is RegistryFixture {
    bytes32 internal constant LICENSEE = keccak256("licensee");

    function setUp() public override {
        super.setUp();
        registerFinal(FP);
    }

    function testFuzz_GrantsAndTerminates(uint64 validFrom, uint64 validUntil, uint16 reason) public {
        vm.assume(validUntil == 0 || validUntil > validFrom);
        vm.assume(reason != 0);
        vm.expectEmit(true, true, true, true, address(registry));
        emit IDesignRegistry.LicenceGranted(FP, LICENSEE, DOC, validFrom, validUntil, registrar);
        vm.prank(registrar);
        registry.grantLicence(FP, LICENSEE, DOC, validFrom, validUntil);
        uint256 grantedAt = block.timestamp;
        vm.warp(block.timestamp + 30);
        vm.expectEmit(true, true, true, true, address(registry));
        emit IDesignRegistry.LicenceTerminated(FP, DOC, reason, registrar);
        vm.prank(registrar);
        registry.terminateLicence(FP, DOC, reason);

        IDesignRegistry.Licence memory l = registry.licenceOf(FP, DOC);
        vm.assertEq(l.licenseeRef, LICENSEE);
        vm.assertEq(l.grantedBy, registrar);
        vm.assertEq(l.grantedAt, grantedAt);
        vm.assertEq(l.validFrom, validFrom);
        vm.assertEq(l.validUntil, validUntil);
        vm.assertEq(l.terminatedBy, registrar);
        vm.assertEq(l.terminatedAt, grantedAt + 30);
        vm.assertEq(l.terminationReason, reason);
        vm.expectRevert(
            abi.encodeWithSelector(IDesignRegistry.LicenceAlreadyTerminated.selector, FP, DOC, grantedAt + 30)
        );
        vm.prank(registrar);
        registry.terminateLicence(FP, DOC, reason);
    }

    function test_RevertWhen_NotFinalOrNotTheActiveRegistrant() public {
        bytes32 fresh = keccak256("fresh design");
        register(registrar, fresh, 0, commit(fresh));
        vm.expectRevert(
            abi.encodeWithSelector(
                IDesignRegistry.DesignNotFinal.selector, fresh, registry.designOf(fresh).finalAt
            )
        );
        vm.prank(registrar);
        registry.grantLicence(fresh, LICENSEE, DOC, 0, 0);
        vm.expectRevert(
            abi.encodeWithSelector(IDesignRegistry.NotActiveRegistrant.selector, FP, admin, registrar)
        );
        vm.prank(admin);
        registry.grantLicence(FP, LICENSEE, DOC, 0, 0);
        vm.prank(registrar);
        registry.grantLicence(FP, LICENSEE, DOC, 0, 0);
        vm.prank(admin);
        ledger.revokeRole(REGISTRAR_ROLE, registrar);
        vm.expectRevert(
            abi.encodeWithSelector(IDesignRegistry.NotActiveRegistrant.selector, FP, registrar, registrar)
        );
        vm.prank(registrar);
        registry.terminateLicence(FP, DOC, 1);
    }

    function test_TheNewRegistrantTerminatesAnEarlierLicence() public {
        vm.startPrank(registrar);
        registry.grantLicence(FP, LICENSEE, DOC, 0, 0);
        registry.proposeAssignment(FP, registrarB, keccak256("new owner"), keccak256("assignment"));
        vm.stopPrank();
        vm.prank(registrarB);
        registry.acceptAssignment(FP, keccak256("assignment"));
        vm.prank(registrarB);
        registry.terminateLicence(FP, DOC, 2);
        vm.assertEq(registry.licenceOf(FP, DOC).terminatedBy, registrarB);
    }

    function test_RevertWhen_InvalidLicences() public {
        vm.startPrank(registrar);
        vm.expectRevert(IDesignRegistry.ZeroLicenseeRef.selector);
        registry.grantLicence(FP, 0, DOC, 0, 0);
        vm.expectRevert(IDesignRegistry.ZeroDocumentHash.selector);
        registry.grantLicence(FP, LICENSEE, 0, 0, 0);
        vm.expectRevert(abi.encodeWithSelector(IDesignRegistry.InvalidLicencePeriod.selector, 10, 10));
        registry.grantLicence(FP, LICENSEE, DOC, 10, 10);
        registry.grantLicence(FP, LICENSEE, DOC, 0, 0);
        vm.expectRevert(
            abi.encodeWithSelector(IDesignRegistry.LicenceAlreadyGranted.selector, FP, DOC, block.timestamp)
        );
        registry.grantLicence(FP, LICENSEE, DOC, 0, 0);
        vm.expectRevert(IDesignRegistry.ZeroTerminationReason.selector);
        registry.terminateLicence(FP, DOC, 0);
        vm.expectRevert(
            abi.encodeWithSelector(IDesignRegistry.LicenceNotGranted.selector, FP, keccak256("x"))
        );
        registry.terminateLicence(FP, keccak256("x"), 1);
        vm.expectRevert(abi.encodeWithSelector(IDesignRegistry.DesignNotRegistered.selector, keccak256("x")));
        registry.terminateLicence(keccak256("x"), DOC, 1);
        vm.stopPrank();
    }
}

contract DesignRegistry_views_Test is RegistryFixture {
    function test_UnknownDesignReadsZero() public view {
        IDesignRegistry.Design memory d = registry.designOf(FP);
        vm.assertEq(d.registrant, address(0));
        vm.assertEq(d.finalAt, 0);
        vm.assertFalse(registry.isRegistered(FP));
        vm.assertEq(registry.licenceOf(FP, DOC).grantedAt, 0);
        vm.assertEq(registry.pendingAssignmentOf(FP).newRegistrant, address(0));
    }
}
