#!/usr/bin/env node
// A second implementation of the certificate verification docs/VERIFY.md specifies, following
// that page (the reference is `hallmark verify`, backend/hallmark/services/certificates/
// verifier.py). The tests run both over one corpus (tests/certificates/test_verifier_parity.py)
// and require the same verdict and the same outcome of every check.
//
//   node tests/certificates/js/verify.mjs CERT.json [--bundle BUNDLE.json] --rpc URL [--json]
//       one line per check and the verdict (or the report as JSON); exit 0 only when every
//       check passes, 1 otherwise, 2 when a file cannot be read (as `hallmark verify`).
//   node tests/certificates/js/verify.mjs --lines
//       one request per stdin line, {"certificate": path, "bundle": path or null, "rpc": url},
//       one answer per stdout line: the report, or {"unreadable": "certificate"|"bundle", ...}.
//
// Dependencies: ethers (ABI coding, keccak-256, addresses, EIP-712, signature recovery) and
// @openzeppelin/merkle-tree (proofs); JSON-RPC goes through Node's own fetch.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

import merkleTree from '@openzeppelin/merkle-tree';
import { Interface, TypedDataEncoder, getAddress, id, keccak256, recoverAddress, toUtf8Bytes } from 'ethers';

const { StandardMerkleTree } = merkleTree;
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const artifact = name =>
  new Interface(JSON.parse(readFileSync(join(ROOT, 'contracts', 'artifacts', 'v2', `${name}.json`), 'utf8')).abi);
const LEDGER = artifact('ProvenanceLedger');
/** Version 1 of the ledger, where records anchored before `hallmark deploy --new` may be. */
const LEDGER_V1 = new Interface(
  JSON.parse(readFileSync(join(ROOT, 'contracts', 'artifacts', 'ProvenanceLedger.json'), 'utf8')).abi,
);
const EARLIER_VERSIONS = ['1.0.0', '2.0.0'];
const REGISTRY = artifact('DesignRegistry');

const VC_CONTEXT = 'https://www.w3.org/ns/credentials/v2';
const KINDS = { material_lot: 0, product: 1, production_step: 2, certificate: 3, other: 4 };
const ISSUER_ROLE = id('ISSUER_ROLE');
const SECP256K1_HALF_N = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0n;
const CERTIFICATE_STATES = ['unknown', 'valid', 'revoked', 'superseded'];
const BATCH_STATES = ['unknown', 'valid', 'flagged'];
const CAUSES = [
  'none', 'not_anchored', 'wrong_kind', 'other_organisation', 'not_in_batch', 'batch_flagged',
  'anchorer_compromised', 'certificate_revoked', 'issuance_revoked',
];
const DOCUMENT_KEYS = ['@context', 'id', 'type', 'issuer', 'validFrom', 'credentialSubject', 'credentialStatus', 'proof'];
const PROOF_KEYS = [
  'type', 'proofPurpose', 'cryptosuite', 'verificationMethod', 'signer', 'chainId', 'certificateHash',
  'signatureValue', 'deployment', 'anchor',
];
const ANCHOR_KEYS = ['kind', 'anchorer', 'root', 'proof', 'block', 'transaction', 'ledger', 'contractsVersion'];
const ENTRY_KEYS = ['id', 'kind', 'organisation', 'recordHash', 'canonical', 'anchor'];
const DESIGN_KEYS = [
  'registration', 'fingerprint', 'registry', 'registrant', 'ownerRef', 'metadataHash', 'filedAt', 'filedBlock',
  'finalAt', 'authorization', 'licence',
];
const LICENCE_KEYS = ['documentHash', 'licenseeRef', 'validFrom', 'validUntil', 'grantedBy', 'grantedAt'];
/** Blocks per eth_getLogs request: providers refuse wide ranges (as the reference's LOG_BLOCK_RANGE). */
const LOG_BLOCK_RANGE = 2000n;
const MAX_SAFE = 2n ** 53n - 1n;
const MAX_DEPTH = 128;

// --- files: strict JSON (section 1 of docs/VERIFY.md) --------------------------------------------
// Node's JSON.parse cannot tell the integer 1000 from 1e3 or 1000.0, and keeps the last of two
// members of the same name; the specification needs both, so the parser is written here.

const NUMBER = /-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/y;

/** Integer tokens (no fraction, no exponent) by container and key, as exact BigInts. */
const INTEGERS = new WeakMap();

class Unreadable extends Error {}

