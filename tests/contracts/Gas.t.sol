// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.24;

import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {ICertificateStatus} from "../../contracts/v2/interfaces/ICertificateStatus.sol";
import {IDesignRegistry} from "../../contracts/v2/interfaces/IDesignRegistry.sol";
import {IOrganisations} from "../../contracts/v2/interfaces/IOrganisations.sol";
import {IRecordAnchor} from "../../contracts/v2/interfaces/IRecordAnchor.sol";
import {LedgerFixture} from "./utils/Fixtures.sol";
import {MerkleTree} from "./utils/MerkleTree.sol";

/**
 * @notice Gas goals, as TOTAL transaction gas (what a receipt's gasUsed shows on a Cancun chain):
 * 21,000 intrinsic + calldata (4 gas per zero byte, 16 per non-zero byte) + execution gas of the call frame
 * (read with `vm.lastCallGas()`; no refunds arise on these paths). Each measured call is the first touch of its
 * storage in its test, so every slot is cold, as in a real transaction.
 */
abstract contract GasFixture is LedgerFixture {
    using MerkleTree for MerkleTree.Tree;

    uint256 internal constant TX_GAS_CAP = 16_777_216; // 2^24, EIP-7825 transaction gas cap

    function calldataGas(bytes memory data) internal pure returns (uint256 gas) {
        for (uint256 i = 0; i < data.length; ++i) {
            gas += data[i] == 0 ? 4 : 16;
        }
    }

    /// @dev Calls `target` with `data` as `sender` and returns the total transaction gas of that call.
    function txGas(address sender, address target, bytes memory data) internal returns (uint256) {
        vm.prank(sender);
        (bool ok, bytes memory ret) = target.call(data);
        if (!ok) {
            assembly {
                revert(add(ret, 32), mload(ret))
            }
        }
        uint256 used = vm.lastCallGas().gasTotalUsed;
        if (_isolated()) {
            // `forge test --isolate` (implied by --gas-report): the call was its own transaction and `used`
            // already includes the intrinsic gas.
            emit log_named_uint("TOTAL tx gas (isolated)", used);
            return used;
        }
        uint256 total = 21_000 + calldataGas(data) + used;
        emit log_named_uint("calldata gas", calldataGas(data));
        emit log_named_uint("execution gas", used);
        emit log_named_uint("TOTAL tx gas", total);
        return total;
    }

    /// @dev Whether top-level calls run as separate transactions: then even a trivial call uses >= 21,000 gas.
    function _isolated() internal returns (bool) {
        (bool ok,) = address(ledger).call(abi.encodeWithSignature("version()"));
        require(ok, "probe failed");
        return vm.lastCallGas().gasTotalUsed >= 21_000;
    }

    function rootFor(bytes32 record, bytes32[] memory path) internal pure returns (bytes32) {
        return MerkleProof.processProof(path, MerkleTree.leaf(record));
    }

    function randomProof(uint256 seed, uint256 length) internal pure returns (bytes32[] memory path) {
        path = new bytes32[](length);
        for (uint256 i = 0; i < length; ++i) {
            path[i] = keccak256(abi.encode("sibling", seed, i));
        }
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

contract Gas_anchor_Test is GasFixture {
    bytes32 internal constant ROOT = 0x6c3c1ba8e0a1bd6dfbb40b0c87ea3ee2aa21a8a7b8cbd5ba0a7aa59b4b8e0a3f;

    function _anchorGas(address sender, IRecordAnchor.RecordKind kind) internal returns (uint256 gas) {
        gas = txGas(sender, address(ledger), abi.encodeCall(IRecordAnchor.anchor, (ROOT, kind, 1000)));
        vm.assertLe(gas, 50_000, "anchor goal: 50,000 total tx gas");
    }

    function test_Gas_Anchor_MaterialLot() public {
        _anchorGas(supplier, IRecordAnchor.RecordKind.MaterialLot);
    }

    function test_Gas_Anchor_ProductionStep() public {
        _anchorGas(factory, IRecordAnchor.RecordKind.ProductionStep);
    }

    function test_Gas_Anchor_Certificate() public {
        _anchorGas(issuer, IRecordAnchor.RecordKind.Certificate);
    }

    function test_Gas_Anchor_ProductByFactory() public {
        _anchorGas(factory, IRecordAnchor.RecordKind.Product);
    }

    function test_Gas_Anchor_ProductByIssuer() public {
        _anchorGas(issuer, IRecordAnchor.RecordKind.Product);
    }

    function test_Gas_Anchor_OtherBySupplier() public {
        _anchorGas(supplier, IRecordAnchor.RecordKind.Other);
    }

    function test_Gas_Anchor_OtherByIssuer() public {
        _anchorGas(issuer, IRecordAnchor.RecordKind.Other);
    }

    function test_Gas_Anchor_DesignCommitment() public {
        _anchorGas(registrar, IRecordAnchor.RecordKind.DesignCommitment);
    }
}

/// @notice An account holding every role pays the same: one slot is read whatever the roles.
contract Gas_anchor_EveryRole_Test is GasFixture {
    function setUp() public override {
        super.setUp();
        vm.startPrank(admin);
        ledger.grantRole(SUPPLIER_ROLE, issuer);
        ledger.grantRole(FACTORY_ROLE, issuer);
        ledger.grantRole(REVOKER_ROLE, issuer);
        ledger.grantRole(REGISTRAR_ROLE, issuer);
        vm.stopPrank();
    }

    function test_Gas_Anchor_AccountWithEveryRole() public {
        bytes memory data =
            abi.encodeCall(IRecordAnchor.anchor, (keccak256("root"), IRecordAnchor.RecordKind.Other, 1000));
        vm.assertLe(txGas(issuer, address(ledger), data), 50_000, "anchor goal");
    }
}

/// @notice Certificate writes on a 1,000-leaf certificate batch anchored in setUp (deepest leaves: 10 siblings).
contract Gas_certificates_Test is GasFixture {
    using MerkleTree for MerkleTree.Tree;

    bytes32 internal root;
    bytes32 internal record;
    bytes32[] internal path;
    MerkleTree.Tree internal tree;

    function setUp() public override {
        super.setUp();
        tree = MerkleTree.build(MerkleTree.records(1, 1000));
        record = tree.records[0];
        path = MerkleTree.proof(tree, record);
        root = MerkleTree.root(tree);
        vm.prank(issuer);
        ledger.anchor(root, IRecordAnchor.RecordKind.Certificate, 1000);
        vm.roll(block.number + 1);
    }

    function test_Gas_RevokeCertificate_TenSiblingProof() public {
        vm.assertEq(path.length, 10);
        bytes memory data =
            abi.encodeCall(ICertificateStatus.revokeCertificate, (issuer, root, record, path, 3));
        uint256 gas = txGas(revoker, address(ledger), data);
        vm.assertLe(gas, 62_000, "revokeCertificate goal: 62,000 total tx gas with a 10-sibling proof");
    }

    function test_Gas_RevokeIssuance() public {
        txGas(
            revoker,
            address(ledger),
            abi.encodeCall(ICertificateStatus.revokeIssuance, (keccak256("order 1"), 3))
        );
    }

    function test_Gas_SupersedeCertificate_TenSiblingProofs() public {
        MerkleTree.Tree memory memTree = tree;
        bytes32 successor = memTree.records[999];
        bytes memory data = abi.encodeCall(
            ICertificateStatus.supersedeCertificate,
            (ref(issuer, root, record, path), ref(issuer, root, successor, memTree.proof(successor)))
        );
        txGas(issuer, address(ledger), data);
    }

    function test_Gas_FlagBatch() public {
        txGas(revoker, address(ledger), abi.encodeCall(IRecordAnchor.flagBatch, (issuer, root, 5)));
    }

    function test_Gas_FlagBatch_Lots() public {
        vm.prank(supplier);
        ledger.anchor(keccak256("lots"), IRecordAnchor.RecordKind.MaterialLot, 1000);
        txGas(
            supplier,
            address(ledger),
            abi.encodeCall(IRecordAnchor.flagBatch, (supplier, keccak256("lots"), 5))
        );
    }

    /// Marking an account compromised also takes its role away (one role here: an issuer).
    function test_Gas_MarkCompromised() public {
        bytes memory data =
            abi.encodeCall(IOrganisations.markCompromised, (issuer, uint64(block.number - 1), 4));
        txGas(admin, address(ledger), data);
    }

    function test_Gas_MarkCompromised_MovedEarlier() public {
        vm.prank(admin);
        ledger.markCompromised(issuer, uint64(block.number - 1), 4);
        vm.roll(block.number + 1);
        bytes memory data =
            abi.encodeCall(IOrganisations.markCompromised, (issuer, uint64(block.number - 5), 4));
        txGas(admin, address(ledger), data);
    }

    function test_Gas_BindAccount() public {
        txGas(admin, address(ledger), abi.encodeCall(IOrganisations.bindAccount, (stranger, ORG_BRAND)));
    }
}

/**
 * @notice register, priority check included: the commitment is one record of a 1,000-record commitment batch
 * (10-sibling proof), anchored by the registrant's organisation one block earlier.
 */
contract Gas_register_Test is GasFixture {
    using MerkleTree for MerkleTree.Tree;

    bytes32 internal constant PARENT = 0x9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08;
    bytes32 internal constant FINGERPRINT =
        0x2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824;
    bytes32 internal constant METADATA = 0x486ea46224d1bb4fb680f34f7c9ad96a8f24ec88be73ea8e5a6c65260e9cb8a7;
    bytes32 internal constant OWNER = 0xb94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9;
    bytes32 internal constant SALT = 0x5f2b8e0c1d4a7b3e9f6c2d8a0b1e4f7c3a9d6b2e8f0c4a1d7b3e9f5c2a8d0b6e;
    uint64 internal constant CODE = 0xd1c3a5e77b3f0c92;

    IDesignRegistry.Commitment internal commitment;
    IDesignRegistry.Commitment internal parentCommitment;

    function setUp() public override {
        super.setUp();
        // One batch of 1,000 commitments: the design's, the parent's, and 998 others.
        bytes32[] memory records = MerkleTree.records(42, 1000);
        records[0] = registry.commitmentHash(FINGERPRINT, registrar, SALT);
        records[1] = registry.commitmentHash(PARENT, registrar, SALT);
        MerkleTree.Tree memory tree = MerkleTree.build(records);
        bytes32 root = tree.root();
        vm.prank(registrar);
        ledger.anchor(root, IRecordAnchor.RecordKind.DesignCommitment, 1000);
        commitment = IDesignRegistry.Commitment(registrar, root, SALT, tree.proof(records[0]));
        parentCommitment = IDesignRegistry.Commitment(registrar, root, SALT, tree.proof(records[1]));
        vm.roll(block.number + 1);
        vm.warp(block.timestamp + 12);
        vm.prank(registrar);
        registry.register(PARENT, CODE, METADATA, OWNER, bytes32(0), parentCommitment);
        vm.roll(block.number + 1);
    }

    function _registerGas(uint64 code, bytes32 parent) internal returns (uint256 gas) {
        vm.assertEq(commitment.proof.length, 10);
        bytes memory data = abi.encodeCall(
            IDesignRegistry.register, (FINGERPRINT, code, METADATA, OWNER, parent, commitment)
        );
        gas = txGas(registrar, address(registry), data);
        vm.assertLe(gas, 120_000, "register goal: 120,000 total tx gas, priority check included");
    }

    function test_Gas_Register_NotAnImage() public {
        _registerGas(0, bytes32(0));
    }

    function test_Gas_Register_Image() public {
        _registerGas(CODE, bytes32(0));
    }

    function test_Gas_Register_DerivedImage() public {
        _registerGas(CODE, PARENT);
    }

    function test_Gas_Register_DerivedNotAnImage() public {
        _registerGas(0, PARENT);
    }
}

/// @notice No function can need more than 2^24 = 16,777,216 gas: the worst cases (longest allowed proofs, largest
/// allowed arrays) stay far below.
contract Gas_Limits_Test is GasFixture {
    using MerkleTree for MerkleTree.Tree;

    function _logAndCheck(string memory name, uint256 gas) internal {
        emit log_named_uint(name, gas);
        vm.assertLt(gas, TX_GAS_CAP, name);
    }

    function _deepCertificate(uint256 seed)
        internal
        returns (bytes32 root, bytes32 record, bytes32[] memory path)
    {
        path = randomProof(seed, 64);
        record = keccak256(abi.encode("deep certificate", seed));
        root = rootFor(record, path);
        vm.prank(issuer);
        ledger.anchor(root, IRecordAnchor.RecordKind.Certificate, type(uint24).max);
    }

    function test_LongestProofs() public {
        (bytes32 rootA, bytes32 recA, bytes32[] memory pathA) = _deepCertificate(1);
        (bytes32 rootB, bytes32 recB, bytes32[] memory pathB) = _deepCertificate(2);

        uint256 g = gasleft();
        vm.assertTrue(ledger.verifyRecord(issuer, rootA, IRecordAnchor.RecordKind.Certificate, recA, pathA));
        _logAndCheck("verifyRecord, 64 siblings", g - gasleft());

        g = gasleft();
        ledger.certificateStatus(ORG_BRAND, keccak256("issuance"), recA, issuer, rootA, pathA);
        _logAndCheck("certificateStatus, 64 siblings", g - gasleft());

        vm.prank(issuer);
        g = gasleft();
        ledger.supersedeCertificate(ref(issuer, rootA, recA, pathA), ref(issuer, rootB, recB, pathB));
        _logAndCheck("supersedeCertificate, 2 x 64 siblings", g - gasleft());

        vm.prank(revoker);
        g = gasleft();
        ledger.revokeCertificate(issuer, rootB, recB, pathB, 1);
        _logAndCheck("revokeCertificate, 64 siblings", g - gasleft());
    }

    function test_LargestMultiproof() public {
        uint256 n = ledger.MAX_MULTIPROOF_RECORDS();
        bytes32[] memory recs = MerkleTree.records(3, n);
        bytes32[] memory leaves = new bytes32[](n);
        for (uint256 i = 0; i < n; ++i) {
            leaves[i] = MerkleTree.leaf(recs[i]);
        }
        bytes32[] memory path = randomProof(4, ledger.MAX_MULTIPROOF_LENGTH());
        bool[] memory flags = new bool[](n + path.length - 1);
        for (uint256 i = path.length; i < flags.length; ++i) {
            flags[i] = true;
        }
        bytes32 root = MerkleProof.processMultiProof(path, flags, leaves);
        vm.prank(supplier);
        // forge-lint: disable-next-line(unsafe-typecast)
        ledger.anchor(root, IRecordAnchor.RecordKind.MaterialLot, uint24(n)); // n = 1024

        uint256 g = gasleft();
        vm.assertTrue(
            ledger.verifyRecords(supplier, root, IRecordAnchor.RecordKind.MaterialLot, recs, path, flags)
        );
        _logAndCheck("verifyRecords, 1024 records + 1024 proof nodes", g - gasleft());
    }

    /// @dev roleHistory is linear in the number of changes of one (role, account) pair; each change is an admin
    /// transaction. roleHistoryEntry is constant, hasRoleAt logarithmic.
    function test_RoleHistoryCost() public {
        vm.startPrank(admin);
        for (uint256 i = 0; i < 100; ++i) {
            vm.roll(block.number + 1);
            ledger.revokeRole(SUPPLIER_ROLE, supplier);
            vm.roll(block.number + 1);
            ledger.grantRole(SUPPLIER_ROLE, supplier);
        }
        vm.stopPrank();
        uint256 g = gasleft();
        vm.assertEq(ledger.roleHistory(SUPPLIER_ROLE, supplier).length, 201);
        _logAndCheck("roleHistory, 201 entries", g - gasleft());
        g = gasleft();
        ledger.roleHistoryEntry(SUPPLIER_ROLE, supplier, 200);
        _logAndCheck("roleHistoryEntry", g - gasleft());
        g = gasleft();
        ledger.hasRoleAt(SUPPLIER_ROLE, supplier, 1_000);
        _logAndCheck("hasRoleAt, 201 entries", g - gasleft());
    }
}
