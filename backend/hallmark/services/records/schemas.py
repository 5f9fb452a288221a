"""Schemas of the records domain: what the API accepts (`*Create`) and answers (`*Public`).

The fields a client sends are the fields stored in the record document (`data`), under the same
names; Hallmark adds its own link fields in camelCase (`schema`, `previousStep`, `sequence`,
`privateCommitment`, ...). Quantities, masses and coordinates are exact decimals
(`hallmark.core.fields`), written as decimal strings in documents and answers so hashes never
depend on float formatting.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    JsonValue,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)
from stdnum import ean
from stdnum.exceptions import ValidationError as StdnumValidationError

from hallmark.core.fields import (
    CountryCode,
    DecimalOut,
    Input,
    JsonObject,
    Latitude,
    Longitude,
    NonNegativeQuantity,
    ObjectId,
    Quantity,
    RecordHash,
    Sha256,
    ShortText,
    plain_paragraph,
    plain_text,
    text_schema,
)

# --- vocabularies ------------------------------------------------------------------------------

Material = Literal[
    "diamond",
    "lab_grown_diamond",
    "gold",
    "platinum",
    "silver",
    "gemstone",
    "pearl",
    "enamel",
    "leather",
    "wood",
    "paper",
    "other",
]
Unit = Literal["g", "ct", "pieces"]
CertificateKind = Literal[
    "gia_report", "sge_bar_serial", "kimberley_process", "fsc", "sgs", "assay_report", "other"
]
Category = Literal[
    "ring", "pendant", "necklace", "bracelet", "earrings", "brooch", "medal", "gift_item", "other"
]
StepKind = Literal[
    "wax_3d_print",
    "casting",
    "stone_setting",
    "laser_engraving",
    "polishing",
    "plating",
    "qc_inspection",
    "packaging",
    "shipping",
    "repair",
    "other",
]
StepResult = Literal["pass", "fail"]
TransportMode = Literal["road", "rail", "sea", "air", "courier", "other"]
RefiningProcess = Literal["refining", "smelting", "alloying", "assaying", "cutting", "other"]
AnchoringStatus = Literal["pending", "anchoring", "anchored", "confirmed"]

# --- records' own types --------------------------------------------------------------------


def _gtin(value: str) -> str:
    try:
        digits = ean.validate(value)  # python-stdnum: GTIN-8/12/13/14 with its check digit
    except StdnumValidationError as exc:
        raise ValueError(f"{value!r} is not a valid GTIN ({exc})") from None
    return digits.zfill(14)


Gtin = Annotated[str, AfterValidator(_gtin), Field(examples=["04006381333931"])]
#: A lot number: letters, digits and . _ / : # - (at most 64).
LotNumber = Annotated[
    str,
    StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z0-9][A-Za-z0-9._/:#-]{0,63}$"),
]
#: A product serial (it appears in URLs): letters, digits and . _ : - (at most 64).
Serial = Annotated[
    str,
    StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$"),
]
#: A person by reference only: an opaque id from the factory's own HR system, never a name.
OpaqueRef = Annotated[
    str,
    StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$"),
    Field(examples=["emp-00417"]),
]


# --- material lots -----------------------------------------------------------------------------


def _shapes(description: str, *branches: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    """`json_schema_extra` for a rule that joins fields: the object is one of `branches`, each
    spelled out with every property (a branch's own constraint added to the property's), so a
    generator that reads one branch alone still knows every field."""

    def extra(schema: dict[str, Any]) -> None:
        properties: dict[str, Any] = schema.get("properties", {})
        required = set(schema.get("required", []))
        shapes = []
        for branch in branches:
            own: dict[str, Any] = branch.get("properties", {})
            shapes.append(
                {
                    "type": "object",
                    "properties": {
                        name: {"allOf": [spec, own[name]]} if name in own else spec
                        for name, spec in properties.items()
                    },
                    "required": sorted(required | set(branch.get("required", []))),
                    "additionalProperties": False,
                }
            )
        schema["anyOf"] = shapes
        schema["description"] = description

    return extra


#: Present and not null (JSON Schema's `required` also counts an explicit null).
_GIVEN: dict[str, Any] = {"not": {"type": "null"}}
_ABSENT: dict[str, Any] = {"type": "null"}


class Origin(Input):
    model_config = ConfigDict(
        json_schema_extra=_shapes(
            "Both latitude and longitude, or neither",
            {
                "required": ["latitude", "longitude"],
                "properties": {"latitude": _GIVEN, "longitude": _GIVEN},
            },
            {"properties": {"latitude": _ABSENT, "longitude": _ABSENT}},
        )
    )

    name: ShortText | None = Field(None, description="Mine or region")
    country: CountryCode
    latitude: Latitude | None = None
    longitude: Longitude | None = None

    @model_validator(mode="after")
    def _both_coordinates(self) -> Origin:
        if (self.latitude is None) != (self.longitude is None):
            raise ValueError("give both latitude and longitude, or neither")
        return self


class ExternalCertificate(Input):
    kind: CertificateKind
    number: ShortText
    document: Sha256 | None = Field(None, description="SHA-256 of an uploaded attachment")


class SourceRef(Input):
    """Where recycled material came from: one of our lots, or a product by serial."""

    model_config = ConfigDict(
        json_schema_extra=_shapes(
            "Exactly one of lot or product",
            {"required": ["lot"], "properties": {"lot": _GIVEN, "product": _ABSENT}},
            {"required": ["product"], "properties": {"product": _GIVEN, "lot": _ABSENT}},
        )
    )

    lot: ObjectId | None = None
    product: Serial | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> SourceRef:
        if (self.lot is None) == (self.product is None):
            raise ValueError("name exactly one of lot or product")
        return self


class RefiningPass(Input):
    process: RefiningProcess
    facility: ShortText | None = None
    country: CountryCode | None = None
    date: dt.date | None = None
    purity: (
        Annotated[
            str, StringConstraints(max_length=32), AfterValidator(plain_text), text_schema(32)
        ]
        | None
    ) = None
    notes: (
        Annotated[
            str,
            StringConstraints(max_length=1000),
            AfterValidator(plain_paragraph),
            text_schema(1000, paragraph=True),
        ]
        | None
    ) = None


class TransportLeg(Input):
    model_config = ConfigDict(
        validate_by_name=True, validate_by_alias=True, serialize_by_alias=True
    )

    from_: ShortText = Field(alias="from")
    to: ShortText
    mode: TransportMode
    date: dt.date


def _attestation(value: Any) -> Any:
    if isinstance(value, bool | str):
        return {"attested": value}
    return value


class Attestation(Input):
    attested: bool
    evidence: (
        Annotated[
            str, StringConstraints(max_length=500), AfterValidator(plain_text), text_schema(500)
        ]
        | None
    ) = Field(None, description="A reference or the SHA-256 of an uploaded document")


AttestationIn = Annotated[Attestation, BeforeValidator(_attestation)]


class Ethics(Input):
    conflict_free: AttestationIn | None = None
    fair_trade: AttestationIn | None = None
    wage_disclosure: AttestationIn | None = None


class LotFields(Input):
    model_config = ConfigDict(
        json_schema_extra=_shapes(
            "Recycled sources need recycled: true",
            {"properties": {"recycled_from": {"maxItems": 0}}},
            {"required": ["recycled"], "properties": {"recycled": {"const": True}}},
        )
    )

    lot_number: LotNumber = Field(description="Unique per supplier")
    material: Material
    grade: (
        Annotated[
            str,
            StringConstraints(strip_whitespace=True, max_length=64),
            AfterValidator(plain_text),
            text_schema(64),
        ]
        | None
    ) = Field(None, description="Grade or purity: Au999.9, 18K, Pt950, 925, 1.02 ct F VS1")
    quantity: Quantity
    unit: Unit
    origin: Origin
    certificates: list[ExternalCertificate] = Field(default_factory=list, max_length=100)
    recycled: bool = False
    recycled_from: list[SourceRef] = Field(default_factory=list, max_length=100)
    refining: list[RefiningPass] = Field(default_factory=list, max_length=100)
    transport: list[TransportLeg] = Field(default_factory=list, max_length=100)
    carbon_kg_co2e: NonNegativeQuantity | None = Field(
        None, description="Carbon footprint of the whole lot, kg CO2e"
    )
    ethics: Ethics = Field(default_factory=Ethics)
    extra: JsonObject = Field(default_factory=dict)
    private: JsonObject | None = Field(
        None,
        description="Visible only to the owner; the record holds only a salted commitment",
    )

    @model_validator(mode="after")
    def _recycled_sources(self) -> LotFields:
        if self.recycled_from and not self.recycled:
            raise ValueError("recycled_from needs recycled = true")
        return self


class LotCreate(LotFields):
    """A new material lot of the caller's (supplier) organisation."""