function parseJson(text) {
  let at = 0;
  const fail = what => {
    throw new Unreadable(`${what} at character ${at}`);
  };
  const space = () => {
    while (at < text.length && ' \t\n\r'.includes(text[at])) at += 1;
  };
  const integers = container => {
    let found = INTEGERS.get(container);
    if (!found) INTEGERS.set(container, (found = new Map()));
    return found;
  };
  const string = () => {
    at += 1; // the opening quote
    let out = '';
    for (;;) {
      if (at >= text.length) fail('unterminated string');
      const c = text[at];
      if (c === '"') {
        at += 1;
        return out;
      }
      if (c < ' ') fail('control character in a string');
      if (c !== '\\') {
        out += c;
        at += 1;
        continue;
      }
      const e = text[at + 1];
      const simple = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' }[e];
      if (simple !== undefined) {
        out += simple;
        at += 2;
      } else if (e === 'u' && /^[0-9a-fA-F]{4}$/.test(text.slice(at + 2, at + 6))) {
        out += String.fromCharCode(parseInt(text.slice(at + 2, at + 6), 16));
        at += 6;
      } else fail('bad escape');
    }
  };
  const value = (container, key, depth) => {
    space();
    const c = text[at];
    if ((c === '{' || c === '[') && depth >= MAX_DEPTH) fail(`nesting deeper than ${MAX_DEPTH} levels`);
    if (c === '{') {
      const object = Object.create(null);
      at += 1;
      space();
      if (text[at] === '}') {
        at += 1;
        return object;
      }
      for (;;) {
        space();
        if (text[at] !== '"') fail('expected a member name');
        const name = string();
        if (Object.prototype.hasOwnProperty.call(object, name)) fail(`duplicate member ${JSON.stringify(name)}`);
        space();
        if (text[at] !== ':') fail("expected ':'");
        at += 1;
        object[name] = value(object, name, depth + 1);
        space();
        if (text[at] === ',') {
          at += 1;
          continue;
        }
        if (text[at] === '}') {
          at += 1;
          return object;
        }
        fail("expected ',' or '}'");
      }
    }
    if (c === '[') {
      const array = [];
      at += 1;
      space();
      if (text[at] === ']') {
        at += 1;
        return array;
      }
      for (;;) {
        array.push(value(array, array.length, depth + 1));
        space();
        if (text[at] === ',') {
          at += 1;
          continue;
        }
        if (text[at] === ']') {
          at += 1;
          return array;
        }
        fail("expected ',' or ']'");
      }
    }
    if (c === '"') return string();
    for (const [word, literal] of [['true', true], ['false', false], ['null', null]]) {
      if (text.startsWith(word, at)) {
        at += word.length;
        return literal;
      }
    }
    NUMBER.lastIndex = at;
    const number = NUMBER.exec(text);
    if (!number) fail('expected a value');
    at += number[0].length;
    if (number[1] === undefined && number[2] === undefined) integers(container).set(key, BigInt(number[0]));
    return Number(number[0]);
  };
  const holder = [];
  const result = value(holder, 0, 0);
  space();
  if (at !== text.length) fail('extra data after the value');
  return { value: result, holder };
}

/** A file's JSON value: UTF-8 without a byte order mark, strict JSON. */
function readJson(bytes) {
  let text;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    throw new Unreadable('not UTF-8');
  }
  if (text.startsWith('\ufeff')) throw new Unreadable('a byte order mark before the JSON');
  return parseJson(text).value;
}

// --- building blocks ----------------------------------------------------------------------------

class CheckFailed extends Error {
  constructor(message, verdict = 'tampered') {
    super(message);
    this.verdict = verdict;
  }
}

/** The node failed to answer, or answered an error (a failing check's verdict: unknown). */
class ChainError extends Error {}

/** A call the contract reverted. */
class Reverted extends ChainError {}

/** A call's answer that cannot be decoded as the function's result. */
class BadAnswer extends ChainError {}

const isObject = v => typeof v === 'object' && v !== null && !Array.isArray(v);
const has = (o, k) => isObject(o) && Object.prototype.hasOwnProperty.call(o, k);
const sameKeys = (o, keys) => {
  const own = Object.keys(o);
  return own.length === keys.length && keys.every(k => has(o, k));
};
function get(o, key, what) {
  if (!has(o, key)) throw new CheckFailed(`${what} has no ${JSON.stringify(key)}`);
  return o[key];
}
function hash32(v, what) {
  if (typeof v !== 'string' || !/^0x[0-9a-f]{64}$/.test(v)) {
    throw new CheckFailed(`${what} is not a lower-case 0x-hex 32-byte value: ${JSON.stringify(v)}`);
  }
  return v;
}
function checksummed(v, what) {
  if (typeof v !== 'string' || !/^0x[0-9a-fA-F]{40}$/.test(v) || getAddress(v) !== v) {
    throw new CheckFailed(`${what} is not a checksummed address: ${JSON.stringify(v)}`);
  }
  return v;
}
/** An address: 40 hex digits in any case after 0x, 0X or nothing; its checksummed form, or null. */
function anyAddress(v) {
  if (typeof v !== 'string' || !/^(0[xX])?[0-9a-fA-F]{40}$/.test(v)) return null;
  return getAddress(`0x${v.slice(-40).toLowerCase()}`);
}
function integer(container, key, what) {
  const found = INTEGERS.get(container)?.get(key);
  if (found === undefined || typeof container[key] !== 'number') {
    throw new CheckFailed(`${what} is not an integer: ${JSON.stringify(container[key])}`);
  }
  return found;
}
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
function uuid(v, what) {
  if (typeof v !== 'string' || !UUID.test(v)) throw new CheckFailed(`${what} is not a UUID: ${JSON.stringify(v)}`);
  return v;
}
const uuidBytes16 = u => `0x${u.replaceAll('-', '')}`;

/** JCS, RFC 8785: the ECMAScript forms of strings and numbers are the specification's. */
function jcs(value, container, key, depth = 0) {
  if (value === null || value === true || value === false) return JSON.stringify(value);
  if (typeof value === 'string') {
    if (!value.isWellFormed()) throw new CheckFailed('a string holds a lone surrogate');
    return JSON.stringify(value);
  }
  if (typeof value === 'number') {
    const exact = INTEGERS.get(container)?.get(key);
    if (exact !== undefined && (exact > MAX_SAFE || exact < -MAX_SAFE)) {
      throw new CheckFailed(`the integer ${exact} is outside the safe range ±(2**53 - 1)`);
    }
    if (!Number.isFinite(value)) throw new CheckFailed(`${value} is not a JSON number`);
    return JSON.stringify(value);
  }
  if (depth >= MAX_DEPTH) throw new CheckFailed(`nesting deeper than ${MAX_DEPTH} levels`);
  if (Array.isArray(value)) return `[${value.map((item, i) => jcs(item, value, i, depth + 1)).join(',')}]`;
  const keys = Object.keys(value).sort(); // by UTF-16 code units, as RFC 8785 says
  return `{${keys
    .map(k => {
      if (!k.isWellFormed()) throw new CheckFailed('a member name holds a lone surrogate');
      return `${JSON.stringify(k)}:${jcs(value[k], value, k, depth + 1)}`;
    })
    .join(',')}}`;
}
const keccakText = text => keccak256(toUtf8Bytes(text));

function merkleProves(root, value, proof, what) {
  try {
    return StandardMerkleTree.verify(root, ['bytes32'], [value], proof);
  } catch (err) {
    throw new CheckFailed(`${what} is malformed: ${err.message}`);
  }
}

