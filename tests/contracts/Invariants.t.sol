// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.24;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {DesignRegistry} from "../../contracts/v2/DesignRegistry.sol";
import {ProvenanceLedger} from "../../contracts/v2/ProvenanceLedger.sol";
import {ICertificateStatus} from "../../contracts/v2/interfaces/ICertificateStatus.sol";
import {IDesignRegistry} from "../../contracts/v2/interfaces/IDesignRegistry.sol";
import {IOrganisations} from "../../contracts/v2/interfaces/IOrganisations.sol";
import {IRecordAnchor} from "../../contracts/v2/interfaces/IRecordAnchor.sol";
import {LedgerFixture} from "./utils/Fixtures.sol";
import {MerkleTree} from "./utils/MerkleTree.sol";
import {Vm} from "./utils/Vm.sol";

/**
 * @notice Base of the invariant handlers. A handler never swallows a revert: every call is first judged by a model
 * (allowed, with fresh input → must succeed; anything else → must fail), then made; a refusal of a call the model
 * allows is a wrong refusal, a success the model forbids a violation, and both fail the invariants. Progress is
 * asserted after each run (afterInvariant), so a ledger that reverted on everything would fail.
 */
abstract contract Handler {
    Vm internal constant vm = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));

    uint256 public calls;
    uint256 public successfulWrites;
    uint256 public expectedRefusals;
    uint256 public wrongRefusals; // an allowed caller with fresh input was refused
    uint256 public violations; // a call the model forbids went through
    uint256 public wrongErrors; // refused, as it should be, but with another error than the model's
    bytes public lastWrongRefusal;
    string public lastViolation;
    /// Successful writes per kind of call, to see what a campaign exercised.
    mapping(string what => uint256 count) public succeeded;
    mapping(string what => uint256 count) public refused;

    /// @dev Judges the outcome of a call the model says `allowed` (`expectedError`: the error selector the model
    /// expects when it is not, 0 when any refusal will do).
    function _judge(bool allowed, bool ok, bytes memory revertData, bytes4 expectedError, string memory what)
        internal
    {
        if (ok) {
            ++successfulWrites;
            ++succeeded[what];
            if (!allowed) {
                ++violations;
                lastViolation = what;
            }
            return;
        }
        if (allowed) {
            ++wrongRefusals;
            lastWrongRefusal = revertData;
            lastViolation = what;
            return;
        }
        ++expectedRefusals;
        ++refused[what];
        if (expectedError != bytes4(0) && (revertData.length < 4 || bytes4(revertData) != expectedError)) {
            ++wrongErrors;
            lastWrongRefusal = revertData;
            lastViolation = what;
        }
    }

    function _call(address sender, address target, bytes memory data)
        internal
        returns (bool ok, bytes memory ret)
    {
        ++calls;
        vm.prank(sender);
        (ok, ret) = target.call(data);
    }
}

/**
 * @notice Drives the ledger as a consortium would, honest and hostile: two brands (each an issuer and a revoker,
 * brand A with a second issuer account), a supplier and a stranger; certificates drawn from a pool of documents,
 * each document naming its brand and one of three issuances; copies of other brands' certificates, re-anchored
 * certificates and inner nodes; revocations, supersessions, flags and compromise declarations. A model of what each
 * organisation did gives every certificate's expected status.
 */