class LotCorrection(LotFields):
    """A correction: the complete new view of the lot (the unit cannot change)."""


class LotChild(Input):
    quantity: Quantity
    lot_number: LotNumber | None = Field(None, description="Default: <parent>-<n>")
    extra: JsonObject = Field(default_factory=dict)


class LotSplit(Input):
    children: list[LotChild] = Field(min_length=1, max_length=1000)


class LotTransfer(Input):
    to_organisation: ObjectId = Field(description="Id of the organisation taking custody")
    note: (
        Annotated[
            str,
            StringConstraints(max_length=500),
            AfterValidator(plain_paragraph),
            text_schema(500, paragraph=True),
        ]
        | None
    ) = None


# --- products ----------------------------------------------------------------------------------


#: The largest edition size (and so number).
MAX_EDITION = 1_000_000


class Edition(Input):
    series: ShortText
    number: int = Field(ge=1, le=MAX_EDITION, description="n of N")
    size: int = Field(ge=1, le=MAX_EDITION, description="N")

    @model_validator(mode="after")
    def _n_of_n(self) -> Edition:
        if self.number > self.size:
            raise ValueError(f"edition number {self.number} is above the edition size {self.size}")
        return self


class MaterialUse(Input):
    lot: ObjectId
    quantity: Quantity
    unit: Unit
    process_loss: NonNegativeQuantity = Field(
        default=Decimal(0), description="Lost in processing; counts against the lot too"
    )