// --- JSON-RPC -------------------------------------------------------------------------------------

class Node {
  constructor(url) {
    this.url = url;
    this.next = 1;
  }

  async request(method, params) {
    let answer;
    try {
      const response = await fetch(this.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ jsonrpc: '2.0', id: this.next++, method, params }),
        signal: AbortSignal.timeout(10_000),
      });
      if (!response.ok) throw new ChainError(`HTTP ${response.status} from ${this.url}`);
      answer = await response.json();
    } catch (err) {
      if (err instanceof ChainError) throw err;
      throw new ChainError(`the node at ${this.url} does not answer: ${err.message}`);
    }
    if (answer.error) {
      const { code, message } = answer.error;
      const Kind = code === 3 || /revert/i.test(String(message)) ? Reverted : ChainError;
      throw new Kind(`the node answered ${method} with an error: ${message}`);
    }
    return answer.result;
  }

  /** The function's one result; a struct as a plain object (ethers' Result would answer a
   *  member named like an Array method, `at`, with that method). */
  async call(iface, address, fn, args) {
    const data = iface.encodeFunctionData(fn, args);
    const result = await this.request('eth_call', [{ to: address, data }, 'latest']);
    try {
      const [value] = iface.decodeFunctionResult(fn, result);
      return typeof value?.toObject === 'function' ? value.toObject() : value;
    } catch (err) {
      throw new BadAnswer(`${fn}() answered what cannot be decoded: ${err.message}`);
    }
  }
}

// --- the checks (section 4) ---------------------------------------------------------------------

function checkDocument(ctx) {
  const d = ctx.document;
  if (!sameKeys(d, DOCUMENT_KEYS)) throw new CheckFailed("the document's members are not a certificate's");
  const context = d['@context'];
  if (!(Array.isArray(context) && context.length === 1 && context[0] === VC_CONTEXT)) {
    throw new CheckFailed('@context is not the Verifiable Credentials 2.0 context');
  }
  const type = d.type;
  if (!(Array.isArray(type) && type.length === 2 && type[0] === 'VerifiableCredential' && type[1] === 'HallmarkCertificate')) {
    throw new CheckFailed('type is not a HallmarkCertificate');
  }
  const proof = d.proof;
  if (!isObject(proof) || !sameKeys(proof, PROOF_KEYS)) throw new CheckFailed("the proof's members are not a Hallmark proof's");
  const status = d.credentialStatus;
  if (get(status, 'type', 'credentialStatus') !== 'HallmarkLedgerStatus') {
    throw new CheckFailed('credentialStatus.type is not HallmarkLedgerStatus');
  }
  const fixed = { type: 'HallmarkEip712Signature', proofPurpose: 'assertionMethod', cryptosuite: 'eip712-keccak256-jcs' };
  for (const [key, expected] of Object.entries(fixed)) {
    if (proof[key] !== expected) throw new CheckFailed(`proof.${key} is not ${expected}`);
  }
  ctx.signer = checksummed(proof.signer, 'proof.signer');
  const chainId = integer(proof, 'chainId', 'proof.chainId');
  if (proof.verificationMethod !== `eip155:${chainId}:${ctx.signer}`) {
    throw new CheckFailed('proof.verificationMethod does not name the signer on its chain');
  }
  get(status, 'chainId', 'credentialStatus');
  if (integer(status, 'chainId', 'credentialStatus.chainId') !== chainId) {
    throw new CheckFailed('proof.chainId differs from credentialStatus.chainId');
  }
  ctx.chainId = chainId;
  const issuerId = get(d.issuer, 'id', 'issuer');
  if (typeof issuerId !== 'string' || !issuerId.startsWith('urn:uuid:') || !UUID.test(issuerId.slice(9))) {
    throw new CheckFailed(`issuer.id is not urn:uuid:<organisation>: ${JSON.stringify(issuerId)}`);
  }
  ctx.organisation = issuerId.slice(9);
  if (get(status, 'organisation', 'credentialStatus') !== uuidBytes16(ctx.organisation)) {
    throw new CheckFailed("credentialStatus.organisation is not the issuer's identifier");
  }
  ctx.organisationBytes = uuidBytes16(ctx.organisation);
  ctx.issuanceId = hash32(get(status, 'issuanceId', 'credentialStatus'), 'issuanceId');
  return `a HallmarkCertificate of organisation ${ctx.organisation}`;
}

function checkHash(ctx) {
  const unsigned = Object.create(null);
  for (const key of Object.keys(ctx.document)) if (key !== 'proof') unsigned[key] = ctx.document[key];
  const integers = INTEGERS.get(ctx.document);
  if (integers) INTEGERS.set(unsigned, integers);
  const computed = keccakText(jcs(unsigned, null, null));
  const claimed = hash32(ctx.document.proof.certificateHash, 'proof.certificateHash');
  if (computed !== claimed) throw new CheckFailed(`the document hashes to ${computed}, its proof says ${claimed}`);
  ctx.certificateHash = computed;
  return computed;
}

