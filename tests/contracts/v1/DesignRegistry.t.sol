// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.24;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {DesignRegistry} from "../../../contracts/DesignRegistry.sol";
import {IDesignRegistry} from "../../../contracts/interfaces/IDesignRegistry.sol";
import {V1_LedgerFixture} from "./Fixtures.sol";

abstract contract V1_RegistryFixture is V1_LedgerFixture {
    bytes32 internal constant FP = keccak256("design file");
    bytes32 internal constant META = keccak256("metadata");
    bytes32 internal constant OWNER = keccak256("owner reference");
    bytes32 internal constant DOC = keccak256("signed document");
    uint64 internal constant CODE = 0x8f3c0a11d2e4b597;

    function register(bytes32 fingerprint, bytes32 parent) internal {
        vm.prank(registrar);
        registry.register(fingerprint, CODE, META, OWNER, parent);
    }
}

contract V1_DesignRegistry_constructor_Test is V1_RegistryFixture {
    function test_RevertWhen_LedgerIsZero() public {
        vm.expectRevert(abi.encodeWithSelector(IDesignRegistry.ZeroLedger.selector));
        new DesignRegistry(address(0));
    }

    function test_BindsTheLedger() public view {
        vm.assertEq(registry.ledger(), address(ledger));
        vm.assertEq(registry.REGISTRAR_ROLE(), ledger.REGISTRAR_ROLE());
        vm.assertEq(registry.version(), "1.0.0");
    }
}

contract V1_DesignRegistry_register_Test is V1_RegistryFixture {
    function testFuzz_RegistersAndEmits(
        bytes32 fingerprint,
        uint64 code,
        bytes32 meta,
        bytes32 owner,
        uint64 when,
        uint64 blockNumber
    ) public {
        vm.assume(fingerprint != 0 && meta != 0 && owner != 0);
        when = uint64(bound(when, 1, type(uint48).max));
        blockNumber = uint64(bound(blockNumber, 0, type(uint48).max));
        vm.warp(when);
        vm.roll(blockNumber);
        vm.expectEmit(true, true, true, true, address(registry));
        emit IDesignRegistry.DesignRegistered(fingerprint, registrar, owner, code, meta, bytes32(0));
        vm.prank(registrar);
        registry.register(fingerprint, code, meta, owner, bytes32(0));

        IDesignRegistry.Design memory d = registry.designOf(fingerprint);
        vm.assertEq(d.registrant, registrar);
        vm.assertEq(d.registeredAt, when);
        vm.assertEq(d.blockNumber, blockNumber);
        vm.assertEq(d.ownerRef, owner);
        vm.assertEq(d.metadataHash, meta);
        vm.assertTrue(registry.isRegistered(fingerprint));
    }

    function testFuzz_RegistersADerivedDesign(bytes32 child) public {
        vm.assume(child != 0 && child != FP);
        register(FP, 0);
        vm.expectEmit(true, true, true, true, address(registry));
        emit IDesignRegistry.DesignRegistered(child, registrar, OWNER, CODE, META, FP);
        register(child, FP);
        vm.assertEq(registry.designOf(child).registrant, registrar);
    }

    function testFuzz_RevertWhen_CallerIsNotRegistrar(address caller) public {
        vm.assume(caller != registrar);
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, caller, REGISTRAR_ROLE)
        );
        vm.prank(caller);
        registry.register(FP, CODE, META, OWNER, 0);
    }

    function test_RevertWhen_RegistrarRoleWasRevoked() public {
        register(FP, 0);
        vm.prank(admin);
        ledger.revokeRole(REGISTRAR_ROLE, registrar);
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControl.AccessControlUnauthorizedAccount.selector, registrar, REGISTRAR_ROLE
            )
        );
        register(keccak256("next design"), 0);
    }

    function test_RevertWhen_FingerprintIsZero() public {
        vm.expectRevert(abi.encodeWithSelector(IDesignRegistry.ZeroFingerprint.selector));
        register(0, 0);
    }

    function test_RevertWhen_MetadataHashIsZero() public {
        vm.expectRevert(abi.encodeWithSelector(IDesignRegistry.ZeroMetadataHash.selector));
        vm.prank(registrar);
        registry.register(FP, CODE, 0, OWNER, 0);
    }

    function test_RevertWhen_OwnerRefIsZero() public {
        vm.expectRevert(abi.encodeWithSelector(IDesignRegistry.ZeroOwnerRef.selector));
        vm.prank(registrar);
        registry.register(FP, CODE, META, 0, 0);
    }

    function testFuzz_RevertWhen_AlreadyRegistered(bytes32 fingerprint, bytes32 otherOwner) public {
        vm.assume(fingerprint != 0 && otherOwner != 0);
        register(fingerprint, 0);
        address second = makeActor(99, "second registrar");
        vm.prank(admin);
        ledger.grantRole(REGISTRAR_ROLE, second);
        vm.warp(START + 1 days);
        vm.expectRevert(
            abi.encodeWithSelector(
                IDesignRegistry.DesignAlreadyRegistered.selector, fingerprint, registrar, START
            )
        );
        vm.prank(second);
        registry.register(fingerprint, 0, META, otherOwner, 0);
        vm.assertEq(registry.designOf(fingerprint).ownerRef, OWNER);
    }

    function testFuzz_RevertWhen_ParentIsNotRegistered(bytes32 parent) public {
        vm.assume(parent != 0 && parent != FP);
        vm.expectRevert(abi.encodeWithSelector(IDesignRegistry.ParentNotRegistered.selector, parent));
        register(FP, parent);
    }

    function test_RevertWhen_DesignIsItsOwnParent() public {
        vm.expectRevert(abi.encodeWithSelector(IDesignRegistry.DesignIsOwnParent.selector, FP));
        register(FP, FP);
    }
}