class ProductCreate(Input):
    serial: Serial = Field(description="Globally unique")
    name: ShortText
    category: Category
    gtin: Gtin | None = None
    design_reference: ShortText | None = None
    edition: Edition | None = None
    brand: ObjectId | None = Field(None, description="Brand organisation id (factory callers)")
    assigned_factory: ObjectId | None = Field(
        None, description="Factory organisation id (required for brand callers)"
    )
    materials: list[MaterialUse] = Field(default_factory=list, max_length=1000)


class MaterialsAdd(Input):
    materials: list[MaterialUse] = Field(min_length=1, max_length=1000)


# --- production steps --------------------------------------------------------------------------


_DATE_TIME_START = re.compile(r"^\s*[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}")


def _rfc3339_text(value: Any) -> Any:
    # pydantic would also read a number (or digits) as Unix time: a step's time is text.
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _DATE_TIME_START.match(value):
        raise ValueError("a date-time is RFC 3339 text with an offset (2026-11-20T09:30:00+08:00)")
    return value


def _within_utc_range(value: datetime) -> datetime:
    try:
        value.astimezone(dt.UTC)
    except OverflowError:
        raise ValueError("the date-time is outside the years 1 to 9999 in UTC") from None
    return value


#: When something happened: RFC 3339 text with an offset, within the years 1 to 9999 in UTC.
OccurredAt = Annotated[
    AwareDatetime, BeforeValidator(_rfc3339_text), AfterValidator(_within_utc_range)
]


