"""Production steps: the per-product hash chain of what the factory did, with its order rules.

Flow of a write (one step, a correction or a batch): check the role (factory), load and lock every
product the rows name in one query (only products assigned to the caller's factory; others are
404), check each row against its product's state as left by the rows before it (order rules,
optional `previous_step_hash`, attachments uploaded by the caller), then write. Writing goes in
waves: wave k holds the k-th new step of each product, so each wave is one bulk `add_records`
call whose documents name, in `previousStep`, the record hash of the step before them (from the
product row or the wave before). Then the projection rows, the products' new chain heads and
states, and one audit entry.

Rules:
- each step document names `previousStep` (null for the first) and its `sequence` (1, 2, ...);
  corrections are links of the same chain (with `corrects` in the envelope);
- no shipping unless the latest qc_inspection since the last repair passed;
- once the product is certified (`certified_at`), only repair steps are accepted, and a repair
  clears the certification (it calls for a new certificate); corrections are refused meanwhile;
- a correction keeps the step's kind; the product's QC state is recomputed from the corrected
  timeline.

`verify_chain` recomputes every link's keccak-256 from the stored canonical text and checks the
links, the sequence and the product's chain head, naming the first broken step.

Raises:
    PermissionDeniedError: a role other than factory writing steps.
    NotFoundError: unknown product or step, or one not assigned to the caller's factory.
    StepOrderError: an order rule is broken. PreviousStepMismatchError: stale previous_step_hash.
    InvalidInputError: attachment not uploaded by the caller; a correction changing the kind.
    BatchRejectedError: an all-or-nothing batch with bad rows.
"""

from __future__ import annotations

import json
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.orm import Session

from hallmark.core.errors import (
    NotFoundError,
    PreviousStepMismatchError,
    StepOrderError,
    for_field,
    invalid_field,
)
from hallmark.core.hashing import keccak256
from hallmark.services.access import audit, authorisation
from hallmark.services.access.keys import Actor
from hallmark.services.records import kinds, views, visibility
from hallmark.services.records.lots import uploaded_by
from hallmark.services.records.schemas import (
    Anchoring,
    BrokenLink,
    ChainReport,
    RecordRef,
    StepCorrection,
    StepCreate,
    StepFields,
    StepPublic,
    StepsPublic,
)
from hallmark.store.bulk import bulk_insert
from hallmark.store.models import AttachmentLink, Base, Product, ProductionStep, Record
from hallmark.store.records import (
    NewRecord,
    PreparedRecords,
    StoredRecord,
    check_record_size,
    insert_records,
    prepare_records,
)

STEP_SCHEMA = "hallmark/production-step@1"
#: Bytes `"previousStep"` (a record hash, set when the step is written) takes in its text.
_PREVIOUS_STEP = 96
#: Core tables for the bulk writes (no ORM unit-of-work for thousands of rows).
_STEP_TABLE: Table = Base.metadata.tables["production_steps"]
_PRODUCT_TABLE: Table = Base.metadata.tables["products"]

_STEPS = TypeAdapter(list[StepCreate])
_STEP = TypeAdapter(StepCreate)


@dataclass
class _State:
    """A product's chain and order state, as left by the rows planned so far."""

    product: Product
    # Plain copies of the row (prepared steps must not need the session that loaded it):
    product_id: str
    serial: str
    head: str | None  # last_step_hash before this batch
    certified_at: datetime | None
    count: int
    qc_state: str | None
    certified: bool
    touched: bool = False


@dataclass
class PlannedStep:
    state: _State
    sequence: int
    item: StepFields
    data: dict[str, Any]
    root_id: str | None = None
    corrects_id: str | None = None


@dataclass
class _Context:
    actor: Actor
    products: dict[str, _State]
    uploaded: set[str]


def _context(
    session: Session, actor: Actor, items: Sequence[StepCreate | None], *, lock: bool = True
) -> _Context:
    serials = sorted({i.product_serial for i in items if i is not None})
    states: dict[str, _State] = {}
    for chunk in views.chunks(serials):
        query = (
            select(Product)
            .where(Product.serial.in_(chunk), Product.factory_id == actor.organisation_id)
            .order_by(Product.id)
        )
        for product in session.scalars(query.with_for_update() if lock else query):
            states[product.serial] = _state(product)
    shas = {sha for i in items if i is not None for sha in i.attachments}
    return _Context(
        actor=actor, products=states, uploaded=uploaded_by(session, actor.organisation_id, shas)
    )


