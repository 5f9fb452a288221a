// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.24;

import {DesignRegistry} from "../../contracts/DesignRegistry.sol";
import {ProvenanceLedger} from "../../contracts/ProvenanceLedger.sol";
import {ICertificateStatus} from "../../contracts/interfaces/ICertificateStatus.sol";
import {IRecordAnchor} from "../../contracts/interfaces/IRecordAnchor.sol";
import {LedgerFixture} from "./utils/Fixtures.sol";
import {MerkleTree} from "./utils/MerkleTree.sol";
import {Vm} from "./utils/Vm.sol";

/// @notice Drives the ledger with random actors (role holders and strangers) and keeps ghost state.
contract LedgerHandler {
    using MerkleTree for MerkleTree.Tree;

    Vm internal constant vm = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));

    struct Cert {
        bytes32 root;
        bytes32 hash;
        bytes32[] proof;
    }

    ProvenanceLedger public immutable ledger;
    address public immutable admin;
    address[] public actors;
    bytes32[] public roles;

    bytes32[] public anchoredRoots;
    mapping(bytes32 root => IRecordAnchor.Batch batch) public expectedBatch;
    Cert[] internal _certs;
    uint256[] public revokedCerts; // indices into _certs
    mapping(bytes32 certificateHash => ICertificateStatus.Revocation) public expectedRevocation;
    bytes32[] public revokedBatches;

    uint256 public violations; // successful writes by an account without the required role
    uint256 public successfulWrites;

    constructor(ProvenanceLedger ledger_, address admin_, address[] memory actors_) {
        ledger = ledger_;
        admin = admin_;
        actors = actors_;
        roles.push(ledger_.SUPPLIER_ROLE());
        roles.push(ledger_.FACTORY_ROLE());
        roles.push(ledger_.ISSUER_ROLE());
        roles.push(ledger_.REVOKER_ROLE());
    }

    function certCount() external view returns (uint256) {
        return _certs.length;
    }

    function cert(uint256 i) external view returns (Cert memory) {
        return _certs[i];
    }

    function anchoredCount() external view returns (uint256) {
        return anchoredRoots.length;
    }

    function revokedCount() external view returns (uint256) {
        return revokedCerts.length;
    }

    function revokedBatchCount() external view returns (uint256) {
        return revokedBatches.length;
    }

    function _mayAnchor(address account, IRecordAnchor.RecordKind kind) internal view returns (bool) {
        bool s = ledger.hasRole(roles[0], account);
        bool f = ledger.hasRole(roles[1], account);
        bool i = ledger.hasRole(roles[2], account);
        if (kind == IRecordAnchor.RecordKind.MaterialLot) return s;
        if (kind == IRecordAnchor.RecordKind.ProductionStep) return f;
        if (kind == IRecordAnchor.RecordKind.Certificate) return i;
        if (kind == IRecordAnchor.RecordKind.Product) return f || i;
        return s || f || i;
    }

    function anchor(uint256 actorSeed, uint256 rootSeed, uint256 kindSeed, uint24 count) external {
        address actor = actors[actorSeed % actors.length];
        IRecordAnchor.RecordKind kind = IRecordAnchor.RecordKind(kindSeed % 5);
        // A small root space so that duplicates happen; certificate batches are real 4-record trees.
        MerkleTree.Tree memory tree = MerkleTree.build(MerkleTree.records(rootSeed % 48, 4));
        bytes32 root = tree.root();
        bool allowed = _mayAnchor(actor, kind);
        bool fresh = expectedBatch[root].anchorer == address(0);
        vm.prank(actor);
        try ledger.anchor(root, kind, count) {
            ++successfulWrites;
            if (!allowed || !fresh || count == 0) ++violations;
            expectedBatch[root] = IRecordAnchor.Batch(actor, kind, count, uint64(block.timestamp));
            anchoredRoots.push(root);
            if (kind == IRecordAnchor.RecordKind.Certificate) {
                for (uint256 k = 0; k < 4; ++k) {
                    _certs.push(Cert(root, tree.records[k], tree.proof(tree.records[k])));
                }
            }
        } catch {}
    }

    function revokeCertificate(uint256 actorSeed, uint256 certSeed, uint16 reason) external {
        if (_certs.length == 0) return;
        address actor = actors[actorSeed % actors.length];
        uint256 index = certSeed % _certs.length;
        Cert memory c = _certs[index];
        bool allowed = ledger.hasRole(roles[3], actor);
        vm.prank(actor);
        try ledger.revokeCertificate(c.root, c.hash, c.proof, reason) {
            ++successfulWrites;
            if (!allowed || reason == 0 || expectedRevocation[c.hash].revokedAt != 0) ++violations;
            expectedRevocation[c.hash] = ICertificateStatus.Revocation(actor, uint64(block.timestamp), reason);
            revokedCerts.push(index);
        } catch {}
    }

    function revokeBatch(uint256 actorSeed, uint256 certSeed, uint16 reason) external {
        if (_certs.length == 0) return;
        address actor = actors[actorSeed % actors.length];
        bytes32 root = _certs[certSeed % _certs.length].root;
        bool allowed = ledger.hasRole(roles[3], actor);
        vm.prank(actor);
        try ledger.revokeBatch(root, reason) {
            ++successfulWrites;
            if (!allowed || reason == 0) ++violations;
            revokedBatches.push(root);
        } catch {}
    }

    function supersede(uint256 actorSeed, uint256 oldSeed, uint256 newSeed) external {
        if (_certs.length == 0) return;
        address actor = actors[actorSeed % actors.length];
        Cert memory o = _certs[oldSeed % _certs.length];
        Cert memory n = _certs[newSeed % _certs.length];
        bool allowed = ledger.hasRole(roles[2], actor);
        vm.prank(actor);
        try ledger.supersedeCertificate(o.root, o.hash, o.proof, n.root, n.hash, n.proof) {
            ++successfulWrites;
            if (!allowed || expectedRevocation[o.hash].revokedAt != 0) ++violations;
        } catch {}
    }

    function toggleRole(uint256 roleSeed, uint256 actorSeed) external {
        bytes32 role = roles[roleSeed % roles.length];
        address actor = actors[actorSeed % actors.length];
        vm.startPrank(admin);
        if (ledger.hasRole(role, actor)) ledger.revokeRole(role, actor);
        else ledger.grantRole(role, actor);
        vm.stopPrank();
    }

    function warp(uint256 seconds_) external {
        vm.warp(block.timestamp + (seconds_ % 1 days));
    }
}