class StepFields(Input):
    model_config = ConfigDict(
        json_schema_extra=_shapes(
            "A qc_inspection has a result",
            {"properties": {"kind": {"not": {"const": "qc_inspection"}}}},
            {"required": ["result"], "properties": {"result": {"enum": ["pass", "fail"]}}},
        )
    )

    kind: StepKind
    occurred_at: OccurredAt
    parameters: JsonObject = Field(default_factory=dict)
    measurements: JsonObject = Field(default_factory=dict)
    result: StepResult | None = Field(
        None, description="Required for qc_inspection", validate_default=True
    )
    responsible: OpaqueRef | None = None
    attachments: list[Sha256] = Field(default_factory=list, max_length=100)
    previous_step_hash: RecordHash | None = Field(
        None, description="Optional: refused with 409 unless it is the current last step"
    )

    @field_validator("result")
    @classmethod
    def _qc_result(cls, value: StepResult | None, info: ValidationInfo) -> StepResult | None:
        if value is None and info.data.get("kind") == "qc_inspection":
            raise ValueError("a qc_inspection needs a result (pass or fail)")
        return value


class StepCreate(StepFields):
    product_serial: Serial


class StepCorrection(StepFields):
    """A correction: the complete new view of the step (the kind and product cannot change)."""

    product_serial: Serial | None = Field(
        None, description="Optional, as in the creation: must be the step's product"
    )


# --- answers -----------------------------------------------------------------------------------


CANONICAL_DOC = (
    "The record exactly as hashed: RFC 8785 canonical JSON; keccak-256 of its UTF-8 bytes is "
    "record_hash. Rebuild a hash from this text, never from the view's re-rendered fields."
)


class RecordRef(BaseModel):
    id: str
    record_hash: str
    recorded_at: datetime
    corrects: str | None = Field(None, description="Id of the record this one corrects")
    canonical: str = Field(description=CANONICAL_DOC)
    anchoring: Anchoring = Field(description="Where the record stands on chain")


class LotPublic(BaseModel):
    id: str
    owner: str
    custodian: str
    lot_number: str
    material: Material
    grade: str | None
    quantity: Annotated[Decimal, DecimalOut]
    unit: Unit
    remaining: Annotated[Decimal, DecimalOut]
    origin: Origin
    certificates: list[ExternalCertificate]
    recycled: bool
    recycled_from: list[SourceRef]
    refining: list[RefiningPass]
    transport: list[TransportLeg]
    carbon_kg_co2e: Annotated[Decimal, DecimalOut] | None
    ethics: Ethics
    extra: dict[str, Any]
    parent_lot: str | None
    private_commitment: str | None
    private: dict[str, Any] | None = Field(None, description="Only for the owner")
    private_salt: str | None = Field(None, description="Only for the owner")
    record: RecordRef
    history: list[RecordRef] | None = None


class LotsPublic(BaseModel):
    data: list[LotPublic]
    count: int


class MaterialUsePublic(BaseModel):
    lot: str
    lot_number: str | None
    quantity: Annotated[Decimal, DecimalOut]
    unit: Unit
    process_loss: Annotated[Decimal, DecimalOut]
    record_id: str


class ProductPublic(BaseModel):
    id: str
    serial: str
    name: str
    category: Category
    gtin: str | None
    design_reference: str | None
    edition: Edition | None
    brand: str | None
    brand_accepted_at: datetime | None = Field(
        description="When the brand accepted the product as its own (None: not yet)"
    )
    assigned_factory: str
    materials: list[MaterialUsePublic]
    recycled_share: str | None = Field(
        description="Share of recycled material by mass (over draws in g), 0 to 1"
    )
    carbon_kg_co2e: str | None = Field(description="Sum of lot carbon * drawn / lot quantity")
    certified_at: datetime | None
    step_count: int
    last_step_hash: str | None
    record: RecordRef
    acceptance_record: RecordRef | None = Field(
        None,
        description="The brand's anchored acceptance record (hallmark/product-acceptance@1) of "
        "a product a factory named it in; None for a brand's own product or one not accepted",
    )


class ProductsPublic(BaseModel):
    data: list[ProductPublic]
    count: int


class StepPublic(BaseModel):
    id: str = Field(description="The original step's record id")
    product_serial: str
    sequence: int = Field(description="Position of the current version in the hash chain")
    kind: StepKind
    occurred_at: datetime
    parameters: dict[str, Any]
    measurements: dict[str, Any]
    result: StepResult | None
    responsible: str | None
    attachments: list[str]
    previous_step: str | None
    record: RecordRef
    history: list[RecordRef]


class StepsPublic(BaseModel):
    data: list[StepPublic]
    count: int


