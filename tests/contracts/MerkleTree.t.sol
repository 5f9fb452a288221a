// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.24;

import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {MerkleTree} from "./utils/MerkleTree.sol";
import {TestBase} from "./utils/TestBase.sol";

/// @notice The Solidity test tree matches @openzeppelin/merkle-tree's StandardMerkleTree (fixture computed with the
/// JavaScript library: records keccak256(abi.encode(uint256(i))) for i = 1..7, leaf encoding ["bytes32"]).
contract MerkleTree_compatibility_Test is TestBase {
    using MerkleTree for MerkleTree.Tree;

    function _fixture() internal pure returns (bytes32[] memory recs) {
        recs = new bytes32[](7);
        for (uint256 i = 0; i < 7; ++i) recs[i] = keccak256(abi.encode(uint256(i + 1)));
    }

    function test_RootMatchesJavaScriptLibrary() public pure {
        MerkleTree.Tree memory tree = MerkleTree.build(_fixture());
        vm.assertEq(tree.root(), 0xeb1d744467385106cada1dfd0b58b2e2b11642da6a522d80d911b383493319f0);
    }

    function test_ProofMatchesJavaScriptLibrary() public pure {
        bytes32[] memory recs = _fixture();
        bytes32[] memory path = MerkleTree.build(recs).proof(recs[2]);
        vm.assertEq(path.length, 3);
        vm.assertEq(path[0], 0x73139abbd176cf7f94893453632c00afefb2776f9805a21d03d176c885cd0d63);
        vm.assertEq(path[1], 0x0557ba38132e3f9e4e3d361980db29a6097e4dc698491f517aab4c99a184e723);
        vm.assertEq(path[2], 0x0f34a4fd2b3e7e35edfdfb9022d84db84e4801499f13590bfd1e34da24a30211);
    }

    function test_MultiProofMatchesJavaScriptLibrary() public pure {
        bytes32[] memory recs = _fixture();
        bytes32[] memory subset = new bytes32[](3);
        (subset[0], subset[1], subset[2]) = (recs[0], recs[3], recs[5]);
        (bytes32[] memory ordered, bytes32[] memory path, bool[] memory flags) =
            MerkleTree.build(recs).multiProof(subset);
        vm.assertEq(ordered[0], 0xf652222313e28459528d920b65115c16c04f3efc82aaedc97be59f3f377c0d3f);
        vm.assertEq(ordered[1], 0xb10e2d527612073b26eecdfd717e6a320cf44b4afac2b0732d9fcbe2b7fa0cf6);
        vm.assertEq(ordered[2], 0x8a35acfbc15ff81a39ae7d344fd709f28e8600b4aa8c65c6b64bfe7fe36bd19b);
        vm.assertEq(path.length, 3);
        vm.assertEq(path[0], 0x3dc9f0cd0b6dc832f2ef59b7683e7cba16104ed0e9af15d42fa8a57d00093ecc);
        vm.assertEq(path[1], 0xb2cf20ba91b2809e795bd1bad411c342d12bbc18531a0897d027d3e5d8f37c4b);
        vm.assertEq(path[2], 0x0557ba38132e3f9e4e3d361980db29a6097e4dc698491f517aab4c99a184e723);
        vm.assertEq(flags.length, 5);
        vm.assertFalse(flags[0]);
        vm.assertFalse(flags[1]);
        vm.assertTrue(flags[2]);
        vm.assertFalse(flags[3]);
        vm.assertTrue(flags[4]);
    }

    function testFuzz_EveryProofVerifies(uint256 seed, uint256 n, uint256 pick) public pure {
        n = bound(n, 1, 40);
        bytes32[] memory recs = MerkleTree.records(seed, n);
        MerkleTree.Tree memory tree = MerkleTree.build(recs);
        bytes32 record = recs[pick % n];
        vm.assertTrue(MerkleProof.verify(tree.proof(record), tree.root(), MerkleTree.leaf(record)));
    }
}