function checkSignature(ctx) {
  const d = ctx.document;
  const signature = d.proof.signatureValue;
  if (typeof signature !== 'string' || !/^0x[0-9a-f]{130}$/.test(signature)) {
    throw new CheckFailed('proof.signatureValue is not a 65-byte lower-case 0x-hex signature');
  }
  const r = BigInt(`0x${signature.slice(2, 66)}`);
  const s = BigInt(`0x${signature.slice(66, 130)}`);
  const v = parseInt(signature.slice(130), 16);
  if (r === 0n || s === 0n || s > SECP256K1_HALF_N || (v !== 27 && v !== 28)) {
    throw new CheckFailed('proof.signatureValue is not a canonical signature (v 27 or 28, s in the lower half)');
  }
  const number = get(get(d, 'credentialSubject', 'the document'), 'certificateNumber', 'credentialSubject');
  if (typeof number !== 'string') throw new CheckFailed('credentialSubject.certificateNumber is not text');
  const status = d.credentialStatus;
  const domain = {
    name: 'Hallmark Certificate',
    version: '1',
    chainId: ctx.chainId,
    verifyingContract: anyAddress(status.ledger),
  };
  const types = {
    Certificate: [
      { name: 'certificateHash', type: 'bytes32' },
      { name: 'organisation', type: 'bytes16' },
      { name: 'issuanceId', type: 'bytes32' },
      { name: 'number', type: 'string' },
    ],
  };
  const message = {
    certificateHash: ctx.certificateHash,
    organisation: status.organisation,
    issuanceId: status.issuanceId,
    number,
  };
  let recovered;
  try {
    recovered = recoverAddress(TypedDataEncoder.hash(domain, types, message), signature);
  } catch (err) {
    throw new CheckFailed(`the signature cannot be read: ${err.message}`);
  }
  if (recovered !== ctx.signer) throw new CheckFailed(`the signature is ${recovered}'s, the proof names ${ctx.signer}`);
  const account = get(d.issuer, 'account', 'issuer');
  if (account !== ctx.signer) throw new CheckFailed(`the issuer's account is ${account}, the signer is ${ctx.signer}`);
  return `EIP-712 signature by ${recovered}`;
}

async function checkChain(ctx) {
  const { proof, credentialStatus: status } = ctx.document;
  const nodeChain = BigInt(await ctx.node.request('eth_chainId', []));
  if (nodeChain !== ctx.chainId) {
    throw new CheckFailed(`the certificate is for chain ${ctx.chainId}, the node is on chain ${nodeChain}`, 'unknown');
  }
  const deployment = proof.deployment;
  if (!isObject(deployment) || !sameKeys(deployment, ['ledger', 'designRegistry', 'contractsVersion'])) {
    throw new CheckFailed('proof.deployment is not {ledger, designRegistry, contractsVersion}');
  }
  const ledger = checksummed(get(status, 'ledger', 'credentialStatus'), 'credentialStatus.ledger');
  if (deployment.ledger !== ledger) throw new CheckFailed('proof.deployment.ledger differs from credentialStatus.ledger');
  const code = await ctx.node.request('eth_getCode', [ledger, 'latest']);
  if (code === '0x' || code === '0x0') throw new CheckFailed(`no contract at ledger ${ledger} on this chain`, 'unknown');
  let version;
  try {
    version = await ctx.node.call(LEDGER, ledger, 'version', []);
  } catch (err) {
    if (err instanceof Reverted || err instanceof BadAnswer) {
      throw new CheckFailed(`the contract at ${ledger} answers no version(): ${err.message}`);
    }
    throw err;
  }
  if (version !== deployment.contractsVersion || version !== '2.0.0') {
    throw new CheckFailed(`the ledger's version is ${version}, the proof says otherwise`);
  }
  ctx.ledger = ledger;
  ctx.contractsVersion = version;
  const registry = checksummed(deployment.designRegistry, 'proof.deployment.designRegistry');
  let registryLedger;
  try {
    registryLedger = await ctx.node.call(REGISTRY, registry, 'ledger', []);
  } catch (err) {
    throw new CheckFailed(`no design registry at ${registry}: ${err.message}`);
  }
  if (registryLedger !== ledger) throw new CheckFailed(`the design registry ${registry} belongs to ledger ${registryLedger}`);
  return `chain ${nodeChain}, ledger ${ledger} version ${version}`;
}

function anchorEvidence(ctx, value, what, kind, earlier = false) {
  if (value === null) throw new CheckFailed(`${what} carries no anchoring evidence (not anchored yet)`, 'unknown');
  if (!isObject(value) || !sameKeys(value, ANCHOR_KEYS)) throw new CheckFailed(`${what}'s members are not anchoring evidence's`);
  if (value.kind !== kind) throw new CheckFailed(`${what}.kind is ${JSON.stringify(value.kind)}, not ${kind}`);
  checksummed(value.anchorer, `${what}.anchorer`);
  hash32(value.root, `${what}.root`);
  if (!Array.isArray(value.proof)) throw new CheckFailed(`${what}.proof is not a list`);
  value.proof.forEach((node, i) => hash32(node, `${what}.proof[${i}]`));
  const block = integer(value, 'block', `${what}.block`);
  hash32(value.transaction, `${what}.transaction`);
  if (value.ledger !== ctx.ledger) {
    if (!earlier) throw new CheckFailed(`${what}.ledger is not the certificate's ledger`);
  } else if (value.contractsVersion !== ctx.contractsVersion) {
    throw new CheckFailed(`${what}.contractsVersion is not the ledger's version`);
  }
  return { ...value, block };
}

/** The earlier ledger a record's evidence names: code there, answering the version it claims
 *  (each address checked once); its version, '1.0.0' or '2.0.0'. */
async function earlierLedger(ctx, address, version, what) {
  checksummed(address, `${what}.ledger`);
  if (!ctx.earlier.has(address)) {
    if (!EARLIER_VERSIONS.includes(version)) {
      throw new CheckFailed(`${what}.contractsVersion ${JSON.stringify(version)} is not a ledger's`);
    }
    const code = await ctx.node.request('eth_getCode', [address, 'latest']);
    if (code === '0x' || code === '0x0') throw new CheckFailed(`${what}.ledger ${address}: no contract there`, 'unknown');
    let found;
    try {
      found = await ctx.node.call(version === '1.0.0' ? LEDGER_V1 : LEDGER, address, 'version', []);
    } catch (err) {
      throw new CheckFailed(`${what}.ledger ${address} is not a ledger: ${err.message}`);
    }
    if (found !== version) throw new CheckFailed(`${what}.ledger ${address} answers version ${found}`);
    ctx.earlier.set(address, version);
  }
  if (ctx.earlier.get(address) !== version) throw new CheckFailed(`${what}.contractsVersion is not its ledger's version`);
  return version;
}