contract V1_DesignRegistry_assign_Test is V1_RegistryFixture {
    address internal brand;

    function setUp() public override {
        super.setUp();
        brand = makeActor(20, "brand");
        register(FP, 0);
    }

    function testFuzz_AssignsByTheRegistrant(address newRegistrant, bytes32 newOwner, bytes32 doc) public {
        vm.assume(newRegistrant != address(0) && newOwner != 0 && doc != 0);
        vm.expectEmit(true, true, true, true, address(registry));
        emit IDesignRegistry.DesignAssigned(FP, newRegistrant, newOwner, registrar, OWNER, doc, registrar);
        vm.prank(registrar);
        registry.assign(FP, newRegistrant, newOwner, doc);

        IDesignRegistry.Design memory d = registry.designOf(FP);
        vm.assertEq(d.registrant, newRegistrant);
        vm.assertEq(d.ownerRef, newOwner);
        vm.assertEq(d.registeredAt, START); // the registration time is kept
        vm.assertEq(d.metadataHash, META);
    }

    function test_AssignsByTheAdmin() public {
        vm.expectEmit(true, true, true, true, address(registry));
        emit IDesignRegistry.DesignAssigned(FP, brand, keccak256("new owner"), registrar, OWNER, DOC, admin);
        vm.prank(admin);
        registry.assign(FP, brand, keccak256("new owner"), DOC);
        vm.assertEq(registry.designOf(FP).registrant, brand);
    }

    function test_TheNewRegistrantTakesOver() public {
        vm.prank(registrar);
        registry.assign(FP, brand, keccak256("new owner"), DOC);
        vm.expectRevert(
            abi.encodeWithSelector(IDesignRegistry.NotRegistrantOrAdmin.selector, FP, registrar, brand)
        );
        vm.prank(registrar);
        registry.assign(FP, registrar, OWNER, keccak256("doc 2"));
        vm.prank(brand);
        registry.assign(FP, stranger, OWNER, keccak256("doc 3"));
        vm.assertEq(registry.designOf(FP).registrant, stranger);
    }

    function testFuzz_RevertWhen_CallerIsNeitherRegistrantNorAdmin(address caller) public {
        vm.assume(caller != registrar && caller != admin);
        vm.expectRevert(abi.encodeWithSelector(IDesignRegistry.NotRegistrantOrAdmin.selector, FP, caller, registrar));
        vm.prank(caller);
        registry.assign(FP, brand, OWNER, DOC);
    }

    function test_RevertWhen_AdminRoleWasRevoked() public {
        vm.prank(admin);
        ledger.renounceRole(DEFAULT_ADMIN_ROLE, admin);
        vm.expectRevert(abi.encodeWithSelector(IDesignRegistry.NotRegistrantOrAdmin.selector, FP, admin, registrar));
        vm.prank(admin);
        registry.assign(FP, brand, OWNER, DOC);
    }

    function testFuzz_RevertWhen_NotRegistered(bytes32 fingerprint) public {
        vm.assume(fingerprint != FP);
        vm.expectRevert(abi.encodeWithSelector(IDesignRegistry.DesignNotRegistered.selector, fingerprint));
        vm.prank(admin);
        registry.assign(fingerprint, brand, OWNER, DOC);
    }

    function test_RevertWhen_NewRegistrantIsZero() public {
        vm.expectRevert(abi.encodeWithSelector(IDesignRegistry.ZeroRegistrant.selector));
        vm.prank(registrar);
        registry.assign(FP, address(0), OWNER, DOC);
    }

    function test_RevertWhen_NewOwnerRefIsZero() public {
        vm.expectRevert(abi.encodeWithSelector(IDesignRegistry.ZeroOwnerRef.selector));
        vm.prank(registrar);
        registry.assign(FP, brand, 0, DOC);
    }

    function test_RevertWhen_DocumentHashIsZero() public {
        vm.expectRevert(abi.encodeWithSelector(IDesignRegistry.ZeroDocumentHash.selector));
        vm.prank(registrar);
        registry.assign(FP, brand, OWNER, 0);
    }
}