def _state(product: Product) -> _State:
    return _State(
        product=product,
        product_id=product.id,
        serial=product.serial,
        head=product.last_step_hash,
        certified_at=product.certified_at,
        count=product.step_count,
        qc_state=product.qc_state,
        certified=product.certified_at is not None,
    )


def _check(ctx: _Context, state: _State, item: StepFields, *, correction: bool = False) -> None:
    product = state.product
    if item.previous_step_hash is not None:
        head = None if state.touched else state.head
        if state.touched or item.previous_step_hash != head:
            raise for_field(
                "previous_step_hash",
                PreviousStepMismatchError(
                    product=product.serial,
                    expected=head if not state.touched else "a step of this same batch",
                    given=item.previous_step_hash,
                ),
            )
    if state.certified and (correction or item.kind != "repair"):
        raise for_field(
            "kind",
            StepOrderError(
                f"product {product.serial} is certified: only repair steps are accepted "
                "(a repair calls for a new certificate)",
                product=product.serial,
                kind=item.kind,
            ),
        )
    if item.kind == "shipping" and state.qc_state != "pass" and not correction:
        raise for_field(
            "kind",
            StepOrderError(
                f"product {product.serial} cannot ship before a passing qc_inspection "
                "(after its last repair)",
                product=product.serial,
                kind=item.kind,
            ),
        )
    for index, sha in enumerate(item.attachments):
        if sha not in ctx.uploaded:
            raise invalid_field(
                f"attachments.{index}",
                f"attachment {sha} was not uploaded by your organisation "
                "(POST /api/v1/attachments first)",
            )


def _apply(state: _State, item: StepFields) -> int:
    state.count += 1
    state.touched = True
    if item.kind == "qc_inspection":
        state.qc_state = item.result
    elif item.kind == "repair":
        state.qc_state = None
        state.certified = False
    return state.count


def _plan_step(ctx: _Context, item: StepCreate) -> PlannedStep:
    state = ctx.products.get(item.product_serial)
    if state is None:
        raise for_field("product_serial", NotFoundError("product", item.product_serial))
    _check(ctx, state, item)
    data = step_document(state.product, state.count + 1, item)
    check_record_size("production_step", data, reserve=_PREVIOUS_STEP)
    sequence = _apply(state, item)
    return PlannedStep(state=state, sequence=sequence, item=item, data=data)


def step_document(product: Product, sequence: int, item: StepFields) -> dict[str, Any]:
    """The step's record data (without `previousStep`, set when its wave is written).

    Built by hand rather than with model_dump: this runs 10,000 times per batch.
    """
    data: dict[str, Any] = {
        "schema": STEP_SCHEMA,
        "product": product.id,
        "serial": product.serial,
        "sequence": sequence,
        "kind": item.kind,
        "occurred_at": item.occurred_at.isoformat(),
        "parameters": item.parameters,
        "measurements": item.measurements,
        "attachments": item.attachments,
    }
    if item.result is not None:
        data["result"] = item.result
    if item.responsible is not None:
        data["responsible"] = item.responsible
    return data


@dataclass
class PreparedSteps:
    """Steps made (documents, hashes, rows) but not stored yet: `_store_steps` stores them."""

    records: list[PreparedRecords]
    stored: list[StoredRecord]
    step_rows: list[dict[str, Any]]
    link_rows: list[dict[str, Any]]
    product_rows: list[dict[str, Any]]