contract LedgerHandler is Handler {
    using MerkleTree for MerkleTree.Tree;

    struct Doc {
        bytes16 organisation;
        bytes32 issuance;
    }

    /// A certificate as a holder would present it: the document and the anchoring evidence.
    struct Cert {
        bytes32 hash;
        address anchorer;
        bytes32 root;
        bytes32[] proof;
    }

    struct BatchModel {
        IRecordAnchor.RecordKind kind;
        uint24 count;
        bytes16 organisation;
        uint64 anchoredAt;
        uint64 anchoredBlock;
    }

    uint256 internal constant DOCS = 24;
    uint256 internal constant MAX_CERTS = 40;

    ProvenanceLedger public immutable ledger;
    address public immutable admin;
    address[] public actors;
    bytes16 public immutable orgA;
    bytes16 public immutable orgB;

    mapping(bytes32 hash => Doc doc) public docs;
    bytes32[] public docHashes;

    Cert[] internal _certs;
    address[] public batchAnchorers;
    bytes32[] public batchRoots;
    mapping(address anchorer => mapping(bytes32 root => BatchModel batch)) public batchModel;
    mapping(address anchorer => mapping(bytes32 root => bool flagged)) public flagged;
    mapping(bytes16 organisation => mapping(bytes32 hash => bool revoked)) public revoked;
    mapping(bytes16 organisation => mapping(bytes32 issuance => bool revoked)) public issuanceRevoked;
    mapping(bytes16 organisation => mapping(bytes32 hash => bool superseded)) public superseded;
    mapping(address account => uint64 fromBlock) public compromisedFrom;
    // The model of who is who, kept by the handler (never read back from the ledger).
    mapping(address account => bytes16 organisation) public organisationOf;
    mapping(address account => uint8 roles) public rolesOf;

    // Hashes revoked (by certificate or by issuance), for the "revoked stays revoked" invariant.
    bytes32[] public everRevoked;

    constructor(
        ProvenanceLedger ledger_,
        address admin_,
        address[] memory actors_,
        bytes16[] memory organisations_,
        uint8[] memory roles_,
        bytes16 orgA_,
        bytes16 orgB_
    ) {
        ledger = ledger_;
        admin = admin_;
        actors = actors_;
        orgA = orgA_;
        orgB = orgB_;
        for (uint256 i = 0; i < actors_.length; ++i) {
            organisationOf[actors_[i]] = organisations_[i];
            rolesOf[actors_[i]] = roles_[i];
        }
        for (uint256 i = 0; i < DOCS; ++i) {
            bytes32 hash = keccak256(abi.encode("certificate document", i));
            docs[hash] = Doc({
                organisation: i % 2 == 0 ? orgA_ : orgB_, issuance: keccak256(abi.encode("issuance", i % 3))
            });
            docHashes.push(hash);
        }
    }

    function certCount() external view returns (uint256) {
        return _certs.length;
    }

    function cert(uint256 i) external view returns (Cert memory) {
        return _certs[i];
    }

    function batchCount() external view returns (uint256) {
        return batchRoots.length;
    }

    function everRevokedCount() external view returns (uint256) {
        return everRevoked.length;
    }

    function _actor(uint256 seed) internal view returns (address) {
        return actors[seed % actors.length];
    }

    /// @dev Three times in four the account an honest organisation would use, else any account (hostile).
    function _biased(uint256 seed, address preferred) internal view returns (address) {
        return seed % 4 != 0 && preferred != address(0) ? preferred : _actor(seed / 4);
    }

    /// @dev actors: 0 issuer A, 1 revoker A, 2 second issuer A, 3 issuer B, 4 revoker B, 5 supplier, 6 stranger.
    function _revokerOf(bytes16 organisation) internal view returns (address) {
        if (organisation == orgA) return actors[1];
        if (organisation == orgB) return actors[4];
        return address(0);
    }

    function _issuerOf(bytes16 organisation, uint256 seed) internal view returns (address) {
        if (organisation == orgA) return seed % 2 == 0 ? actors[0] : actors[2];
        if (organisation == orgB) return actors[3];
        return address(0);
    }

    function _organisationOf(address account) internal view returns (bytes16) {
        return organisationOf[account];
    }

    function _roles(address account) internal view returns (uint8) {
        return rolesOf[account];
    }

    function _mayAnchor(address account, IRecordAnchor.RecordKind kind) internal view returns (bool) {
        uint8 r = _roles(account);
        if (kind == IRecordAnchor.RecordKind.MaterialLot) return r & 1 != 0;
        if (kind == IRecordAnchor.RecordKind.ProductionStep) return r & 2 != 0;
        if (kind == IRecordAnchor.RecordKind.Certificate) return r & 4 != 0;
        if (kind == IRecordAnchor.RecordKind.Product) return r & 6 != 0;
        if (kind == IRecordAnchor.RecordKind.Other) return r & 7 != 0;
        return r & 16 != 0;
    }

    /// @dev Whether the batch is flagged or was anchored in or after its anchorer's compromise block.
    function _standsInModel(address anchorer, bytes32 root) internal view returns (bool) {
        if (flagged[anchorer][root]) return false;
        uint64 from = compromisedFrom[anchorer];
        return from == 0 || batchModel[anchorer][root].anchoredBlock < from;
    }

    /// @dev Anchors `root` of kind `kind` as `anchorer`, judged against the model; returns whether it was stored.
    function _anchor(address anchorer, bytes32 root, IRecordAnchor.RecordKind kind, uint24 count)
        internal
        returns (bool)
    {
        bool fresh = batchModel[anchorer][root].count == 0;
        bool allowed = _mayAnchor(anchorer, kind) && fresh;
        bytes4 expected = !_mayAnchor(anchorer, kind)
            ? IRecordAnchor.UnauthorisedAnchorer.selector
            : IRecordAnchor.RootAlreadyAnchored.selector;
        (bool ok, bytes memory ret) =
            _call(anchorer, address(ledger), abi.encodeCall(IRecordAnchor.anchor, (root, kind, count)));
        _judge(allowed, ok, ret, expected, "anchor");
        if (!ok || !allowed) return false;
        batchModel[anchorer][root] = BatchModel({
            kind: kind,
            count: count,
            organisation: _organisationOf(anchorer),
            anchoredAt: uint64(block.timestamp),
            anchoredBlock: uint64(block.number)
        });
        batchAnchorers.push(anchorer);
        batchRoots.push(root);
        return true;
    }

    /// An issuer (or anyone) anchors a certificate batch of documents drawn from the pool, its own or copies.
    function anchorCertificates(uint256 actorSeed, uint256 pick, uint256 size) external {
        if (_certs.length >= MAX_CERTS) return;
        address anchorer = _biased(actorSeed, _issuerOf(actorSeed % 3 == 0 ? orgB : orgA, actorSeed / 3));
        size = 1 + size % 4;
        bytes32[] memory records = new bytes32[](size);
        for (uint256 i = 0; i < size; ++i) {
            records[i] = docHashes[(pick % DOCS + i * 5) % DOCS];
        }
        MerkleTree.Tree memory tree = MerkleTree.build(records);
        bytes32 root = tree.root();
        // forge-lint: disable-next-line(unsafe-typecast)
        if (!_anchor(anchorer, root, IRecordAnchor.RecordKind.Certificate, uint24(size))) return;
        for (uint256 i = 0; i < size; ++i) {
            _certs.push(
                Cert({
                    hash: tree.records[i], anchorer: anchorer, root: root, proof: tree.proof(tree.records[i])
                })
            );
        }
    }

    /// Anchors the node `levels` above a known certificate (computable from any holder's proof) as a batch.
    function anchorInnerNode(uint256 actorSeed, uint256 certSeed, uint256 levels) external {
        if (_certs.length == 0 || _certs.length >= MAX_CERTS) return;
        Cert memory c = _certs[certSeed % _certs.length];
        if (c.proof.length == 0) return;
        levels = 1 + levels % c.proof.length;
        bytes32 node = MerkleTree.leaf(c.hash);
        for (uint256 i = 0; i < levels; ++i) {
            bytes32 s = c.proof[i];
            node = node < s ? keccak256(abi.encode(node, s)) : keccak256(abi.encode(s, node));
        }
        bytes32[] memory shortPath = new bytes32[](levels);
        for (uint256 i = 0; i < levels; ++i) {
            shortPath[i] = c.proof[i];
        }
        address anchorer =
            _biased(actorSeed, _issuerOf(batchModel[c.anchorer][c.root].organisation, actorSeed / 3));
        if (!_anchor(anchorer, node, IRecordAnchor.RecordKind.Certificate, 2)) return;
        _certs.push(Cert({hash: c.hash, anchorer: anchorer, root: node, proof: shortPath}));
    }

    /// Any account anchors any kind, in a small root space shared with the certificate roots (squatting).
    function anchorAny(uint256 actorSeed, uint256 kindSeed, uint256 rootSeed, uint24 count) external {
        address anchorer = _actor(actorSeed);
        IRecordAnchor.RecordKind kind = IRecordAnchor.RecordKind(kindSeed % 6);
        bytes32 root = _certs.length > 0 && rootSeed % 2 == 0
            ? _certs[rootSeed % _certs.length].root
            : keccak256(abi.encode("root", rootSeed % 16));
        if (count == 0) count = 1;
        _anchor(anchorer, root, kind, count);
    }

    function revokeCertificate(uint256 actorSeed, uint256 certSeed, uint16 reason) external {
        if (_certs.length == 0) return;
        Cert memory c = _certs[certSeed % _certs.length];
        bytes16 theirs = batchModel[c.anchorer][c.root].organisation;
        address actor = _biased(actorSeed, _revokerOf(theirs));
        bytes16 mine = _organisationOf(actor);
        bytes4 expected;
        if (reason == 0) expected = IRecordAnchor.ZeroReason.selector;
        else if (_roles(actor) & 8 == 0) expected = IAccessControl.AccessControlUnauthorizedAccount.selector;
        else if (mine != theirs) expected = IRecordAnchor.NotOwnOrganisation.selector;
        else if (revoked[theirs][c.hash]) expected = ICertificateStatus.CertificateAlreadyRevoked.selector;
        (bool ok, bytes memory ret) = _call(
            actor,
            address(ledger),
            abi.encodeCall(
                ICertificateStatus.revokeCertificate, (c.anchorer, c.root, c.hash, c.proof, reason)
            )
        );
        _judge(expected == 0, ok, ret, expected, "revokeCertificate");
        if (ok && expected == 0) {
            revoked[theirs][c.hash] = true;
            // A brand revoking its copy of another brand's document revokes nothing of the other's.
            if (theirs == docs[c.hash].organisation) everRevoked.push(c.hash);
        }
    }

    function revokeIssuance(uint256 actorSeed, uint256 issuanceSeed, uint16 reason) external {
        if (issuanceSeed % 3 != 0) return; // rarer than the others: it revokes a third of a brand's documents
        address actor = _biased(actorSeed, _revokerOf(actorSeed % 2 == 0 ? orgA : orgB));
        bytes32 issuance = keccak256(abi.encode("issuance", issuanceSeed % 3));
        bytes16 mine = _organisationOf(actor);
        bytes4 expected;
        if (reason == 0) {
            expected = IRecordAnchor.ZeroReason.selector;
        } else if (_roles(actor) & 8 == 0) {
            expected = IAccessControl.AccessControlUnauthorizedAccount.selector;
        } else if (issuanceRevoked[mine][issuance]) {
            expected = ICertificateStatus.IssuanceAlreadyRevoked.selector;
        }
        (bool ok, bytes memory ret) = _call(
            actor, address(ledger), abi.encodeCall(ICertificateStatus.revokeIssuance, (issuance, reason))
        );
        _judge(expected == 0, ok, ret, expected, "revokeIssuance");
        if (ok && expected == 0) {
            issuanceRevoked[mine][issuance] = true;
            for (uint256 i = 0; i < DOCS; ++i) {
                Doc memory d = docs[docHashes[i]];
                if (d.organisation == mine && d.issuance == issuance) everRevoked.push(docHashes[i]);
            }
        }
    }

    function supersede(uint256 actorSeed, uint256 oldSeed, uint256 newSeed, bool asAdmin) external {
        if (_certs.length == 0) return;
        Cert memory o = _certs[oldSeed % _certs.length];
        bytes16 org = batchModel[o.anchorer][o.root].organisation;
        // Mostly a successor of the same organisation.
        Cert memory n = _certs[newSeed % _certs.length];
        for (uint256 k = 0; k < _certs.length && newSeed % 4 != 0; ++k) {
            Cert memory candidate = _certs[(newSeed % _certs.length + k) % _certs.length];
            if (
                batchModel[candidate.anchorer][candidate.root].organisation == org && candidate.hash != o.hash
            ) {
                n = candidate;
                break;
            }
        }
        address actor =
            asAdmin && actorSeed % 4 == 0 ? admin : _biased(actorSeed, _issuerOf(org, actorSeed / 3));
        bool callerOk = actor == admin || (_roles(actor) & 12 != 0 && _organisationOf(actor) == org);
        bool allowed = o.hash != n.hash && callerOk && batchModel[n.anchorer][n.root].organisation == org
            && _standsInModel(n.anchorer, n.root) && !revoked[org][o.hash] && !superseded[org][o.hash]
            && !revoked[org][n.hash] && !superseded[org][n.hash];
        (bool ok, bytes memory ret) = _call(
            actor,
            address(ledger),
            abi.encodeCall(
                ICertificateStatus.supersedeCertificate,
                (
                    ICertificateStatus.CertificateRef(o.anchorer, o.root, o.hash, o.proof),
                    ICertificateStatus.CertificateRef(n.anchorer, n.root, n.hash, n.proof)
                )
            )
        );
        _judge(allowed, ok, ret, bytes4(0), "supersede");
        if (ok && allowed) superseded[org][o.hash] = true;
    }

    function flag(uint256 actorSeed, uint256 batchSeed, uint16 reason) external {
        if (batchRoots.length == 0 || reason % 2 == 1) return; // rarer: a flag is final
        uint256 i = batchSeed % batchRoots.length;
        (address anchorer, bytes32 root) = (batchAnchorers[i], batchRoots[i]);
        address actor = _biased(
            actorSeed, actorSeed % 2 == 0 ? anchorer : _revokerOf(batchModel[anchorer][root].organisation)
        );
        BatchModel memory b = batchModel[anchorer][root];
        bytes4 expected;
        if (reason == 0) {
            expected = IRecordAnchor.ZeroReason.selector;
        } else if (_organisationOf(actor) != b.organisation) {
            expected = IRecordAnchor.NotOwnOrganisation.selector;
        } else if (!_mayAnchor(actor, b.kind) && _roles(actor) & 8 == 0) {
            expected = IRecordAnchor.UnauthorisedFlagger.selector;
        } else if (flagged[anchorer][root]) {
            expected = IRecordAnchor.BatchAlreadyFlagged.selector;
        }
        (bool ok, bytes memory ret) =
            _call(actor, address(ledger), abi.encodeCall(IRecordAnchor.flagBatch, (anchorer, root, reason)));
        _judge(expected == 0, ok, ret, expected, "flagBatch");
        if (ok && expected == 0) flagged[anchorer][root] = true;
    }

    function markCompromised(uint256 actorSeed, uint256 back) external {
        if (back % 16 != 0) return; // rare: it takes every role of an account for good
        back /= 16;
        // Issuers, the supplier and the stranger (the revokers stay, so revocations keep happening).
        uint8[5] memory targets = [0, 2, 3, 5, 6];
        address account = actors[targets[actorSeed % 5]];
        uint64 fromBlock = uint64(block.number - back % 20);
        uint64 current = compromisedFrom[account];
        bool allowed = _organisationOf(account) != 0 && (current == 0 || fromBlock < current);
        (bool ok, bytes memory ret) = _call(
            admin, address(ledger), abi.encodeCall(IOrganisations.markCompromised, (account, fromBlock, 7))
        );
        _judge(allowed, ok, ret, bytes4(0), "markCompromised");
        if (ok && allowed) {
            compromisedFrom[account] = fromBlock;
            rolesOf[account] = 0;
        }
    }

    /// The admin grants or revokes ISSUER_ROLE or REVOKER_ROLE of an organisation's account.
    function toggleRole(uint256 actorSeed, bool issuerRole) external {
        address account = _actor(actorSeed);
        bytes32 role = issuerRole ? ledger.ISSUER_ROLE() : ledger.REVOKER_ROLE();
        uint8 bit = issuerRole ? 4 : 8;
        bool held = rolesOf[account] & bit != 0;
        if (held && actorSeed % 5 != 0) return; // take roles away rarely, give them back readily
        bytes memory data = held
            ? abi.encodeCall(IAccessControl.revokeRole, (role, account))
            : abi.encodeCall(IAccessControl.grantRole, (role, account));
        bool allowed = held || (_organisationOf(account) != 0 && compromisedFrom[account] == 0);
        (bool ok, bytes memory ret) = _call(admin, address(ledger), data);
        _judge(allowed, ok, ret, bytes4(0), "toggleRole");
        if (ok && allowed) rolesOf[account] = held ? rolesOf[account] & ~bit : rolesOf[account] | bit;
    }

    function mine(uint256 blocks, uint256 seconds_) external {
        vm.roll(block.number + 1 + blocks % 5);
        vm.warp(block.timestamp + 1 + seconds_ % 1 hours);
    }

    /// @dev The status the model expects for certificate `i`, read with its own document's organisation and
    /// issuance.
    function expectedStatus(uint256 i)
        external
        view
        returns (ICertificateStatus.CertificateState, IRecordAnchor.Cause)
    {
        Cert memory c = _certs[i];
        Doc memory d = docs[c.hash];
        BatchModel memory b = batchModel[c.anchorer][c.root];
        if (b.organisation != d.organisation) {
            return (ICertificateStatus.CertificateState.Unknown, IRecordAnchor.Cause.OtherOrganisation);
        }
        bytes16 org = d.organisation;
        if (revoked[org][c.hash]) {
            return (ICertificateStatus.CertificateState.Revoked, IRecordAnchor.Cause.CertificateRevoked);
        }
        if (issuanceRevoked[org][d.issuance]) {
            return (ICertificateStatus.CertificateState.Revoked, IRecordAnchor.Cause.IssuanceRevoked);
        }
        if (flagged[c.anchorer][c.root]) {
            return (ICertificateStatus.CertificateState.Revoked, IRecordAnchor.Cause.BatchFlagged);
        }
        uint64 from = compromisedFrom[c.anchorer];
        if (from != 0 && b.anchoredBlock >= from) {
            return (ICertificateStatus.CertificateState.Revoked, IRecordAnchor.Cause.AnchorerCompromised);
        }
        if (superseded[org][c.hash]) {
            return (ICertificateStatus.CertificateState.Superseded, IRecordAnchor.Cause.None);
        }
        return (ICertificateStatus.CertificateState.Valid, IRecordAnchor.Cause.None);
    }
}