async function batchOf(ctx, anchorer, root, ledger = ctx.ledger) {
  const key = `${ledger}/${anchorer}/${root}`;
  if (!ctx.batches.has(key)) {
    const batch = await ctx.node.call(LEDGER, ledger, 'batchOf', [anchorer, root]);
    ctx.batches.set(key, batch);
  }
  return ctx.batches.get(key);
}

async function organisationOf(ctx, account, ledger = ctx.ledger) {
  const key = `${ledger}/${account}`;
  if (!ctx.accounts.has(key)) {
    const binding = await ctx.node.call(LEDGER, ledger, 'accountOf', [account]);
    ctx.accounts.set(key, binding.organisation.toLowerCase());
  }
  return ctx.accounts.get(key);
}

async function checkTransaction(ctx, anchor, what, ledger = ctx.ledger) {
  const receipt = await ctx.node.request('eth_getTransactionReceipt', [anchor.transaction]);
  if (
    receipt === null ||
    receipt.blockHash === null ||
    BigInt(receipt.blockNumber) !== anchor.block ||
    receipt.to === null ||
    getAddress(receipt.to) !== ledger ||
    getAddress(receipt.from) !== anchor.anchorer ||
    BigInt(receipt.status) !== 1n
  ) {
    throw new CheckFailed(`${what}.transaction is not its anchorer's anchoring in its block`);
  }
}

async function checkIssuer(ctx) {
  ctx.anchor = anchorEvidence(ctx, ctx.document.proof.anchor, 'proof.anchor', 'certificate');
  const organisation = await organisationOf(ctx, ctx.signer);
  if (organisation !== ctx.organisationBytes) {
    throw new CheckFailed(`the signer ${ctx.signer} is bound to ${organisation}, not to the issuer`, 'unknown');
  }
  const batch = await batchOf(ctx, ctx.anchor.anchorer, ctx.anchor.root);
  if (batch.count === 0n) throw new CheckFailed('no batch with that anchorer and root on the ledger', 'unknown');
  const held = await ctx.node.call(LEDGER, ctx.ledger, 'hasRoleAt', [ISSUER_ROLE, ctx.signer, batch.anchoredBlock]);
  if (!held) throw new CheckFailed(`the signer did not hold ISSUER_ROLE in block ${batch.anchoredBlock}`, 'unknown');
  return `${ctx.signer} held ISSUER_ROLE in block ${batch.anchoredBlock}`;
}

function checkMerkle(ctx) {
  const { root, proof } = ctx.anchor;
  if (!merkleProves(root, ctx.certificateHash, proof, 'the Merkle proof')) {
    throw new CheckFailed('the Merkle proof does not lead to the root');
  }
  return `proof of ${proof.length} nodes leads to ${root}`;
}

async function checkAnchored(ctx) {
  const { anchor } = ctx;
  const batch = await batchOf(ctx, anchor.anchorer, anchor.root);
  if (anchor.anchorer !== ctx.signer) throw new CheckFailed(`the batch was anchored by ${anchor.anchorer}, not the signer`);
  if (batch.kind !== 3n) throw new CheckFailed(`the batch holds records of kind ${batch.kind}, not certificates`);
  if (batch.organisation.toLowerCase() !== ctx.organisationBytes) {
    throw new CheckFailed('the batch belongs to another organisation', 'unknown');
  }
  if (batch.anchoredBlock !== anchor.block) throw new CheckFailed(`the batch was anchored in block ${batch.anchoredBlock}`);
  await checkTransaction(ctx, anchor, 'proof.anchor');
  return `Certificate batch anchored by the signer in block ${batch.anchoredBlock}`;
}

async function checkStatus(ctx) {
  const { anchorer, root, proof } = ctx.anchor;
  const status = await ctx.node.call(LEDGER, ctx.ledger, 'certificateStatus', [
    ctx.organisationBytes, ctx.issuanceId, ctx.certificateHash, anchorer, root, proof,
  ]);
  const state = CERTIFICATE_STATES[Number(status.state)];
  const cause = CAUSES[Number(status.cause)];
  if (state === 'valid') return 'valid: not revoked, superseded or flagged';
  if (state === 'revoked') throw new CheckFailed(`revoked (${cause}, reason ${status.reason}, at ${status.at})`, 'revoked');
  if (state === 'superseded') {
    throw new CheckFailed(
      `superseded at ${status.at} by ${status.successorHash} (anchored by ${status.successorAnchorer} in root ${status.successorRoot})`,
      'superseded',
    );
  }
  throw new CheckFailed(`unknown to the ledger (${cause})`, 'unknown');
}

async function blockTime(ctx, block) {
  const found = await ctx.node.request('eth_getBlockByNumber', [`0x${block.toString(16)}`, false]);
  if (found === null) throw new ChainError(`the node has no block ${block}`);
  return BigInt(found.timestamp);
}

/** Every (registrant, ownerRef) the filing in force has had, as `registrant/ownerRef` texts: its
 *  last DesignRegistered log's, then each DesignAssigned log's after it. */
async function designHolders(ctx, registry, fingerprint, fromBlock) {
  const head = BigInt(await ctx.node.request('eth_blockNumber', []));
  const logs = async (event, start) => {
    const topic = REGISTRY.getEvent(event).topicHash;
    const found = [];
    for (let from = start; from <= head; from += LOG_BLOCK_RANGE) {
      const to = from + LOG_BLOCK_RANGE - 1n < head ? from + LOG_BLOCK_RANGE - 1n : head;
      const page = await ctx.node.request('eth_getLogs', [
        { address: registry, topics: [topic, fingerprint], fromBlock: `0x${from.toString(16)}`, toBlock: `0x${to.toString(16)}` },
      ]);
      for (const log of page) if (!log.removed) found.push({ log, args: REGISTRY.parseLog(log).args });
    }
    return found;
  };
  const registered = await logs('DesignRegistered', fromBlock);
  if (registered.length === 0) return new Set();
  const last = registered[registered.length - 1];
  const holders = new Set([`${getAddress(last.args.registrant)}/${last.args.ownerRef}`]);
  for (const { args } of await logs('DesignAssigned', BigInt(last.log.blockNumber))) {
    holders.add(`${getAddress(args.newRegistrant)}/${args.newOwnerRef}`);
  }
  return holders;
}