contract ProvenanceLedger_Invariant_Test is LedgerFixture {
    LedgerHandler internal handler;

    function setUp() public override {
        super.setUp();
        address[] memory actors = new address[](5);
        (actors[0], actors[1], actors[2], actors[3], actors[4]) = (supplier, factory, issuer, revoker, stranger);
        handler = new LedgerHandler(ledger, admin, actors);
        targetContract(address(handler));
    }

    /// An anchored root never changes or disappears.
    function invariant_AnchoredRootsNeverChange() public view {
        uint256 n = handler.anchoredCount();
        for (uint256 i = 0; i < n; ++i) {
            bytes32 root = handler.anchoredRoots(i);
            IRecordAnchor.Batch memory actual = ledger.batchOf(root);
            (address anchorer, IRecordAnchor.RecordKind kind, uint24 count, uint64 anchoredAt) =
                handler.expectedBatch(root);
            vm.assertEq(actual.anchorer, anchorer);
            vm.assertEq(uint256(actual.kind), uint256(kind));
            vm.assertEq(actual.count, count);
            vm.assertEq(actual.anchoredAt, anchoredAt);
        }
    }

    /// A revoked certificate (or a certificate of a revoked batch) never becomes valid again.
    function invariant_RevokedCertificatesStayRevoked() public view {
        uint256 n = handler.revokedCount();
        for (uint256 i = 0; i < n; ++i) {
            LedgerHandler.Cert memory c = handler.cert(handler.revokedCerts(i));
            ICertificateStatus.CertificateStatus memory s = ledger.certificateStatus(c.root, c.hash, c.proof);
            vm.assertEq(uint256(s.status), uint256(ICertificateStatus.CertificateState.Revoked));
            (address by, uint64 at, uint16 reason) = handler.expectedRevocation(c.hash);
            ICertificateStatus.Revocation memory r = ledger.statusOf(c.hash).revocation;
            vm.assertEq(r.revokedBy, by);
            vm.assertEq(r.revokedAt, at);
            vm.assertEq(r.reason, reason);
        }
        uint256 certs = handler.certCount();
        uint256 batches = handler.revokedBatchCount();
        for (uint256 b = 0; b < batches; ++b) {
            bytes32 root = handler.revokedBatches(b);
            for (uint256 i = 0; i < certs; ++i) {
                LedgerHandler.Cert memory c = handler.cert(i);
                if (c.root != root) continue;
                ICertificateStatus.CertificateStatus memory s = ledger.certificateStatus(c.root, c.hash, c.proof);
                vm.assertEq(uint256(s.status), uint256(ICertificateStatus.CertificateState.Revoked));
            }
        }
    }

    /// No write succeeds without its role (nor with invalid arguments).
    function invariant_NoWriteWithoutRole() public view {
        vm.assertEq(handler.violations(), 0);
    }
}

