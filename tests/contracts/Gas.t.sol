// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.24;

import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {ICertificateStatus} from "../../contracts/interfaces/ICertificateStatus.sol";
import {IDesignRegistry} from "../../contracts/interfaces/IDesignRegistry.sol";
import {IRecordAnchor} from "../../contracts/interfaces/IRecordAnchor.sol";
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

    uint256 internal constant BLOCK_GAS_LIMIT_CAP = 16_777_216; // 2^24, EIP-7825 transaction gas cap

    function calldataGas(bytes memory data) internal pure returns (uint256 gas) {
        for (uint256 i = 0; i < data.length; ++i) gas += data[i] == 0 ? 4 : 16;
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
        for (uint256 i = 0; i < length; ++i) path[i] = keccak256(abi.encode("sibling", seed, i));
    }
}

contract Gas_Goals_Test is GasFixture {
    using MerkleTree for MerkleTree.Tree;

    bytes32 internal constant ROOT = 0x6c3c1ba8e0a1bd6dfbb40b0c87ea3ee2aa21a8a7b8cbd5ba0a7aa59b4b8e0a3f;

    function _anchorGas(address sender, IRecordAnchor.RecordKind kind) internal returns (uint256) {
        return txGas(sender, address(ledger), abi.encodeCall(IRecordAnchor.anchor, (ROOT, kind, 1000)));
    }

    function test_Gas_Anchor_MaterialLot() public {
        uint256 gas = _anchorGas(supplier, IRecordAnchor.RecordKind.MaterialLot);
        vm.assertLe(gas, 50_000, "anchor goal: 50,000 total tx gas");
    }

    function test_Gas_Anchor_ProductionStep() public {
        vm.assertLe(_anchorGas(factory, IRecordAnchor.RecordKind.ProductionStep), 50_000, "anchor goal");
    }

    function test_Gas_Anchor_Certificate() public {
        vm.assertLe(_anchorGas(issuer, IRecordAnchor.RecordKind.Certificate), 50_000, "anchor goal");
    }

    function test_Gas_Anchor_ProductByFactory() public {
        vm.assertLe(_anchorGas(factory, IRecordAnchor.RecordKind.Product), 50_000, "anchor goal");
    }

    function test_Gas_Anchor_ProductByIssuer() public {
        vm.assertLe(_anchorGas(issuer, IRecordAnchor.RecordKind.Product), 50_000, "anchor goal");
    }

    function test_Gas_Anchor_OtherBySupplier() public {
        vm.assertLe(_anchorGas(supplier, IRecordAnchor.RecordKind.Other), 50_000, "anchor goal");
    }

    function test_Gas_Anchor_OtherByIssuer() public {
        vm.assertLe(_anchorGas(issuer, IRecordAnchor.RecordKind.Other), 50_000, "anchor goal");
    }
}

/// @notice revokeCertificate with a 10-sibling proof (a 1,000-leaf certificate batch anchored in setUp).
contract Gas_revokeCertificate_Test is GasFixture {
    using MerkleTree for MerkleTree.Tree;

    bytes32 internal root;
    bytes32 internal record;
    bytes32[] internal path;

    function setUp() public override {
        super.setUp();
        bytes32[] memory recs = MerkleTree.records(1, 1000);
        MerkleTree.Tree memory tree = MerkleTree.build(recs);
        record = tree.records[0]; // deepest leaves: 10 siblings
        path = tree.proof(record);
        root = tree.root();
        vm.prank(issuer);
        ledger.anchor(root, IRecordAnchor.RecordKind.Certificate, 1000);
    }

    function test_Gas_RevokeCertificate_TenSiblingProof() public {
        vm.assertEq(path.length, 10);
        bytes memory data = abi.encodeCall(ICertificateStatus.revokeCertificate, (root, record, path, 3));
        uint256 gas = txGas(revoker, address(ledger), data);
        vm.assertLe(gas, 60_000, "revokeCertificate goal: 60,000 total tx gas with a 10-sibling proof");
    }

    function test_Gas_RevokeBatch() public {
        txGas(revoker, address(ledger), abi.encodeCall(ICertificateStatus.revokeBatch, (root, 3)));
    }
}