async function checkDesign(ctx) {
  const design = get(ctx.document.credentialSubject, 'design', 'credentialSubject');
  if (design === null) return 'no registered design named';
  if (!isObject(design) || !sameKeys(design, DESIGN_KEYS)) throw new CheckFailed("the design's members are not a registered design's");
  const registry = checksummed(design.registry, 'design.registry');
  if (registry !== ctx.document.proof.deployment.designRegistry) {
    throw new CheckFailed("design.registry is not the deployment's DesignRegistry");
  }
  const fingerprint = hash32(design.fingerprint, 'design.fingerprint');
  const filed = await ctx.node.call(REGISTRY, registry, 'designOf', [fingerprint]);
  if (BigInt(filed.registrant) === 0n) throw new CheckFailed(`the DesignRegistry holds no filing of ${fingerprint}`);
  for (const [key, value] of [['filedAt', filed.filedAt], ['filedBlock', filed.filedBlock], ['finalAt', filed.finalAt]]) {
    if (integer(design, key, `design.${key}`) !== value) throw new CheckFailed(`design.${key} is ${design[key]}, the registry's is ${value}`);
  }
  if (design.metadataHash !== filed.metadataHash) throw new CheckFailed("design.metadataHash is not the registry's");
  const anchoredAt = await blockTime(ctx, ctx.anchor.block);
  if (filed.finalAt > anchoredAt) throw new CheckFailed('the filing was not final when the certificate was anchored');
  const registrant = checksummed(design.registrant, 'design.registrant');
  const ownerRef = hash32(design.ownerRef, 'design.ownerRef');
  let detail = `design ${fingerprint} filed in block ${filed.filedBlock} by ${registrant}`;
  if (registrant !== getAddress(filed.registrant) || ownerRef !== filed.ownerRef) {
    const holders = await designHolders(ctx, registry, fingerprint, filed.filedBlock);
    if (!holders.has(`${registrant}/${ownerRef}`)) {
      throw new CheckFailed("design.registrant and ownerRef are not the filing's, now or before");
    }
    detail += ` (assigned since to ${getAddress(filed.registrant)})`;
  }
  const { licence } = design;
  if (licence === null) return detail;
  if (!isObject(licence) || !sameKeys(licence, LICENCE_KEYS)) throw new CheckFailed("design.licence's members are not a licence's");
  const documentHash = hash32(licence.documentHash, 'design.licence.documentHash');
  const found = await ctx.node.call(REGISTRY, registry, 'licenceOf', [fingerprint, documentHash]);
  if (found.grantedAt === 0n) throw new CheckFailed(`the DesignRegistry holds no licence under ${documentHash}`);
  if (licence.licenseeRef !== found.licenseeRef || licence.grantedBy !== getAddress(found.grantedBy)) {
    throw new CheckFailed("design.licence is not the registry's");
  }
  for (const key of ['validFrom', 'validUntil', 'grantedAt']) {
    if (integer(licence, key, `design.licence.${key}`) !== found[key]) throw new CheckFailed(`design.licence.${key} is not the registry's`);
  }
  if (found.grantedAt > anchoredAt) throw new CheckFailed('the licence was granted after the certificate was anchored');
  if (found.terminatedAt !== 0n && found.terminatedAt <= anchoredAt) {
    throw new CheckFailed('the licence had been terminated when the certificate was anchored');
  }
  detail += `; licensed under ${documentHash}`;
  if (found.terminatedAt !== 0n) detail += ` (terminated later, at ${found.terminatedAt})`;
  return detail;
}