/// @notice Drives the design registry with random actors, role changes and admin actions.
contract RegistryHandler {
    Vm internal constant vm = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));

    ProvenanceLedger public immutable ledger;
    DesignRegistry public immutable registry;
    address public immutable admin;
    address[] public actors;

    bytes32[] public fingerprints;
    mapping(bytes32 fingerprint => address registrant) public expectedRegistrant;
    uint256 public violations;

    constructor(ProvenanceLedger ledger_, DesignRegistry registry_, address admin_, address[] memory actors_) {
        ledger = ledger_;
        registry = registry_;
        admin = admin_;
        actors = actors_;
    }

    function fingerprintCount() external view returns (uint256) {
        return fingerprints.length;
    }

    function _fingerprint(uint256 seed) internal pure returns (bytes32) {
        return keccak256(abi.encode("design", seed % 24));
    }

    function register(uint256 actorSeed, uint256 fpSeed, uint256 parentSeed, uint64 code) external {
        address actor = actors[actorSeed % actors.length];
        bytes32 fp = _fingerprint(fpSeed);
        bytes32 parent = parentSeed % 3 == 0 ? bytes32(0) : _fingerprint(parentSeed / 3);
        bool allowed = ledger.hasRole(registry.REGISTRAR_ROLE(), actor);
        bool fresh = expectedRegistrant[fp] == address(0);
        vm.prank(actor);
        try registry.register(fp, code, keccak256("meta"), keccak256("owner"), parent) {
            if (!allowed || !fresh) ++violations;
            if (parent != 0 && (parent == fp || expectedRegistrant[parent] == address(0))) ++violations;
            expectedRegistrant[fp] = actor;
            fingerprints.push(fp);
        } catch {}
    }

    function assign(uint256 actorSeed, uint256 fpSeed, uint256 toSeed) external {
        address actor = actors[actorSeed % actors.length];
        bytes32 fp = _fingerprint(fpSeed);
        address to = actors[toSeed % actors.length];
        bool allowed = actor == expectedRegistrant[fp] || ledger.hasRole(ledger.DEFAULT_ADMIN_ROLE(), actor);
        vm.prank(actor);
        try registry.assign(fp, to, keccak256(abi.encode(to)), keccak256(abi.encode("doc", toSeed))) {
            if (!allowed || expectedRegistrant[fp] == address(0)) ++violations;
            expectedRegistrant[fp] = to;
        } catch {}
    }

    function grantLicence(uint256 actorSeed, uint256 fpSeed, uint256 docSeed) external {
        address actor = actors[actorSeed % actors.length];
        bytes32 fp = _fingerprint(fpSeed);
        bool allowed = actor == expectedRegistrant[fp] || ledger.hasRole(ledger.DEFAULT_ADMIN_ROLE(), actor);
        vm.prank(actor);
        try registry.grantLicence(fp, keccak256("licensee"), keccak256(abi.encode(docSeed % 8)), 0, 0) {
            if (!allowed) ++violations;
        } catch {}
    }

    /// The admin grants or revokes REGISTRAR_ROLE, or (for the last actor) DEFAULT_ADMIN_ROLE.
    function toggleRole(uint256 actorSeed, bool adminRole) external {
        address actor = actors[actorSeed % actors.length];
        bytes32 role = adminRole ? ledger.DEFAULT_ADMIN_ROLE() : registry.REGISTRAR_ROLE();
        if (actor == admin) return;
        vm.startPrank(admin);
        if (ledger.hasRole(role, actor)) ledger.revokeRole(role, actor);
        else ledger.grantRole(role, actor);
        vm.stopPrank();
    }
}

contract DesignRegistry_Invariant_Test is LedgerFixture {
    RegistryHandler internal handler;

    function setUp() public override {
        super.setUp();
        address[] memory actors = new address[](5);
        (actors[0], actors[1], actors[2], actors[3], actors[4]) = (registrar, admin, issuer, stranger, supplier);
        handler = new RegistryHandler(ledger, registry, admin, actors);
        targetContract(address(handler));
    }

    /// A design's registrant changes only through an assignment by its current registrant or the admin.
    function invariant_RegistrantChangesOnlyThroughAuthorisedAssignment() public view {
        uint256 n = handler.fingerprintCount();
        for (uint256 i = 0; i < n; ++i) {
            bytes32 fp = handler.fingerprints(i);
            vm.assertEq(registry.designOf(fp).registrant, handler.expectedRegistrant(fp));
        }
    }

    /// No write succeeds without its role.
    function invariant_NoWriteWithoutRole() public view {
        vm.assertEq(handler.violations(), 0);
    }
}