contract ProvenanceLedger_Invariant_Test is LedgerFixture {
    LedgerHandler internal handler;

    function setUp() public override {
        super.setUp();
        address issuerA2 = makeActor(31, "second issuer of A");
        enrol(issuerA2, ORG_BRAND, ISSUER_ROLE);
        address[] memory actors = new address[](7);
        (actors[0], actors[1], actors[2], actors[3], actors[4], actors[5], actors[6]) =
        (issuer, revoker, issuerA2, issuerB, revokerB, supplier, stranger);
        bytes16[] memory organisations = new bytes16[](7);
        (organisations[0], organisations[1], organisations[2], organisations[3]) =
        (ORG_BRAND, ORG_BRAND, ORG_BRAND, ORG_BRAND_B);
        (organisations[4], organisations[5], organisations[6]) = (ORG_BRAND_B, ORG_SUPPLIER, bytes16(0));
        uint8[] memory roles = new uint8[](7);
        (roles[0], roles[1], roles[2], roles[3], roles[4], roles[5], roles[6]) = (4, 8, 4, 4, 8, 1, 0);
        handler = new LedgerHandler(ledger, admin, actors, organisations, roles, ORG_BRAND, ORG_BRAND_B);
        targetContract(address(handler));
    }

    /// Every certificate reads exactly as its own organisation's actions say: nothing another organisation anchors,
    /// revokes, supersedes or flags changes it (no cross-tenant effect), and evidence of another organisation reads
    /// Unknown.
    function invariant_CertificateStatusFollowsOnlyItsOrganisation() public view {
        uint256 n = handler.certCount();
        for (uint256 i = 0; i < n; ++i) {
            LedgerHandler.Cert memory c = handler.cert(i);
            (bytes16 org, bytes32 issuance) = handler.docs(c.hash);
            ICertificateStatus.CertificateStatus memory s =
                ledger.certificateStatus(org, issuance, c.hash, c.anchorer, c.root, c.proof);
            (ICertificateStatus.CertificateState state, IRecordAnchor.Cause cause) = handler.expectedStatus(i);
            vm.assertEq(uint256(s.state), uint256(state), "state");
            vm.assertEq(uint256(s.cause), uint256(cause), "cause");
        }
    }

    /// Once revoked, a certificate reads Revoked through every batch of its organisation that holds it, including
    /// batches anchored after the revocation (re-anchored alone, or as an inner node).
    function invariant_RevokedStaysRevoked() public view {
        uint256 revokedCount = handler.everRevokedCount();
        uint256 n = handler.certCount();
        for (uint256 r = 0; r < revokedCount; ++r) {
            bytes32 hash = handler.everRevoked(r);
            (bytes16 org, bytes32 issuance) = handler.docs(hash);
            for (uint256 i = 0; i < n; ++i) {
                LedgerHandler.Cert memory c = handler.cert(i);
                if (c.hash != hash) continue;
                ICertificateStatus.CertificateStatus memory s =
                    ledger.certificateStatus(org, issuance, c.hash, c.anchorer, c.root, c.proof);
                vm.assertTrue(
                    s.state != ICertificateStatus.CertificateState.Valid, "a revoked certificate reads Valid"
                );
                vm.assertTrue(
                    s.state != ICertificateStatus.CertificateState.Superseded,
                    "a revoked certificate reads Superseded"
                );
            }
        }
    }

    /// A batch never changes: what the model stored is what the ledger returns.
    function invariant_BatchesNeverChange() public view {
        uint256 n = handler.batchCount();
        for (uint256 i = 0; i < n; ++i) {
            address anchorer = handler.batchAnchorers(i);
            bytes32 root = handler.batchRoots(i);
            IRecordAnchor.Batch memory b = ledger.batchOf(anchorer, root);
            (IRecordAnchor.RecordKind kind, uint24 count, bytes16 org, uint64 at, uint64 number) =
                handler.batchModel(anchorer, root);
            vm.assertEq(uint256(b.kind), uint256(kind));
            vm.assertEq(b.count, count);
            vm.assertEq(b.organisation, org);
            vm.assertEq(b.anchoredAt, at);
            vm.assertEq(b.anchoredBlock, number);
        }
    }

    /// No call the model forbids went through (a cross-organisation write among them), and none it allows was
    /// refused; refusals carry the model's error.
    function invariant_ModelAgreesOnEveryCall() public view {
        vm.assertEq(handler.violations(), 0, handler.lastViolation());
        vm.assertEq(handler.wrongRefusals(), 0, handler.lastViolation());
        vm.assertEq(handler.wrongErrors(), 0, handler.lastViolation());
    }

    /// Progress: a run that made a dozen calls wrote something (a shrunk failing sequence may be shorter).
    function afterInvariant() public view {
        if (handler.calls() >= 12) {
            vm.assertGt(handler.successfulWrites(), 0, "no write succeeded in this run");
        }
    }
}

