// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.24;

import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {DesignRegistry} from "../../../contracts/v2/DesignRegistry.sol";
import {ProvenanceLedger} from "../../../contracts/v2/ProvenanceLedger.sol";
import {ICertificateStatus} from "../../../contracts/v2/interfaces/ICertificateStatus.sol";
import {IDesignRegistry} from "../../../contracts/v2/interfaces/IDesignRegistry.sol";
import {IRecordAnchor} from "../../../contracts/v2/interfaces/IRecordAnchor.sol";
import {MerkleTree} from "../utils/MerkleTree.sol";
import {Vm} from "../utils/Vm.sol";

/**
 * @notice Sends one transaction per measured path of the version 2 contracts to a local node, so that receipts give
 * the TOTAL gas of each (see docs/BENCHMARKS.md for the command). The sender is the admin, bound to one
 * organisation and granted every role. The design registrations happen one block after their commitments (a
 * broadcast sends each transaction in its own block on an automining node).
 */
contract GasReceipts {
    Vm internal constant vm = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));

    bytes16 internal constant ORGANISATION = bytes16(keccak256("organisation"));

    function _proof(uint256 seed, uint256 length) internal pure returns (bytes32[] memory path) {
        path = new bytes32[](length);
        for (uint256 i = 0; i < length; ++i) {
            path[i] = keccak256(abi.encode("sibling", seed, i));
        }
    }

    function run() external {
        address me = msg.sender;
        vm.startBroadcast();
        ProvenanceLedger ledger = new ProvenanceLedger(2 days, me);
        ledger.bindAccount(me, ORGANISATION);
        ledger.grantRole(ledger.SUPPLIER_ROLE(), me);
        ledger.grantRole(ledger.FACTORY_ROLE(), me);
        ledger.grantRole(ledger.ISSUER_ROLE(), me);
        ledger.grantRole(ledger.REVOKER_ROLE(), me);
        ledger.grantRole(ledger.REGISTRAR_ROLE(), me);
        DesignRegistry registry = new DesignRegistry(address(ledger));

        ledger.anchor(keccak256("material lots"), IRecordAnchor.RecordKind.MaterialLot, 1000);
        ledger.anchor(keccak256("production steps"), IRecordAnchor.RecordKind.ProductionStep, 1000);
        ledger.anchor(keccak256("products"), IRecordAnchor.RecordKind.Product, 1000);
        ledger.anchor(keccak256("other"), IRecordAnchor.RecordKind.Other, 1000);
        ledger.flagBatch(me, keccak256("other"), 4);

        _certificates(ledger, me);
        _designs(ledger, registry, me);
        vm.stopBroadcast();
    }

    function _certificates(ProvenanceLedger ledger, address me) internal {
        // Certificate batches: records with a 10-sibling proof (the depth of a 1,000-leaf tree).
        bytes32[] memory path = _proof(1, 10);
        bytes32 cert = keccak256("certificate");
        bytes32 root = MerkleProof.processProof(path, MerkleTree.leaf(cert));
        ledger.anchor(root, IRecordAnchor.RecordKind.Certificate, 1000);
        ledger.revokeCertificate(me, root, cert, path, 3);
        ledger.revokeIssuance(keccak256("order 4711"), 3);

        bytes32[] memory oldPath = _proof(2, 10);
        bytes32 oldCert = keccak256("old certificate");
        bytes32 oldRoot = MerkleProof.processProof(oldPath, MerkleTree.leaf(oldCert));
        bytes32[] memory newPath = _proof(3, 10);
        bytes32 newCert = keccak256("new certificate");
        bytes32 newRoot = MerkleProof.processProof(newPath, MerkleTree.leaf(newCert));
        ledger.anchor(oldRoot, IRecordAnchor.RecordKind.Certificate, 1000);
        ledger.anchor(newRoot, IRecordAnchor.RecordKind.Certificate, 1000);
        ledger.supersedeCertificate(
            ICertificateStatus.CertificateRef(me, oldRoot, oldCert, oldPath),
            ICertificateStatus.CertificateRef(me, newRoot, newCert, newPath)
        );
        ledger.flagBatch(me, oldRoot, 2);
    }

    function _designs(ProvenanceLedger ledger, DesignRegistry registry, address me) internal {
        bytes32 meta = keccak256("metadata");
        bytes32 owner = keccak256("owner");
        bytes32 salt = keccak256("salt");
        bytes32[] memory records = MerkleTree.records(7, 1000);
        records[0] = registry.commitmentHash(sha256("plain design"), me, salt);
        records[1] = registry.commitmentHash(sha256("image design"), me, salt);
        records[2] = registry.commitmentHash(sha256("derived design"), me, salt);
        MerkleTree.Tree memory tree = MerkleTree.build(records);
        bytes32 root = MerkleTree.root(tree);
        ledger.anchor(root, IRecordAnchor.RecordKind.DesignCommitment, 1000);
        vm.roll(block.number + 1); // the simulation's blocks; the node mines one block per transaction anyway
        IDesignRegistry.Commitment memory c = IDesignRegistry.Commitment(me, root, salt, new bytes32[](0));
        c.proof = MerkleTree.proof(tree, records[0]);
        registry.register(sha256("plain design"), 0, meta, owner, bytes32(0), c);
        c.proof = MerkleTree.proof(tree, records[1]);
        registry.register(sha256("image design"), 0xd1c3a5e77b3f0c92, meta, owner, bytes32(0), c);
        c.proof = MerkleTree.proof(tree, records[2]);
        registry.register(
            sha256("derived design"), 0x91c3a5e77b3f0c93, meta, owner, sha256("image design"), c
        );
    }
}