def _prepare_steps(actor: Actor, plans: Sequence[PlannedStep]) -> PreparedSteps:
    """Documents in waves (the k-th new step of each product together), each naming in
    `previousStep` the hash of the step before it; then every row the steps need."""
    waves: list[list[int]] = []
    depth: dict[str, int] = {}
    for position, plan in enumerate(plans):
        level = depth.get(plan.state.product_id, 0)
        depth[plan.state.product_id] = level + 1
        if level == len(waves):
            waves.append([])
        waves[level].append(position)
    heads = {plan.state.product_id: plan.state.head for plan in plans}
    stored: list[StoredRecord | None] = [None] * len(plans)
    prepared: list[PreparedRecords] = []
    for wave in waves:
        records: list[NewRecord] = []
        for position in wave:
            plan = plans[position]
            plan.data["previousStep"] = heads[plan.state.product_id]
            records.append(
                views.new_record(actor, "production_step", plan.data, corrects_id=plan.corrects_id)
            )
        made = prepare_records(records)
        prepared.append(made)
        for position, record in zip(wave, made.stored, strict=True):
            stored[position] = record
            heads[plans[position].state.product_id] = record.record_hash
    done = [r for r in stored if r is not None]
    step_rows: list[dict[str, Any]] = []
    link_rows: list[dict[str, Any]] = []
    for plan, record in zip(plans, done, strict=True):
        step_rows.append(
            {
                "id": record.id,
                "product_id": plan.state.product_id,
                "sequence": plan.sequence,
                "root_id": plan.root_id or record.id,
                "kind": plan.item.kind,
                "result": plan.item.result,
                "occurred_at": plan.item.occurred_at,
                "record_hash": record.record_hash,
                "created_at": record.recorded_at,
            }
        )
        link_rows.extend(
            {
                "sha256": sha,
                "record_id": record.id,
                "product_id": plan.state.product_id,
                "lot_id": None,
            }
            for sha in plan.item.attachments
        )
    states = {plan.state.product_id: plan.state for plan in plans}
    product_rows = [
        {
            "product_id": product_id,
            "last_step_hash": heads[product_id],
            "step_count": state.count,
            "qc_state": state.qc_state,
            "certified_at": state.certified_at if state.certified else None,
        }
        for product_id, state in states.items()
    ]
    return PreparedSteps(prepared, done, step_rows, link_rows, product_rows)


def _store_steps(session: Session, prepared: PreparedSteps) -> list[StoredRecord]:
    insert_records(session, prepared.records)
    bulk_insert(session, _STEP_TABLE, prepared.step_rows)
    if prepared.link_rows:
        session.execute(insert(AttachmentLink), prepared.link_rows)
    session.execute(
        update(_PRODUCT_TABLE).where(_PRODUCT_TABLE.c.id == bindparam("product_id")),
        prepared.product_rows,
    )
    return prepared.stored


def _write_steps(
    session: Session, actor: Actor, plans: Sequence[PlannedStep]
) -> list[StoredRecord]:
    """Prepare and store the steps; the context's product rows follow what was written."""
    stored = _store_steps(session, _prepare_steps(actor, plans))
    for plan in plans:
        session.expire(plan.state.product)
    return stored


def _store_speculation(
    session: Session, _actor: Actor, ctx: _Context, prepared: PreparedSteps
) -> list[StoredRecord]:
    stored = _store_steps(session, prepared)
    for state in ctx.products.values():  # the locked rows follow what was written
        session.expire(state.product)
    return stored


def _versions(ctx: _Context) -> Hashable:
    """What a plan depends on: each product's chain and order state, the attachments seen."""
    return (
        tuple(
            (serial, s.product_id, s.count, s.head, s.qc_state, s.certified_at)
            for serial, s in sorted(ctx.products.items())
        ),
        frozenset(ctx.uploaded),
    )


def _public_from_plan(plan: PlannedStep, record: StoredRecord) -> StepPublic:
    item = plan.item
    ref = RecordRef(
        id=record.id,
        record_hash=record.record_hash,
        recorded_at=record.recorded_at,
        corrects=plan.corrects_id,
        canonical=record.canonical,
        anchoring=Anchoring(status="pending"),  # written in this transaction: in the outbox
    )
    return StepPublic(
        id=plan.root_id or record.id,
        product_serial=plan.state.serial,
        sequence=plan.sequence,
        kind=item.kind,
        occurred_at=item.occurred_at,
        parameters=item.parameters,
        measurements=item.measurements,
        result=item.result,
        responsible=item.responsible,
        attachments=item.attachments,
        previous_step=plan.data["previousStep"],
        record=ref,
        history=[ref],
    )


#: Steps as a record kind (`kinds.run_batch`, `kinds.create_items`).
KIND: kinds.Kind[StepCreate, _Context, PlannedStep] = kinds.Kind(
    permission="step.create",
    batch_action="step.batch",
    object_kind="step",
    list_adapter=_STEPS,
    item_adapter=_STEP,
    make_context=_context,
    plan=_plan_step,
    write=_write_steps,
    speculation=kinds.Speculation(
        context=lambda session, actor, items: _context(session, actor, items, lock=False),
        versions=_versions,
        prepare=_prepare_steps,
        store=_store_speculation,
    ),
    answer=lambda _session, _actor, plan, record: _public_from_plan(plan, record),
    audit_details=lambda item: {"product": item.product_serial},
)