/**
 * @notice Drives the design registry: two legal teams (A with two registrar accounts), commitments anchored by any
 * account of a team for any of its registrars, honest and copied registrations, displacements, role changes,
 * assignments and licences. The model keeps, per design, the filing the priority rule says must stand.
 */
contract RegistryHandler is Handler {
    using MerkleTree for MerkleTree.Tree;

    struct Pending {
        address registrant;
        bytes32 fingerprint;
        IDesignRegistry.Commitment commitment;
        uint64 anchoredAt;
        uint64 anchoredBlock;
    }

    struct Filing {
        address registrant;
        uint64 filedAt;
        uint64 filedBlock;
        bytes32 ownerRef;
    }

    uint256 internal constant DESIGNS = 8;

    ProvenanceLedger public immutable ledger;
    DesignRegistry public immutable registry;
    address public immutable admin;
    address[] public registrars;

    Pending[] internal _pending;
    mapping(bytes32 fingerprint => Filing filing) public filings;
    mapping(bytes32 fingerprint => uint64[] blocks) internal _filedBlocks; // every filing block, in order
    mapping(bytes32 fingerprint => mapping(bytes32 doc => bool granted)) public licences;
    mapping(bytes32 fingerprint => mapping(bytes32 doc => bool terminated)) public terminated;
    mapping(address account => bytes16 organisation) public organisationOf;
    mapping(address account => bool registrar) public isRegistrar;

    struct Proposal {
        address to;
        bytes32 newOwner;
        bytes32 doc;
        address proposer;
    }

    mapping(bytes32 fingerprint => Proposal proposal) public proposals;
    bytes32[] public registered;
    uint256 public displacements;
    uint256 public priorityMovedLater;
    uint256 internal _nonce;

    constructor(
        ProvenanceLedger ledger_,
        DesignRegistry registry_,
        address admin_,
        address[] memory registrars_,
        bytes16[] memory organisations_
    ) {
        ledger = ledger_;
        registry = registry_;
        admin = admin_;
        registrars = registrars_;
        for (uint256 i = 0; i < registrars_.length; ++i) {
            organisationOf[registrars_[i]] = organisations_[i];
            isRegistrar[registrars_[i]] = true;
        }
    }

    function fingerprint(uint256 i) public pure returns (bytes32) {
        return keccak256(abi.encode("design", i % DESIGNS));
    }

    /// @dev Three times in four a registered design, else any.
    function _design(uint256 seed) internal view returns (bytes32) {
        return seed % 4 != 0 && registered.length > 0
            ? registered[(seed / 4) % registered.length]
            : fingerprint(seed);
    }

    function filedBlocks(bytes32 fp) external view returns (uint64[] memory) {
        return _filedBlocks[fp];
    }

    function _isRegistrar(address account) internal view returns (bool) {
        return isRegistrar[account];
    }

    /// A registrar account anchors a commitment batch (three others beside it) for a registrar of its team.
    function commit(uint256 anchorerSeed, uint256 registrantSeed, uint256 fpSeed) external {
        if (_pending.length >= 48) return;
        address anchorer = registrars[anchorerSeed % registrars.length];
        // Mostly for a registrar of the anchorer's own team.
        address registrant = registrantSeed % 4 != 0 && anchorer != registrars[2]
            ? registrars[registrantSeed % 2]
            : registrars[registrantSeed % registrars.length];
        if (!_commit(anchorer, registrant, fingerprint(fpSeed))) return;
        // Mostly mined before anything else happens; sometimes the reveal is tried in the same block.
        if (fpSeed % 4 != 0) {
            vm.roll(block.number + 1);
            vm.warp(block.timestamp + 12);
        }
    }

    function _commit(address anchorer, address registrant, bytes32 fp) internal returns (bool) {
        bytes32 salt = keccak256(abi.encode("salt", ++_nonce));
        bytes32[] memory records = MerkleTree.records(_nonce, 4);
        records[0] = registry.commitmentHash(fp, registrant, salt);
        MerkleTree.Tree memory tree = MerkleTree.build(records);
        bytes32 root = tree.root();
        bool allowed = _isRegistrar(anchorer);
        (bool ok, bytes memory ret) = _call(
            anchorer,
            address(ledger),
            abi.encodeCall(IRecordAnchor.anchor, (root, IRecordAnchor.RecordKind.DesignCommitment, 4))
        );
        _judge(allowed, ok, ret, IRecordAnchor.UnauthorisedAnchorer.selector, "commit");
        if (!ok || !allowed) return false;
        Pending storage p = _pending.push();
        p.registrant = registrant;
        p.fingerprint = fp;
        p.commitment = IDesignRegistry.Commitment(anchorer, root, salt, tree.proof(records[0]));
        p.anchoredAt = uint64(block.timestamp);
        p.anchoredBlock = uint64(block.number);
        return true;
    }

    /// The committed registrant reveals; or, copying, another registrar reveals the same commitment.
    /// A rival sees a pending registration of a fingerprint, commits to it itself, and gets its registration
    /// mined first; then the original registration (with the earlier commitment) arrives.
    function frontRun(uint256 pendingSeed, uint256 rivalSeed) external {
        if (_pending.length == 0 || _pending.length >= 48) return;
        Pending memory original = _pending[pendingSeed % _pending.length];
        if (filings[original.fingerprint].registrant != address(0)) return;
        address rival = registrars[rivalSeed % registrars.length];
        if (rival == original.registrant) return;
        uint256 originalIndex = pendingSeed % _pending.length;
        if (!_commit(rival, rival, original.fingerprint)) return;
        vm.roll(block.number + 1);
        vm.warp(block.timestamp + 12);
        _reveal(_pending.length - 1, rival);
        _reveal(originalIndex, original.registrant);
    }

    function register(uint256 pendingSeed, bool copy, uint256 copierSeed) external {
        if (_pending.length == 0) return;
        // Half the time one of the latest commitments, so later commitments are often revealed first.
        uint256 latest = _pending.length < 3 ? _pending.length : 3;
        uint256 index = pendingSeed % 2 == 0
            ? _pending.length - 1 - (pendingSeed / 2) % latest
            : (pendingSeed / 2) % _pending.length;
        address caller = copy && copierSeed % 4 == 0
            ? registrars[copierSeed % registrars.length]
            : _pending[index].registrant;
        _reveal(index, caller);
    }

    function _reveal(uint256 index, address caller) internal {
        Pending memory p = _pending[index];
        Filing memory current = filings[p.fingerprint];
        bool sameOrg = organisationOf[caller] == organisationOf[p.commitment.anchorer];
        bool allowed = _isRegistrar(caller) && sameOrg && caller == p.registrant
            && p.anchoredBlock < block.number && block.timestamp <= p.anchoredAt + registry.REVEAL_WINDOW()
            && (current.registrant == address(0) || p.anchoredBlock < current.filedBlock);
        bytes32 ownerRef = keccak256(abi.encode("owner", caller));
        (bool ok, bytes memory ret) = _call(
            caller,
            address(registry),
            abi.encodeCall(
                IDesignRegistry.register, (p.fingerprint, 0, keccak256("meta"), ownerRef, 0, p.commitment)
            )
        );
        _judge(allowed, ok, ret, bytes4(0), "register");
        if (!ok || !allowed) return;
        if (current.registrant != address(0)) {
            ++displacements;
            if (p.anchoredBlock >= current.filedBlock) ++priorityMovedLater;
        }
        if (current.registrant == address(0)) registered.push(p.fingerprint);
        filings[p.fingerprint] = Filing(caller, p.anchoredAt, p.anchoredBlock, ownerRef);
        _filedBlocks[p.fingerprint].push(p.anchoredBlock);
    }

    /// The current registrant (or the admin, or someone else) proposes an assignment, replacing any pending one.
    function propose(uint256 fpSeed, uint256 proposerSeed, uint256 toSeed, bool byAdmin) external {
        bytes32 fp = _design(fpSeed);
        Filing memory f = filings[fp];
        address proposer = byAdmin && proposerSeed % 2 == 0
            ? admin
            : proposerSeed % 4 != 0 && f.registrant != address(0)
                ? f.registrant
                : registrars[proposerSeed % registrars.length];
        address to = registrars[toSeed % registrars.length];
        bytes32 doc = keccak256(abi.encode("assignment", ++_nonce));
        bytes32 newOwner = keccak256(abi.encode("owner", to, _nonce));
        bool isFinal =
            f.registrant != address(0) && block.timestamp >= f.filedAt + registry.REVEAL_WINDOW() + 1;
        bool allowed = isFinal && _mayPropose(proposer, f.registrant);
        (bool ok, bytes memory ret) = _call(
            proposer,
            address(registry),
            abi.encodeCall(IDesignRegistry.proposeAssignment, (fp, to, newOwner, doc))
        );
        _judge(allowed, ok, ret, bytes4(0), "proposeAssignment");
        if (ok && allowed) proposals[fp] = Proposal(to, newOwner, doc, proposer);
    }

    /// The proposed registrant accepts (or declines) the pending assignment, whatever happened since.
    function accept(uint256 fpSeed, bool decline) external {
        bytes32 fp = _design(fpSeed);
        Proposal memory p = proposals[fp];
        if (p.to == address(0)) return;
        bytes memory data = decline
            ? abi.encodeCall(IDesignRegistry.cancelAssignment, (fp))
            : abi.encodeCall(IDesignRegistry.acceptAssignment, (fp, p.doc));
        bool allowed = decline || (_isRegistrar(p.to) && _mayPropose(p.proposer, filings[fp].registrant));
        (bool ok, bytes memory ret) = _call(p.to, address(registry), data);
        _judge(allowed, ok, ret, bytes4(0), decline ? "cancelAssignment" : "acceptAssignment");
        if (!ok || !allowed) return;
        delete proposals[fp];
        if (!decline) {
            filings[fp].registrant = p.to;
            filings[fp].ownerRef = p.newOwner;
        }
    }

    function _mayPropose(address proposer, address registrant) internal view returns (bool) {
        if (registrant == address(0)) return false;
        bool active = _isRegistrar(registrant);
        return (proposer == registrant && active) || (proposer == admin && !active);
    }

    function licence(uint256 fpSeed, uint256 callerSeed, uint256 docSeed, bool terminate) external {
        bytes32 fp = _design(fpSeed);
        Filing memory f = filings[fp];
        address caller = callerSeed % 4 != 0 && f.registrant != address(0)
            ? f.registrant
            : registrars[callerSeed % registrars.length];
        bytes32 doc = keccak256(abi.encode("licence", docSeed % 4));
        bool active = f.registrant != address(0) && caller == f.registrant && _isRegistrar(caller);
        if (terminate) {
            bool allowed = active && licences[fp][doc] && !terminated[fp][doc];
            (bool ok, bytes memory ret) = _call(
                caller, address(registry), abi.encodeCall(IDesignRegistry.terminateLicence, (fp, doc, 3))
            );
            _judge(allowed, ok, ret, bytes4(0), "terminateLicence");
            if (ok && allowed) terminated[fp][doc] = true;
            return;
        }
        bool isFinal =
            f.registrant != address(0) && block.timestamp >= f.filedAt + registry.REVEAL_WINDOW() + 1;
        bool allowed_ = active && isFinal && !licences[fp][doc];
        (bool ok_, bytes memory ret_) = _call(
            caller,
            address(registry),
            abi.encodeCall(IDesignRegistry.grantLicence, (fp, keccak256("licensee"), doc, 0, 0))
        );
        _judge(allowed_, ok_, ret_, bytes4(0), "grantLicence");
        if (ok_ && allowed_) licences[fp][doc] = true;
    }

    /// The admin takes REGISTRAR_ROLE from a registrar, or gives it back.
    function toggleRegistrar(uint256 seed) external {
        address account = registrars[seed % registrars.length];
        if (_isRegistrar(account) && (seed / 3) % 4 != 0) return; // take the role rarely, give it back readily
        bytes32 role = ledger.REGISTRAR_ROLE();
        bytes memory data = _isRegistrar(account)
            ? abi.encodeCall(IAccessControl.revokeRole, (role, account))
            : abi.encodeCall(IAccessControl.grantRole, (role, account));
        (bool ok, bytes memory ret) = _call(admin, address(ledger), data);
        _judge(true, ok, ret, bytes4(0), "toggleRegistrar");
        if (ok) isRegistrar[account] = !isRegistrar[account];
    }

    /// Mostly minutes, one step in four a whole reveal window, so filings become final within a run.
    function mine(uint256 blocks, uint256 seconds_) external {
        vm.roll(block.number + 1 + blocks % 3);
        vm.warp(block.timestamp + (seconds_ % 4 == 0 ? 1 days : 1 + seconds_ % 30 minutes));
    }
}