contract V1_DesignRegistry_grantLicence_Test is V1_RegistryFixture {
    bytes32 internal constant LICENSEE = keccak256("licensee reference");

    function setUp() public override {
        super.setUp();
        register(FP, 0);
    }

    function testFuzz_RecordsAndEmits(bytes32 licensee, bytes32 doc, uint64 validFrom, uint64 validUntil) public {
        vm.assume(licensee != 0 && doc != 0);
        vm.assume(validUntil == 0 || validUntil > validFrom);
        vm.expectEmit(true, true, true, true, address(registry));
        emit IDesignRegistry.LicenceGranted(FP, licensee, doc, validFrom, validUntil, registrar);
        vm.prank(registrar);
        registry.grantLicence(FP, licensee, doc, validFrom, validUntil);

        IDesignRegistry.Licence memory l = registry.licenceOf(FP, doc);
        vm.assertEq(l.licenseeRef, licensee);
        vm.assertEq(l.grantedBy, registrar);
        vm.assertEq(l.grantedAt, START);
        vm.assertEq(l.validFrom, validFrom);
        vm.assertEq(l.validUntil, validUntil);
    }

    function test_ByTheAdmin() public {
        vm.prank(admin);
        registry.grantLicence(FP, LICENSEE, DOC, 0, 0);
        vm.assertEq(registry.licenceOf(FP, DOC).grantedBy, admin);
    }

    function test_RevertWhen_Duplicate() public {
        vm.prank(registrar);
        registry.grantLicence(FP, LICENSEE, DOC, 10, 20);
        vm.expectRevert(
            abi.encodeWithSelector(IDesignRegistry.LicenceAlreadyGranted.selector, FP, DOC, START)
        );
        vm.prank(admin);
        registry.grantLicence(FP, keccak256("someone else"), DOC, 30, 40);
    }

    function testFuzz_RevertWhen_PeriodIsInvalid(uint64 validFrom, uint64 validUntil) public {
        vm.assume(validUntil != 0 && validUntil <= validFrom);
        vm.expectRevert(abi.encodeWithSelector(IDesignRegistry.InvalidLicencePeriod.selector, validFrom, validUntil));
        vm.prank(registrar);
        registry.grantLicence(FP, LICENSEE, DOC, validFrom, validUntil);
    }

    function testFuzz_RevertWhen_CallerIsNeitherRegistrantNorAdmin(address caller) public {
        vm.assume(caller != registrar && caller != admin);
        vm.expectRevert(abi.encodeWithSelector(IDesignRegistry.NotRegistrantOrAdmin.selector, FP, caller, registrar));
        vm.prank(caller);
        registry.grantLicence(FP, LICENSEE, DOC, 0, 0);
    }

    function test_RevertWhen_NotRegistered() public {
        bytes32 other = keccak256("other");
        vm.expectRevert(abi.encodeWithSelector(IDesignRegistry.DesignNotRegistered.selector, other));
        vm.prank(registrar);
        registry.grantLicence(other, LICENSEE, DOC, 0, 0);
    }

    function test_RevertWhen_LicenseeRefIsZero() public {
        vm.expectRevert(abi.encodeWithSelector(IDesignRegistry.ZeroLicenseeRef.selector));
        vm.prank(registrar);
        registry.grantLicence(FP, 0, DOC, 0, 0);
    }

    function test_RevertWhen_DocumentHashIsZero() public {
        vm.expectRevert(abi.encodeWithSelector(IDesignRegistry.ZeroDocumentHash.selector));
        vm.prank(registrar);
        registry.grantLicence(FP, LICENSEE, 0, 0, 0);
    }
}

contract V1_DesignRegistry_designOf_Test is V1_RegistryFixture {
    function testFuzz_EmptyWhenNotRegistered(bytes32 fingerprint) public view {
        IDesignRegistry.Design memory d = registry.designOf(fingerprint);
        vm.assertEq(d.registrant, address(0));
        vm.assertEq(d.registeredAt, 0);
        vm.assertEq(d.ownerRef, bytes32(0));
        vm.assertFalse(registry.isRegistered(fingerprint));
    }

    function test_NotAnImageLogsZeroCode() public {
        vm.expectEmit(true, true, true, true, address(registry));
        emit IDesignRegistry.DesignRegistered(FP, registrar, OWNER, 0, META, bytes32(0));
        vm.prank(registrar);
        registry.register(FP, 0, META, OWNER, 0);
        vm.assertEq(registry.designOf(FP).metadataHash, META);
    }
}

contract V1_DesignRegistry_licenceOf_Test is V1_RegistryFixture {
    function testFuzz_EmptyWhenNotGranted(bytes32 fingerprint, bytes32 doc) public view {
        IDesignRegistry.Licence memory l = registry.licenceOf(fingerprint, doc);
        vm.assertEq(l.grantedAt, 0);
        vm.assertEq(l.licenseeRef, bytes32(0));
    }
}
