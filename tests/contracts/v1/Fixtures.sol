// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.24;

import {DesignRegistry} from "../../../contracts/DesignRegistry.sol";
import {ProvenanceLedger} from "../../../contracts/ProvenanceLedger.sol";
import {IRecordAnchor} from "../../../contracts/interfaces/IRecordAnchor.sol";
import {MerkleTree} from "../utils/MerkleTree.sol";
import {TestBase} from "../utils/TestBase.sol";

/// @notice Shared setup of the version 1 tests: a ledger with one account per role, a design registry bound to it, and helpers.
abstract contract V1_LedgerFixture is TestBase {
    using MerkleTree for MerkleTree.Tree;

    uint64 internal constant START = 1_800_000_000; // a plausible block timestamp

    ProvenanceLedger internal ledger;
    DesignRegistry internal registry;

    address internal deployer;
    address internal admin;
    address internal supplier;
    address internal factory;
    address internal issuer;
    address internal revoker;
    address internal registrar;
    address internal stranger;

    bytes32 internal SUPPLIER_ROLE;
    bytes32 internal FACTORY_ROLE;
    bytes32 internal ISSUER_ROLE;
    bytes32 internal REVOKER_ROLE;
    bytes32 internal REGISTRAR_ROLE;
    bytes32 internal constant DEFAULT_ADMIN_ROLE = 0x00;

    function setUp() public virtual {
        vm.warp(START);
        vm.roll(1_000);
        deployer = makeActor(1, "deployer");
        admin = makeActor(2, "admin");
        supplier = makeActor(3, "supplier");
        factory = makeActor(4, "factory");
        issuer = makeActor(5, "issuer");
        revoker = makeActor(6, "revoker");
        registrar = makeActor(7, "registrar");
        stranger = makeActor(8, "stranger");

        vm.prank(deployer);
        ledger = new ProvenanceLedger(admin);
        vm.prank(deployer);
        registry = new DesignRegistry(address(ledger));

        SUPPLIER_ROLE = ledger.SUPPLIER_ROLE();
        FACTORY_ROLE = ledger.FACTORY_ROLE();
        ISSUER_ROLE = ledger.ISSUER_ROLE();
        REVOKER_ROLE = ledger.REVOKER_ROLE();
        REGISTRAR_ROLE = ledger.REGISTRAR_ROLE();

        vm.startPrank(admin);
        ledger.grantRole(SUPPLIER_ROLE, supplier);
        ledger.grantRole(FACTORY_ROLE, factory);
        ledger.grantRole(ISSUER_ROLE, issuer);
        ledger.grantRole(REVOKER_ROLE, revoker);
        ledger.grantRole(REGISTRAR_ROLE, registrar);
        vm.stopPrank();
    }

    /// @dev Builds a tree of `n` records derived from `seed` and anchors it with `kind` by an allowed account.
    function anchorTree(uint256 seed, uint256 n, IRecordAnchor.RecordKind kind)
        internal
        returns (MerkleTree.Tree memory tree, bytes32 root)
    {
        tree = MerkleTree.build(MerkleTree.records(seed, n));
        root = tree.root();
        vm.prank(anchorerFor(kind));
        // forge-lint: disable-next-line(unsafe-typecast)
        ledger.anchor(root, kind, uint24(n)); // test trees are small
    }

    function anchorCertificates(uint256 seed, uint256 n) internal returns (MerkleTree.Tree memory, bytes32) {
        return anchorTree(seed, n, IRecordAnchor.RecordKind.Certificate);
    }

    function anchorerFor(IRecordAnchor.RecordKind kind) internal view returns (address) {
        if (kind == IRecordAnchor.RecordKind.MaterialLot) return supplier;
        if (kind == IRecordAnchor.RecordKind.Certificate) return issuer;
        return factory;
    }

    function kindOf(uint256 seed) internal pure returns (IRecordAnchor.RecordKind) {
        return IRecordAnchor.RecordKind(seed % 5);
    }

    function noProof() internal pure returns (bytes32[] memory) {
        return new bytes32[](0);
    }
}
