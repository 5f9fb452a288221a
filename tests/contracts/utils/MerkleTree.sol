// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.24;

import {Hashes} from "@openzeppelin/contracts/utils/cryptography/Hashes.sol";

/**
 * @notice Test helper: OpenZeppelin `StandardMerkleTree` (leaf encoding ["bytes32"]) rebuilt in Solidity, same
 * layout as the JavaScript library (leaves double-hashed and sorted, array tree with children 2i+1 and 2i+2,
 * sorted-pair hashing), so fuzz tests can build trees of random records and prove any of them.
 */
library MerkleTree {
    struct Tree {
        bytes32[] nodes; // nodes[0] is the root; leaf i (in sorted order) is nodes[nodes.length - 1 - i]
        bytes32[] records; // records[i] is the record hash of leaf i (in sorted order)
    }

    function leaf(bytes32 recordHash) internal pure returns (bytes32) {
        return keccak256(bytes.concat(keccak256(abi.encode(recordHash))));
    }

    function build(bytes32[] memory recordHashes) internal pure returns (Tree memory tree) {
        uint256 n = recordHashes.length;
        require(n > 0, "MerkleTree: no records");
        bytes32[] memory leaves = new bytes32[](n);
        bytes32[] memory sortedRecords = new bytes32[](n);
        for (uint256 i = 0; i < n; ++i) {
            // insertion sort by leaf hash
            bytes32 h = leaf(recordHashes[i]);
            uint256 j = i;
            while (j > 0 && leaves[j - 1] > h) {
                leaves[j] = leaves[j - 1];
                sortedRecords[j] = sortedRecords[j - 1];
                --j;
            }
            leaves[j] = h;
            sortedRecords[j] = recordHashes[i];
        }
        bytes32[] memory nodes = new bytes32[](2 * n - 1);
        for (uint256 i = 0; i < n; ++i) {
            nodes[nodes.length - 1 - i] = leaves[i];
        }
        for (uint256 k = nodes.length - n; k > 0; --k) {
            uint256 i = k - 1;
            nodes[i] = Hashes.commutativeKeccak256(nodes[2 * i + 1], nodes[2 * i + 2]);
        }
        tree = Tree({nodes: nodes, records: sortedRecords});
    }

    function root(Tree memory tree) internal pure returns (bytes32) {
        return tree.nodes[0];
    }

    function treeIndexOf(Tree memory tree, bytes32 recordHash) internal pure returns (uint256) {
        for (uint256 i = 0; i < tree.records.length; ++i) {
            if (tree.records[i] == recordHash) return tree.nodes.length - 1 - i;
        }
        revert("MerkleTree: unknown record");
    }

    function proof(Tree memory tree, bytes32 recordHash) internal pure returns (bytes32[] memory path) {
        uint256 index = treeIndexOf(tree, recordHash);
        uint256 depth = 0;
        for (uint256 i = index; i > 0; i = (i - 1) / 2) ++depth;
        path = new bytes32[](depth);
        uint256 k = 0;
        while (index > 0) {
            path[k++] = tree.nodes[index % 2 == 1 ? index + 1 : index - 1];
            index = (index - 1) / 2;
        }
    }

    /// @dev OpenZeppelin's getMultiProof: returns the records in the order the multiproof expects.
    function multiProof(Tree memory tree, bytes32[] memory recordHashes)
        internal
        pure
        returns (bytes32[] memory ordered, bytes32[] memory path, bool[] memory flags)
    {
        uint256[] memory indices = _sortedIndices(tree, recordHashes);
        (path, flags) = _walk(tree, indices);
        ordered = new bytes32[](indices.length);
        for (uint256 i = 0; i < indices.length; ++i) {
            ordered[i] = tree.records[tree.nodes.length - 1 - indices[i]];
        }
    }

    function _sortedIndices(Tree memory tree, bytes32[] memory recordHashes)
        private
        pure
        returns (uint256[] memory indices)
    {
        indices = new uint256[](recordHashes.length);
        for (uint256 i = 0; i < recordHashes.length; ++i) {
            uint256 idx = treeIndexOf(tree, recordHashes[i]);
            uint256 j = i; // insertion sort, descending
            while (j > 0 && indices[j - 1] < idx) {
                indices[j] = indices[j - 1];
                --j;
            }
            require(j == 0 || indices[j - 1] != idx, "MerkleTree: duplicate record");
            indices[j] = idx;
        }
    }

    struct Walk {
        uint256[] queue;
        uint256 head;
        uint256 tail;
        bytes32[] proof;
        uint256 proofLen;
        bool[] flags;
        uint256 flagLen;
    }

    function _walk(Tree memory tree, uint256[] memory indices)
        private
        pure
        returns (bytes32[] memory path, bool[] memory flags)
    {
        Walk memory w;
        w.queue = new uint256[](indices.length + tree.nodes.length);
        for (uint256 i = 0; i < indices.length; ++i) w.queue[i] = indices[i];
        w.tail = indices.length;
        w.proof = new bytes32[](tree.nodes.length);
        w.flags = new bool[](tree.nodes.length);
        while (w.head < w.tail && w.queue[w.head] > 0) {
            uint256 j = w.queue[w.head++];
            uint256 s = j % 2 == 1 ? j + 1 : j - 1;
            if (w.head < w.tail && w.queue[w.head] == s) {
                w.flags[w.flagLen++] = true;
                ++w.head;
            } else {
                w.flags[w.flagLen++] = false;
                w.proof[w.proofLen++] = tree.nodes[s];
            }
            w.queue[w.tail++] = (j - 1) / 2;
        }
        path = new bytes32[](w.proofLen);
        for (uint256 i = 0; i < w.proofLen; ++i) path[i] = w.proof[i];
        flags = new bool[](w.flagLen);
        for (uint256 i = 0; i < w.flagLen; ++i) flags[i] = w.flags[i];
    }

    /// @dev `n` distinct pseudo-random record hashes derived from `seed`.
    function records(uint256 seed, uint256 n) internal pure returns (bytes32[] memory out) {
        out = new bytes32[](n);
        for (uint256 i = 0; i < n; ++i) out[i] = keccak256(abi.encode(seed, i));
    }
}