class BrokenLink(BaseModel):
    step_id: str | None
    sequence: int
    reason: str


class ChainReport(BaseModel):
    intact: bool
    steps_checked: int
    first_broken: BrokenLink | None


class FieldError(BaseModel):
    field: str
    message: str
    type: str


class BatchRowResult(BaseModel):
    row: int = Field(description="1-based: array index + 1, or CSV data line (header excluded)")
    status: Literal["created", "rejected"]
    id: str | None = None
    record_hash: str | None = None
    errors: list[FieldError] = Field(default_factory=list)


class BatchResult(BaseModel):
    mode: Literal["all_or_nothing", "per_row"]
    created: int
    rejected: int
    results: list[BatchRowResult]


class AttachmentPublic(BaseModel):
    sha256: str
    size: int
    media_type: str


class AnchoringFlag(BaseModel):
    """The record's batch withdrawn on chain: `flagged` (by its organisation) or `compromised`
    (its account was declared compromised from a block at or before the batch's)."""

    state: Literal["flagged", "revoked"] = Field(
        description="`revoked` for a certificate, `flagged` for any other kind"
    )
    cause: Literal["flagged", "compromised"]
    reason: str = Field(description="the reason's name (its code is on chain)")
    reason_code: int
    at: datetime | None = None


class Anchoring(BaseModel):
    """Where a record stands on chain. Once `anchored` or `confirmed`, `proof` proves
    `record_hash` under `root` (OpenZeppelin's `StandardMerkleTree.verify(root, ['bytes32'],
    [record_hash], proof)`, or the ledger's `verifyRecord(root, record_hash, proof)`); `leaf_index`
    is the hash's position among the batch's record hashes sorted ascending."""

    status: AnchoringStatus
    batch_id: int | None = None
    root: str | None = None
    transaction: str | None = None
    block: int | None = None
    leaf_index: int | None = None
    proof: list[str] | None = None
    anchorer: str | None = Field(
        None, description="the account that anchored the batch (version 2: part of its key)"
    )
    ledger: str | None = Field(None, description="the ProvenanceLedger the batch is anchored on")
    contracts_version: str | None = Field(None, description="that ledger's version()")
    flag: AnchoringFlag | None = None


class ProvenanceRecord(BaseModel):
    id: str
    kind: str
    record_hash: str
    recorded_at: datetime
    corrects: str | None = Field(description="Id of the record this one corrects")
    canonical: str = Field(description=CANONICAL_DOC)
    anchoring: Anchoring


class RecordPublic(ProvenanceRecord):
    """One record as anchored: the canonical JSON that was hashed, and where it is on chain."""

    organisation: str
    document: dict[str, JsonValue]


class LotView(BaseModel):
    """A lot as seen in someone's provenance: public fields; private ones only for the owner."""

    id: str
    owner: str
    lot_number: str
    material: str
    grade: str | None
    quantity: str
    unit: str
    origin: dict[str, Any]
    certificates: list[dict[str, Any]]
    recycled: bool
    ethics: dict[str, Any]
    carbon_kg_co2e: str | None
    private_commitment: str | None
    private: dict[str, Any] | None = None
    record: ProvenanceRecord


class MaterialNode(BaseModel):
    lot: LotView | None = Field(description="None when the lot is no longer known")
    lot_id: str
    quantity: str | None = Field(None, description="Drawn from this lot (None for sources)")
    process_loss: str | None = None
    unit: str | None = None
    parent: MaterialNode | None = Field(None, description="The lot this one was split from")
    recycled_from: list[MaterialNode] = Field(default_factory=list)
    recycled_products: list[str] = Field(default_factory=list, description="Serials")


class TimelineStep(BaseModel):
    step: StepPublic
    records: list[ProvenanceRecord]


class Provenance(BaseModel):
    product: ProductPublic
    record: ProvenanceRecord
    acceptance_record: ProvenanceRecord | None = Field(
        None, description="The brand's acceptance record, when a factory made the product"
    )
    material_records: list[ProvenanceRecord]
    materials: list[MaterialNode]
    steps: list[TimelineStep]
    chain_intact: bool
    chain: ChainReport