async function checkBundle(ctx) {
  const bundle = ctx.bundle;
  if (!isObject(bundle) || !sameKeys(bundle, ['type', 'certificate', 'records']) || bundle.type !== 'HallmarkProvenanceBundle') {
    throw new CheckFailed('the bundle is not a HallmarkProvenanceBundle');
  }
  if (bundle.certificate !== ctx.certificateHash) throw new CheckFailed("the bundle is another certificate's");
  const subject = ctx.document.credentialSubject;
  const listed = get(subject, 'records', 'credentialSubject');
  const entries = bundle.records;
  if (!Array.isArray(listed)) throw new CheckFailed('credentialSubject.records is not a list');
  if (!Array.isArray(entries) || entries.length !== listed.length) {
    throw new CheckFailed('the bundle does not hold exactly the records the document lists');
  }
  // The who-is-who table: organisation → account.
  const table = get(subject, 'organisations', 'credentialSubject');
  if (!Array.isArray(table)) throw new CheckFailed('credentialSubject.organisations is not a list');
  const accounts = new Map();
  for (const row of table) accounts.set(uuid(get(row, 'id', 'organisation'), 'organisation id'), get(row, 'account', 'organisation'));

  const steps = [];
  for (let index = 0; index < entries.length; index += 1) {
    const entry = entries[index];
    const expected = listed[index];
    const what = `bundle record ${index + 1}`;
    if (!isObject(entry) || !sameKeys(entry, ENTRY_KEYS)) throw new CheckFailed(`${what}'s members are not a bundled record's`);
    for (const key of ['id', 'kind', 'organisation', 'recordHash']) {
      if (typeof entry[key] !== 'string' || entry[key] !== get(expected, key, `the document's record ${index + 1}`)) {
        throw new CheckFailed(`${what}.${key} is not what the document lists`);
      }
    }
    const { canonical } = entry;
    if (typeof canonical !== 'string') throw new CheckFailed(`${what}.canonical is not text`);
    const computed = keccakText(canonical);
    if (computed !== entry.recordHash) throw new CheckFailed(`${what}'s text hashes to ${computed}, not its record hash`);
    let parsed;
    try {
      parsed = parseJson(canonical);
    } catch (err) {
      throw new CheckFailed(`${what}'s text is not JSON: ${err.message}`);
    }
    if (jcs(parsed.value, parsed.holder, 0) !== canonical) throw new CheckFailed(`${what}'s text is not canonical JSON`);
    const record = parsed.value;
    if (!isObject(record)) throw new CheckFailed(`${what}'s text is not a record`);
    if (record.id !== entry.id || record.type !== entry.kind || record.organisation !== entry.organisation) {
      throw new CheckFailed(`${what}'s text does not describe that record`);
    }
    const { kind } = entry;
    if (!Object.hasOwn(KINDS, kind)) throw new CheckFailed(`${what} is of unknown kind ${JSON.stringify(kind)}`);
    const anchor = anchorEvidence(ctx, entry.anchor, `${what}.anchor`, kind, true);
    const version =
      anchor.ledger === ctx.ledger
        ? ctx.contractsVersion
        : await earlierLedger(ctx, anchor.ledger, anchor.contractsVersion, `${what}.anchor`);
    if (!merkleProves(anchor.root, computed, anchor.proof, `${what}'s Merkle proof`)) {
      throw new CheckFailed(`${what}'s Merkle proof does not lead to its root`);
    }
    const organisation = uuid(entry.organisation, `${what}.organisation`);
    if (accounts.get(organisation) !== anchor.anchorer) {
      throw new CheckFailed(
        `${what} was anchored by ${anchor.anchorer}, the who-is-who table gives organisation ${organisation} the account ${accounts.get(organisation)}`,
      );
    }
    const checkRecord = version === '1.0.0' ? checkRecordV1 : checkRecordV2;
    await checkRecord(ctx, anchor, { recordHash: computed, kind, organisation, what });
    if (kind === 'production_step') {
      const data = has(record, 'data') ? record.data : Object.create(null);
      if (!isObject(data)) throw new CheckFailed(`${what}'s data is not an object`);
      const sequence = has(data, 'sequence') ? integer(data, 'sequence', `${what}'s data.sequence`) : 0n;
      steps.push({ sequence, hash: computed, data });
    }
  }
  return checkSteps(ctx, steps, entries.length);
}

/** A bundled record on a version 2 ledger (the certificate's or an earlier one). */
async function checkRecordV2(ctx, anchor, { recordHash, kind, organisation, what }) {
  const { ledger } = anchor;
  const verified = await ctx.node.call(LEDGER, ledger, 'verifyRecord', [
    anchor.anchorer, anchor.root, KINDS[kind], recordHash, anchor.proof,
  ]);
  if (!verified) {
    const standing = await ctx.node.call(LEDGER, ledger, 'batchStatus', [anchor.anchorer, anchor.root]);
    if (BATCH_STATES[Number(standing.state)] === 'flagged') {
      throw new CheckFailed(
        `${what}'s batch is flagged (${CAUSES[Number(standing.cause)]}, reason ${standing.reason}, at ${standing.at}): the record is withdrawn`,
        'revoked',
      );
    }
    throw new CheckFailed(`the ledger does not verify ${what} (not its batch or kind)`);
  }
  if ((await organisationOf(ctx, anchor.anchorer, ledger)) !== uuidBytes16(organisation)) {
    throw new CheckFailed(`${what}'s anchorer is not bound to its organisation`, 'unknown');
  }
  if ((await batchOf(ctx, anchor.anchorer, anchor.root, ledger)).anchoredBlock !== anchor.block) {
    throw new CheckFailed(`${what}.anchor.block is not its batch's block`);
  }
  await checkTransaction(ctx, anchor, `${what}.anchor`, ledger);
}

/** A bundled record on an earlier version 1 ledger (batches by root alone, no account binding):
 *  its batch, its revocation, its anchorer bound to its organisation on the certificate's
 *  ledger, and its anchoring transaction's own call naming its root and kind. */
async function checkRecordV1(ctx, anchor, { recordHash, kind, organisation, what }) {
  const { ledger, root, anchorer } = anchor;
  if (!(await ctx.node.call(LEDGER_V1, ledger, 'verifyRecord', [root, recordHash, anchor.proof]))) {
    throw new CheckFailed(`the earlier ledger ${ledger} does not verify ${what}`);
  }
  const batch = await ctx.node.call(LEDGER_V1, ledger, 'batchOf', [root]);
  if (getAddress(batch.anchorer) !== anchorer || batch.kind !== BigInt(KINDS[kind])) {
    throw new CheckFailed(`${what}'s root was anchored on ${ledger} by ${batch.anchorer} as kind ${batch.kind}, not by its anchorer as ${kind}`);
  }
  const revocation = await ctx.node.call(LEDGER_V1, ledger, 'batchRevocationOf', [root]);
  if (revocation.revokedAt !== 0n) {
    throw new CheckFailed(
      `${what}'s batch was revoked on ${ledger} (reason ${revocation.reason}, at ${revocation.revokedAt}): the record is withdrawn`,
      'revoked',
    );
  }
  if ((await organisationOf(ctx, anchorer)) !== uuidBytes16(organisation)) {
    throw new CheckFailed(`${what}'s anchorer is not bound to its organisation on the certificate's ledger`, 'unknown');
  }
  await checkTransaction(ctx, anchor, `${what}.anchor`, ledger);
  const sent = await ctx.node.request('eth_getTransactionByHash', [anchor.transaction]);
  if (sent === null) throw new CheckFailed(`${what}.transaction is unknown to the node`);
  let called;
  try {
    const parsed = LEDGER_V1.parseTransaction({ data: sent.input });
    called = [parsed.name, parsed.args.root, Number(parsed.args.kind)];
  } catch (err) {
    throw new CheckFailed(`${what}.transaction is not an anchoring call: ${err.message}`);
  }
  if (called[0] !== 'anchor' || called[1] !== root || called[2] !== KINDS[kind]) {
    throw new CheckFailed(`${what}.transaction anchored ${called.join(', ')}, not its root and kind`);
  }
}