# --- use cases ---------------------------------------------------------------------------------


def _step_row(
    session: Session, actor: Actor, step_id: str, *, lock: bool
) -> tuple[ProductionStep, Product]:
    row = session.get(ProductionStep, step_id)
    if row is None:
        raise NotFoundError("step", step_id)
    stmt = select(Product).where(
        Product.id == row.product_id, visibility.product_visible(actor.organisation_id)
    )
    if lock:
        stmt = stmt.where(Product.factory_id == actor.organisation_id).with_for_update()
    product = session.scalars(stmt).first()
    if product is None:
        raise NotFoundError("step", step_id)
    return row, product


def correct_step(
    *, session: Session, actor: Actor, step_id: str, correction: StepCorrection
) -> StepPublic:
    """Append a correction of a step to the chain; it becomes the step's view."""
    authorisation.require_role(actor, "step.correct")
    row, product = _step_row(session, actor, step_id, lock=True)
    if correction.kind != row.kind:
        raise invalid_field(
            "kind", f"a correction keeps the step's kind ({row.kind}); record a new step instead"
        )
    if correction.product_serial is not None and correction.product_serial != product.serial:
        raise invalid_field(
            "product_serial",
            f"a correction keeps the step's product ({product.serial}); record a new step instead",
        )
    latest = session.scalars(
        select(ProductionStep)
        .where(ProductionStep.root_id == row.root_id)
        .order_by(ProductionStep.sequence.desc())
        .limit(1)
    ).one()
    state = _state(product)
    ctx = _Context(
        actor=actor,
        products={product.serial: state},
        uploaded=uploaded_by(session, actor.organisation_id, set(correction.attachments)),
    )
    _check(ctx, state, correction, correction=True)
    check_record_size(
        "production_step",
        step_document(product, state.count + 1, correction),
        corrects=True,
        reserve=_PREVIOUS_STEP,
    )
    state.count += 1
    state.touched = True
    plan = PlannedStep(
        state=state,
        sequence=state.count,
        item=correction,
        data=step_document(product, state.count, correction),
        root_id=row.root_id,
        corrects_id=latest.id,
    )
    # The QC state follows the corrected timeline.
    effective = {r.root_id: (r.kind, r.result) for r in _chain_rows(session, product.id)}
    effective[row.root_id] = (correction.kind, correction.result)
    state.qc_state = _qc_state(effective.values())
    record = _write_steps(session, actor, [plan])[0]
    audit.append(
        session,
        actor=actor.audit,
        action="step.correct",
        object_kind="step",
        object_id=row.root_id,
        details={"record_hash": record.record_hash, "corrects": latest.record_hash},
    )
    return get_step(session=session, actor=actor, step_id=row.root_id)


def _qc_state(timeline: Any) -> str | None:
    state: str | None = None
    for kind, result in timeline:
        if kind == "repair":
            state = None
        elif kind == "qc_inspection":
            state = result
    return state


def _chain_rows(session: Session, product_id: str) -> Sequence[ProductionStep]:
    return session.scalars(
        select(ProductionStep)
        .where(ProductionStep.product_id == product_id)
        .order_by(ProductionStep.sequence)
    ).all()


def timeline(session: Session, product: Product) -> list[tuple[StepPublic, list[Record]]]:
    """The product's steps in order, each showing its latest version, with every version."""
    rows = _chain_rows(session, product.id)
    records = views.records_by_id(session, [r.id for r in rows])
    refs = views.record_refs(session, list(records.values()))
    result: list[tuple[StepPublic, list[Record]]] = []
    for chain in versions(rows):
        root_id, latest = chain[0].root_id, chain[-1]
        record = records.get(latest.id)
        if record is None:
            continue
        data = views.document(record)["data"]
        history = [records[r.id] for r in chain if r.id in records]
        result.append(
            (
                StepPublic(
                    id=root_id,
                    product_serial=product.serial,
                    sequence=latest.sequence,
                    kind=data["kind"],
                    occurred_at=data["occurred_at"],
                    parameters=data.get("parameters", {}),
                    measurements=data.get("measurements", {}),
                    result=data.get("result"),
                    responsible=data.get("responsible"),
                    attachments=data.get("attachments", []),
                    previous_step=data.get("previousStep"),
                    record=refs[record.id],
                    history=[refs[r.id] for r in history],
                ),
                history,
            )
        )
    return result


