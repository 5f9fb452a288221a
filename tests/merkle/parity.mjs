// Reference side of the Merkle parity test (tests/core/test_merkle.py).
//
// Runs @openzeppelin/merkle-tree's StandardMerkleTree (leaf encoding ["bytes32"]) on a JSON
// request read from the file named by the first argument, or from stdin, and prints a JSON
// response with the same keys. Every key is optional:
//
//   build:            [{values: [hex32...], multiproof?: [valueIndex...], sortLeaves?: bool}]
//                     -> [{root, proofs (by index), proofsByValue, multiproof, dump, render}]
//   verify:           [{root, value, proof}]            -> [bool]   (single-leaf proofs)
//   verifyMultiproof: [{root, multiproof}]              -> [bool]   (multiproof as JSON)
//   load:             [dump]                            -> [{root, proofs}]
//
// Any item that throws yields {error: message} in its place instead of aborting the run.
import { readFileSync } from 'node:fs';
import merkleTree from '@openzeppelin/merkle-tree';

const { StandardMerkleTree } = merkleTree;
const ENCODING = ['bytes32'];

const guard = fn => item => {
  try {
    return fn(item);
  } catch (err) {
    return { error: String(err?.message ?? err) };
  }
};

const build = ({ values, multiproof = [], sortLeaves = true }) => {
  const tree = StandardMerkleTree.of(values.map(v => [v]), ENCODING, { sortLeaves });
  return {
    root: tree.root,
    proofs: values.map((_, i) => tree.getProof(i)),
    proofsByValue: values.map(v => tree.getProof([v])),
    multiproof: tree.getMultiProof(multiproof),
    dump: tree.dump(),
    render: tree.render(),
  };
};

const verify = ({ root, value, proof }) => StandardMerkleTree.verify(root, ENCODING, [value], proof);

const verifyMultiproof = ({ root, multiproof }) =>
  StandardMerkleTree.verifyMultiProof(root, ENCODING, multiproof);

const load = dump => {
  const tree = StandardMerkleTree.load(dump);
  return { root: tree.root, proofs: Array.from({ length: tree.length }, (_, i) => tree.getProof(i)) };
};

const source = process.argv[2] ?? 0; // 0 = stdin
const request = JSON.parse(readFileSync(source, 'utf8'));
const response = {};
for (const [key, fn] of Object.entries({ build, verify, verifyMultiproof, load })) {
  if (request[key] !== undefined) response[key] = request[key].map(guard(fn));
}
process.stdout.write(JSON.stringify(response));