function checkSteps(ctx, steps, records) {
  const subject = ctx.document.credentialSubject;
  const production = get(subject, 'production', 'credentialSubject');
  const productId = get(get(subject, 'product', 'credentialSubject'), 'id', 'product');
  const ordered = [...steps].sort((a, b) => (a.sequence < b.sequence ? -1 : a.sequence > b.sequence ? 1 : 0));
  let previous = null;
  ordered.forEach((step, i) => {
    const expected = BigInt(i + 1);
    if (step.sequence !== expected) throw new CheckFailed(`step ${expected} of the chain is missing from the bundle`);
    const read = key => (has(step.data, key) ? step.data[key] : null);
    if (read('product') !== productId) throw new CheckFailed(`step ${step.sequence} is another product's`);
    if (read('previousStep') !== previous) throw new CheckFailed(`step ${step.sequence} does not link to the step before it`);
    previous = step.hash;
  });
  const head = get(production, 'stepChainHead', 'production');
  const links = get(production, 'links', 'production');
  if (previous !== head || typeof links !== 'number' || links !== steps.length) {
    throw new CheckFailed('the step chain does not end at the head the document names');
  }
  return `${records} records verified; step chain of ${steps.length} links ends at ${previous}`;
}

// --- the run ------------------------------------------------------------------------------------

async function checked(report, name, run) {
  try {
    report.checks.push({ name, ok: true, detail: await run() });
    return true;
  } catch (err) {
    let verdict = 'tampered';
    let detail = err.message;
    if (err instanceof CheckFailed) verdict = err.verdict;
    else if (err instanceof ChainError) {
      verdict = 'unknown';
      detail = `cannot check: ${err.message}`;
    } else detail = `cannot check: ${err.message}`;
    report.checks.push({ name, ok: false, detail });
    // The first verdict that is not genuine stands, unless a later check finds tampering.
    if (report.verdict === 'genuine' || verdict === 'tampered') report.verdict = verdict;
    return false;
  }
}

/** The report of a certificate (and its bundle, when `hasBundle`) against the node at `rpc`. */
export async function verify({ document, bundle, hasBundle, rpc }) {
  const report = { verdict: 'genuine', ok: false, checks: [] };
  const refuse = message => ({ verdict: 'tampered', ok: false, checks: [{ name: 'document', ok: false, detail: message }] });
  if (!isObject(document)) return refuse('the document is not a JSON object');
  const status = document.credentialStatus;
  if (!isObject(status) || anyAddress(status.ledger) === null) return refuse('the document names no ledger address');
  const ctx = { document, bundle, node: new Node(rpc), batches: new Map(), accounts: new Map(), earlier: new Map() };
  if (!(await checked(report, 'document', () => checkDocument(ctx)))) return report;
  const steps = [
    ['hash', checkHash], ['signature', checkSignature], ['chain', checkChain], ['issuer', checkIssuer],
    ['merkle', checkMerkle], ['anchored', checkAnchored], ['status', checkStatus], ['design', checkDesign],
  ];
  for (const [name, step] of steps) {
    const ok = await checked(report, name, () => step(ctx));
    if (!ok && ['hash', 'chain', 'issuer'].includes(name)) return finish(report);
  }
  if (hasBundle) await checked(report, 'bundle', () => checkBundle(ctx));
  return finish(report);
}

function finish(report) {
  report.ok = report.verdict === 'genuine' && report.checks.every(c => c.ok);
  return report;
}

/** The report for files, or {unreadable, error} when one cannot be read. */
export async function verifyFiles({ certificate, bundle = null, rpc }) {
  const read = (path, what) => {
    try {
      return { value: readJson(readFileSync(path)) };
    } catch (err) {
      return { unreadable: what, error: `cannot read the ${what} ${path}: ${err.message}` };
    }
  };
  const document = read(certificate, 'certificate');
  if (document.unreadable) return document;
  const provenance = bundle === null ? { value: null } : read(bundle, 'bundle');
  if (provenance.unreadable) return provenance;
  return verify({ document: document.value, bundle: provenance.value, hasBundle: bundle !== null, rpc });
}

async function main(argv) {
  if (argv[0] === '--lines') {
    for await (const line of createInterface({ input: process.stdin, crlfDelay: Infinity })) {
      if (!line.trim()) continue;
      let answer;
      try {
        answer = await verifyFiles(JSON.parse(line));
      } catch (err) {
        answer = { error: `the verifier failed: ${err.stack}` };
      }
      process.stdout.write(`${JSON.stringify(answer)}\n`);
    }
    return 0;
  }
  const options = { certificate: null, bundle: null, rpc: null, json: false };
  for (let i = 0; i < argv.length; i += 1) {
    if (argv[i] === '--bundle') options.bundle = argv[++i];
    else if (argv[i] === '--rpc') options.rpc = argv[++i];
    else if (argv[i] === '--json') options.json = true;
    else if (options.certificate === null && !argv[i].startsWith('--')) options.certificate = argv[i];
    else {
      process.stderr.write(`error: unexpected argument ${argv[i]}\n`);
      return 2;
    }
  }
  if (!options.certificate || !options.rpc) {
    process.stderr.write('usage: verify.mjs CERT.json [--bundle BUNDLE.json] --rpc URL [--json]\n');
    return 2;
  }
  const report = await verifyFiles(options);
  if (report.unreadable) {
    process.stderr.write(`error: ${report.error}\n`);
    return 2;
  }
  if (options.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  else {
    for (const check of report.checks) process.stdout.write(`${check.ok ? 'PASS' : 'FAIL'} ${check.name.padEnd(10)} ${check.detail}\n`);
    process.stdout.write(`verdict: ${report.verdict}\n`);
  }
  return report.ok ? 0 : 1;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  process.exitCode = await main(process.argv.slice(2));
}
