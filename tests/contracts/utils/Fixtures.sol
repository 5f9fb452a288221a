// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.24;

import {DesignRegistry} from "../../../contracts/v2/DesignRegistry.sol";
import {ProvenanceLedger} from "../../../contracts/v2/ProvenanceLedger.sol";
import {IDesignRegistry} from "../../../contracts/v2/interfaces/IDesignRegistry.sol";
import {IRecordAnchor} from "../../../contracts/v2/interfaces/IRecordAnchor.sol";
import {MerkleTree} from "./MerkleTree.sol";
import {TestBase} from "./TestBase.sol";

/**
 * @notice Shared setup: a version 2 ledger whose admin transfer delay is 2 days, a design registry bound to it,
 * and the consortium: a supplier, a factory, brand A (issuer and revoker), legal team A, brand B (issuer and
 * revoker) and legal team B, each account bound to its organisation; a stranger bound to nothing.
 */
abstract contract LedgerFixture is TestBase {
    using MerkleTree for MerkleTree.Tree;

    uint64 internal constant START = 1_800_000_000; // a plausible block timestamp
    uint48 internal constant ADMIN_DELAY = 2 days;

    bytes16 internal constant ORG_SUPPLIER = bytes16(keccak256("supplier organisation"));
    bytes16 internal constant ORG_FACTORY = bytes16(keccak256("factory organisation"));
    bytes16 internal constant ORG_BRAND = bytes16(keccak256("brand A"));
    bytes16 internal constant ORG_LEGAL = bytes16(keccak256("legal team A"));
    bytes16 internal constant ORG_BRAND_B = bytes16(keccak256("brand B"));
    bytes16 internal constant ORG_LEGAL_B = bytes16(keccak256("legal team B"));

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
    address internal issuerB;
    address internal revokerB;
    address internal registrarB;

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
        issuer = makeActor(5, "issuer A");
        revoker = makeActor(6, "revoker A");
        registrar = makeActor(7, "registrar A");
        stranger = makeActor(8, "stranger");
        issuerB = makeActor(21, "issuer B");
        revokerB = makeActor(22, "revoker B");
        registrarB = makeActor(23, "registrar B");

        vm.startPrank(deployer);
        ledger = new ProvenanceLedger(ADMIN_DELAY, admin);
        registry = new DesignRegistry(address(ledger));
        vm.stopPrank();

        SUPPLIER_ROLE = ledger.SUPPLIER_ROLE();
        FACTORY_ROLE = ledger.FACTORY_ROLE();
        ISSUER_ROLE = ledger.ISSUER_ROLE();
        REVOKER_ROLE = ledger.REVOKER_ROLE();
        REGISTRAR_ROLE = ledger.REGISTRAR_ROLE();

        enrol(supplier, ORG_SUPPLIER, SUPPLIER_ROLE);
        enrol(factory, ORG_FACTORY, FACTORY_ROLE);
        enrol(issuer, ORG_BRAND, ISSUER_ROLE);
        enrol(revoker, ORG_BRAND, REVOKER_ROLE);
        enrol(registrar, ORG_LEGAL, REGISTRAR_ROLE);
        enrol(issuerB, ORG_BRAND_B, ISSUER_ROLE);
        enrol(revokerB, ORG_BRAND_B, REVOKER_ROLE);
        enrol(registrarB, ORG_LEGAL_B, REGISTRAR_ROLE);
    }

    /// @dev The admin binds `account` to `organisation` and grants it `role`.
    function enrol(address account, bytes16 organisation, bytes32 role) internal {
        vm.startPrank(admin);
        ledger.bindAccount(account, organisation);
        ledger.grantRole(role, account);
        vm.stopPrank();
    }

    /// @dev Builds a tree of `n` records derived from `seed` and anchors it with `kind` by the default account.
    function anchorTree(uint256 seed, uint256 n, IRecordAnchor.RecordKind kind)
        internal
        returns (MerkleTree.Tree memory tree, bytes32 root)
    {
        return anchorTreeAs(anchorerFor(kind), seed, n, kind);
    }

    function anchorTreeAs(address anchorer, uint256 seed, uint256 n, IRecordAnchor.RecordKind kind)
        internal
        returns (MerkleTree.Tree memory tree, bytes32 root)
    {
        tree = MerkleTree.build(MerkleTree.records(seed, n));
        root = tree.root();
        vm.prank(anchorer);
        // forge-lint: disable-next-line(unsafe-typecast)
        ledger.anchor(root, kind, uint24(n)); // test trees are small
    }

    function anchorCertificates(uint256 seed, uint256 n) internal returns (MerkleTree.Tree memory, bytes32) {
        return anchorTree(seed, n, IRecordAnchor.RecordKind.Certificate);
    }

    function anchorerFor(IRecordAnchor.RecordKind kind) internal view returns (address) {
        if (kind == IRecordAnchor.RecordKind.MaterialLot) return supplier;
        if (kind == IRecordAnchor.RecordKind.Certificate) return issuer;
        if (kind == IRecordAnchor.RecordKind.DesignCommitment) return registrar;
        return factory;
    }

    function kindOf(uint256 seed) internal pure returns (IRecordAnchor.RecordKind) {
        return IRecordAnchor.RecordKind(seed % 6);
    }

    function noProof() internal pure returns (bytes32[] memory) {
        return new bytes32[](0);
    }

    /// @dev A design commitment of `registrant` to `fingerprint`, anchored by `anchorer` in a batch with `others`
    /// other commitments, then one block mined (a registration needs a commitment from an earlier block).
    function commit(address anchorer, address registrant, bytes32 fingerprint, bytes32 salt, uint256 others)
        internal
        returns (IDesignRegistry.Commitment memory commitment)
    {
        bytes32[] memory records =
            MerkleTree.records(uint256(keccak256(abi.encode(fingerprint, salt))), others + 1);
        bytes32 mine = registry.commitmentHash(fingerprint, registrant, salt);
        records[0] = mine;
        MerkleTree.Tree memory tree = MerkleTree.build(records);
        bytes32 root = tree.root();
        vm.prank(anchorer);
        // forge-lint: disable-next-line(unsafe-typecast)
        ledger.anchor(root, IRecordAnchor.RecordKind.DesignCommitment, uint24(others + 1));
        commitment =
            IDesignRegistry.Commitment({anchorer: anchorer, root: root, salt: salt, proof: tree.proof(mine)});
        vm.roll(block.number + 1);
        vm.warp(block.timestamp + 12);
    }

    /// @dev `registrar`'s own commitment to `fingerprint` in a batch of four.
    function commit(bytes32 fingerprint) internal returns (IDesignRegistry.Commitment memory) {
        return commit(registrar, registrar, fingerprint, keccak256(abi.encode("salt", fingerprint)), 3);
    }
}
