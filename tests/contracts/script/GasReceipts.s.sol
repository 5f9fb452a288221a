// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.24;

import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {DesignRegistry} from "../../../contracts/DesignRegistry.sol";
import {ProvenanceLedger} from "../../../contracts/ProvenanceLedger.sol";
import {IRecordAnchor} from "../../../contracts/interfaces/IRecordAnchor.sol";
import {MerkleTree} from "../utils/MerkleTree.sol";
import {Vm} from "../utils/Vm.sol";

/**
 * @notice Sends one transaction per measured path to a local node, so that receipts give the TOTAL gas of each
 * (see docs/BENCHMARKS.md for the command). The sender gets every role, so each anchor checks exactly one role.
 */
contract GasReceipts {
    Vm internal constant vm = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));

    function _proof(uint256 seed, uint256 length) internal pure returns (bytes32[] memory path) {
        path = new bytes32[](length);
        for (uint256 i = 0; i < length; ++i) path[i] = keccak256(abi.encode("sibling", seed, i));
    }

    function run() external {
        address me = msg.sender;
        vm.startBroadcast();
        ProvenanceLedger ledger = new ProvenanceLedger(me);
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

        _certificates(ledger);
        _designs(registry, me);
        vm.stopBroadcast();
    }

    function _certificates(ProvenanceLedger ledger) internal {
        // Certificate batch: a record with a 10-sibling proof (the depth of a 1,000-leaf tree).
        bytes32[] memory path = _proof(1, 10);
        bytes32 cert = keccak256("certificate");
        bytes32 root = MerkleProof.processProof(path, MerkleTree.leaf(cert));
        ledger.anchor(root, IRecordAnchor.RecordKind.Certificate, 1000);
        ledger.revokeCertificate(root, cert, path, 3);

        bytes32[] memory oldPath = _proof(2, 10);
        bytes32 oldCert = keccak256("old certificate");
        bytes32 oldRoot = MerkleProof.processProof(oldPath, MerkleTree.leaf(oldCert));
        bytes32[] memory newPath = _proof(3, 10);
        bytes32 newCert = keccak256("new certificate");
        bytes32 newRoot = MerkleProof.processProof(newPath, MerkleTree.leaf(newCert));
        ledger.anchor(oldRoot, IRecordAnchor.RecordKind.Certificate, 1000);
        ledger.anchor(newRoot, IRecordAnchor.RecordKind.Certificate, 1000);
        ledger.supersedeCertificate(oldRoot, oldCert, oldPath, newRoot, newCert, newPath);
        ledger.revokeBatch(oldRoot, 2);
    }

    function _designs(DesignRegistry registry, address me) internal {

        bytes32 meta = keccak256("metadata");
        bytes32 owner = keccak256("owner");
        registry.register(sha256("plain design"), 0, meta, owner, bytes32(0));
        registry.register(sha256("image design"), 0xd1c3a5e77b3f0c92, meta, owner, bytes32(0));
        registry.register(sha256("derived design"), 0x91c3a5e77b3f0c93, meta, owner, sha256("image design"));
        registry.assign(sha256("plain design"), me, keccak256("new owner"), keccak256("assignment"));
        registry.grantLicence(sha256("image design"), keccak256("licensee"), keccak256("licence"), 0, 0);
    }
}