contract DesignRegistry_Invariant_Test is LedgerFixture {
    RegistryHandler internal handler;

    function setUp() public override {
        super.setUp();
        address registrarA2 = makeActor(41, "second registrar of A");
        enrol(registrarA2, ORG_LEGAL, REGISTRAR_ROLE);
        address[] memory registrars = new address[](3);
        (registrars[0], registrars[1], registrars[2]) = (registrar, registrarA2, registrarB);
        bytes16[] memory organisations = new bytes16[](3);
        (organisations[0], organisations[1], organisations[2]) = (ORG_LEGAL, ORG_LEGAL, ORG_LEGAL_B);
        handler = new RegistryHandler(ledger, registry, admin, registrars, organisations);
        targetContract(address(handler));
    }

    /// The filing that stands is the one the priority rule names; assignments change the registrant and owner only.
    function invariant_FilingsFollowThePriorityRule() public view {
        for (uint256 i = 0; i < 8; ++i) {
            bytes32 fp = handler.fingerprint(i);
            IDesignRegistry.Design memory d = registry.designOf(fp);
            (address registrant, uint64 filedAt, uint64 filedBlock, bytes32 ownerRef) = handler.filings(fp);
            vm.assertEq(d.registrant, registrant);
            vm.assertEq(d.filedAt, filedAt);
            vm.assertEq(d.filedBlock, filedBlock);
            vm.assertEq(d.ownerRef, ownerRef);
        }
    }

    /// Priority never moves to a later commitment: a design's successive filing blocks strictly decrease.
    function invariant_PriorityNeverMovesLater() public view {
        vm.assertEq(handler.priorityMovedLater(), 0);
        for (uint256 i = 0; i < 8; ++i) {
            uint64[] memory blocks = handler.filedBlocks(handler.fingerprint(i));
            for (uint256 k = 1; k < blocks.length; ++k) {
                vm.assertLt(blocks[k], blocks[k - 1], "moved later");
            }
        }
    }

    function invariant_ModelAgreesOnEveryCall() public view {
        vm.assertEq(handler.violations(), 0, handler.lastViolation());
        vm.assertEq(handler.wrongRefusals(), 0, handler.lastViolation());
        vm.assertEq(handler.wrongErrors(), 0, handler.lastViolation());
    }

    /// Progress: a run that made a dozen calls wrote something (a shrunk failing sequence may be shorter).
    function afterInvariant() public view {
        if (handler.calls() >= 12) {
            vm.assertGt(handler.successfulWrites(), 0, "no write succeeded in this run");
        }
    }
}