/// @notice register: plain design, image design, derived image design.
contract Gas_register_Test is GasFixture {
    bytes32 internal constant PARENT = 0x9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08;
    bytes32 internal constant FINGERPRINT = 0x2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824;
    bytes32 internal constant METADATA = 0x486ea46224d1bb4fb680f34f7c9ad96a8f24ec88be73ea8e5a6c65260e9cb8a7;
    bytes32 internal constant OWNER = 0xb94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9;
    uint64 internal constant CODE = 0xd1c3a5e77b3f0c92;

    function setUp() public override {
        super.setUp();
        vm.prank(registrar);
        registry.register(PARENT, CODE, METADATA, OWNER, bytes32(0));
    }

    function _registerGas(uint64 code, bytes32 parent) internal returns (uint256) {
        bytes memory data = abi.encodeCall(IDesignRegistry.register, (FINGERPRINT, code, METADATA, OWNER, parent));
        return txGas(registrar, address(registry), data);
    }

    function test_Gas_Register_NotAnImage() public {
        vm.assertLe(_registerGas(0, bytes32(0)), 120_000, "register goal: 120,000 total tx gas");
    }

    function test_Gas_Register_Image() public {
        vm.assertLe(_registerGas(CODE, bytes32(0)), 120_000, "register goal (image design)");
    }

    function test_Gas_Register_DerivedImage() public {
        vm.assertLe(_registerGas(CODE, PARENT), 120_000, "register goal (derived image design)");
    }

    function test_Gas_Register_DerivedNotAnImage() public {
        vm.assertLe(_registerGas(0, PARENT), 120_000, "register goal (derived design)");
    }
}

/// @notice No function can need more than 2^24 = 16,777,216 gas: the worst cases (longest allowed proofs, largest
/// allowed arrays) stay far below.
contract Gas_Limits_Test is GasFixture {
    using MerkleTree for MerkleTree.Tree;

    function _logAndCheck(string memory name, uint256 gas) internal {
        emit log_named_uint(name, gas);
        vm.assertLt(gas, BLOCK_GAS_LIMIT_CAP, name);
    }

    function _deepCertificate(uint256 seed) internal returns (bytes32 root, bytes32 record, bytes32[] memory path) {
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
        vm.assertTrue(ledger.verifyRecord(rootA, recA, pathA));
        _logAndCheck("verifyRecord, 64 siblings", g - gasleft());

        g = gasleft();
        ledger.certificateStatus(rootA, recA, pathA);
        _logAndCheck("certificateStatus, 64 siblings", g - gasleft());

        vm.prank(issuer);
        g = gasleft();
        ledger.supersedeCertificate(rootA, recA, pathA, rootB, recB, pathB);
        _logAndCheck("supersedeCertificate, 2 x 64 siblings", g - gasleft());

        vm.prank(revoker);
        g = gasleft();
        ledger.revokeCertificate(rootB, recB, pathB, 1);
        _logAndCheck("revokeCertificate, 64 siblings", g - gasleft());
    }

    function test_LargestMultiproof() public {
        uint256 n = ledger.MAX_MULTIPROOF_RECORDS();
        bytes32[] memory recs = MerkleTree.records(3, n);
        bytes32[] memory leaves = new bytes32[](n);
        for (uint256 i = 0; i < n; ++i) leaves[i] = MerkleTree.leaf(recs[i]);
        bytes32[] memory path = randomProof(4, ledger.MAX_MULTIPROOF_LENGTH());
        bool[] memory flags = new bool[](n + path.length - 1);
        for (uint256 i = path.length; i < flags.length; ++i) flags[i] = true;
        bytes32 root = MerkleProof.processMultiProof(path, flags, leaves);
        vm.prank(supplier);
        // forge-lint: disable-next-line(unsafe-typecast)
        ledger.anchor(root, IRecordAnchor.RecordKind.MaterialLot, uint24(n)); // n = 1024

        uint256 g = gasleft();
        vm.assertTrue(ledger.verifyRecords(root, recs, path, flags));
        _logAndCheck("verifyRecords, 1024 records + 1024 proof nodes", g - gasleft());
    }

    /// @dev roleHistory is linear in the number of changes of one (role, account) pair; each change is an admin
    /// transaction. roleHistoryEntry is constant.
    function test_RoleHistoryCost() public {
        vm.startPrank(admin);
        for (uint256 i = 0; i < 100; ++i) {
            ledger.revokeRole(SUPPLIER_ROLE, supplier);
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
        ledger.hasRoleAt(SUPPLIER_ROLE, supplier, START);
        _logAndCheck("hasRoleAt, 201 entries", g - gasleft());
    }
}