def list_steps(
    *, session: Session, actor: Actor, serial: str, skip: int, limit: int
) -> StepsPublic:
    """A visible product's steps, in chain order (corrections shown in place)."""
    product = visibility.visible(session, actor, visibility.PRODUCT, serial)
    steps = [step for step, _ in timeline(session, product)]
    return StepsPublic(data=steps[skip : skip + limit], count=len(steps))


def get_step(*, session: Session, actor: Actor, step_id: str) -> StepPublic:
    """One step (by the id of any of its versions) of a visible product."""
    row, product = _step_row(session, actor, step_id, lock=False)
    for step, _ in timeline(session, product):
        if step.id == row.root_id:
            return step
    raise NotFoundError("step", step_id)


def verify_chain(session: Session, product: Product) -> ChainReport:
    """Recompute every link from the stored canonical text; report the first broken step."""
    return check_links(product, chains_of(session, [product.id]).get(product.id, []))


def chains_of(
    session: Session, product_ids: Sequence[str]
) -> dict[str, list[tuple[ProductionStep, Record | None]]]:
    """Each product's step rows with their records (None: missing), in sequence order: one
    query per `views.CHUNK` products."""
    found: dict[str, list[tuple[ProductionStep, Record | None]]] = {}
    for chunk in views.chunks(list(product_ids)):
        rows = session.execute(
            select(ProductionStep, Record)
            .outerjoin(Record, Record.id == ProductionStep.id)
            .where(ProductionStep.product_id.in_(chunk))
            .order_by(ProductionStep.product_id, ProductionStep.sequence)
        ).all()
        for step, record in rows:
            found.setdefault(step.product_id, []).append((step, record))
    return found


def check_links(
    product: Product, rows: Sequence[tuple[ProductionStep, Record | None]]
) -> ChainReport:
    """`verify_chain` of the product's step rows (`chains_of`), in sequence order."""
    previous: str | None = None
    expected = 1
    checked = 0

    def broken(step_id: str | None, sequence: int, reason: str) -> ChainReport:
        return ChainReport(
            intact=False,
            steps_checked=checked,
            first_broken=BrokenLink(step_id=step_id, sequence=sequence, reason=reason),
        )

    for step, record in rows:
        if step.sequence != expected:
            return broken(step.id, step.sequence, f"step {expected} of the chain is missing")
        if record is None:
            return broken(step.id, step.sequence, "the step's record is missing")
        computed = "0x" + keccak256(record.canonical.encode()).hex()
        if computed != record.record_hash or computed != step.record_hash:
            return broken(
                step.id, step.sequence, "the stored document does not hash to its record hash"
            )
        try:
            document = json.loads(record.canonical)
            data = document["data"]
            links = (document["id"], data["product"], data["sequence"], data["previousStep"])
        except (ValueError, KeyError, TypeError):
            return broken(step.id, step.sequence, "the stored document is not a step document")
        if links[:3] != (record.id, product.id, step.sequence):
            return broken(step.id, step.sequence, "the document does not describe this step")
        if links[3] != previous:
            return broken(
                step.id, step.sequence, "previousStep does not name the previous step's hash"
            )
        previous = computed
        expected += 1
        checked += 1
    if product.last_step_hash != previous or product.step_count != expected - 1:
        return broken(None, expected, f"the chain ends before step {product.step_count}")
    return ChainReport(intact=True, steps_checked=checked, first_broken=None)


def versions(steps: Sequence[ProductionStep]) -> list[list[ProductionStep]]:
    """A product's step rows (in sequence order) grouped by step: each step's versions, the
    original first and the current last, the steps in the order they were first written."""
    grouped: dict[str, list[ProductionStep]] = {}
    for row in steps:
        grouped.setdefault(row.root_id, []).append(row)
    return list(grouped.values())


def check_chain(*, session: Session, actor: Actor, serial: str) -> ChainReport:
    """Verify a visible product's step chain."""
    return verify_chain(session, visibility.visible(session, actor, visibility.PRODUCT, serial))
