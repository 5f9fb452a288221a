// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.24;

/**
 * @notice The OpenZeppelin `StandardMerkleTree` leaf of a record hash (leaf encoding `["bytes32"]`, hashed twice so
 * that no 64-byte inner node can pose as a leaf): `keccak256(bytes.concat(keccak256(abi.encode(recordHash))))`.
 */
function recordLeaf(bytes32 recordHash) pure returns (bytes32) {
    return keccak256(bytes.concat(keccak256(abi.encode(recordHash))));
}
