"""Design rights: two-step assignments, licences and their termination, on chain through the
registry; a designer's departure.

Every action is checked against the chain first (a refusal answers at once with the
contract's reason), recorded, and sent by the worker: the answer is 202 with the action, whose
`status` goes requested → sending → done (or failed); GET the action to follow it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session, sessionmaker

from hallmark.api.deps import (
    CurrentActor,
    ReadSessionsDep,
    RuntimeDep,
    SessionsDep,
    WriteCall,
    WriteCallDep,
)
from hallmark.api.openapi import error_doc
from hallmark.api.responses import FastJSONResponse
from hallmark.api.routes.designs import Ref
from hallmark.api.writes import idempotent
from hallmark.chain.registry import DesignRights
from hallmark.runtime import Runtime
from hallmark.services.access import idempotency
from hallmark.services.access.keys import forget_cached_keys
from hallmark.services.designs import departure, rights
from hallmark.services.designs.registry import (
    find_registration,
    may_download_original,
    require_registrar,
)
from hallmark.services.designs.rights_schemas import (
    AssignmentAccept,
    AssignmentPropose,
    DeparturePrincipal,
    DeparturePublic,
    LicenceGrant,
    LicenceTerminate,
    Reassignment,
    ReassignmentPublic,
    RightsActionPublic,
    RightsPublic,
    action_public,
)
from hallmark.store.models import DesignRegistration

router = APIRouter(prefix="/api/v1/designs", tags=["design rights"])

_ACTION_ERRORS: dict[int | str, dict[str, Any]] = {
    401: error_doc("No or an unknown API key"),
    403: error_doc(
        "Not a registrar, or not the organisation the registry allows (the contract's "
        "reason in details)"
    ),
    404: error_doc("No such registration, organisation or licence"),
    409: error_doc(
        "Not final yet (details.final_at), not filed, or refused in the design's state "
        "(the contract's reason in details)"
    ),
    422: error_doc("A malformed document hash, reference, period or reason"),
    503: error_doc("The chain does not answer"),
}


@dataclass(frozen=True, slots=True)
class Acting:
    """What a rights action route needs besides its own fields: the write call, the runtime
    (the chain) and the sessions."""

    call: WriteCall
    runtime: Runtime
    sessions: sessionmaker[Session]

    async def act(self, permission: str, plan: Callable[[Session], rights.Planned]) -> object:
        """Plan (database), check on chain (outside any transaction), record (one
        transaction)."""
        call, sessions = self.call, self.sessions
        if call.key is not None:
            # A replay answers as the first time, without asking the chain again.
            def stored() -> tuple[int, Any] | None:
                with sessions() as session:
                    return idempotency.stored_answer(
                        session,
                        call.actor.principal_id,
                        call.key or "",
                        call.fingerprint,
                        ttl=call.ttl,
                    )

            answer = await run_in_threadpool(stored)
            if answer is not None:
                return FastJSONResponse(
                    answer[1], status_code=answer[0], headers={"Idempotent-Replayed": "true"}
                )

        def planned() -> rights.Planned:
            with sessions() as session:
                return plan(session)

        done = await run_in_threadpool(planned)
        runtime = self.runtime
        chain_rights = DesignRights(runtime.registry) if runtime.chain is not None else None
        await run_in_threadpool(rights.check_on_chain, chain_rights, done)

        def write(session: Session) -> RightsActionPublic:
            row = rights.record_action(session=session, actor=call.actor, planned=done)
            registration = session.get(DesignRegistration, row.registration_id)
            assert registration is not None
            return action_public(row, registration.number)

        return await idempotent(call, permission=permission, status=202, write=write)


async def _acting(call: WriteCallDep, runtime: RuntimeDep, sessions: SessionsDep) -> Acting:
    return Acting(call, runtime, sessions)


ActingDep = Annotated[Acting, Depends(_acting)]


def _action_route(path: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A rights action's route: answered 202 with the recorded action."""
    return router.post(
        path, status_code=202, response_model=RightsActionPublic, responses=_ACTION_ERRORS
    )


@_action_route("/{ref}/assignments")
async def propose_assignment(*, ref: Ref, body: AssignmentPropose, acting: ActingDep) -> object:
    """Propose to assign a final registration to another registrar organisation."""
    return await acting.act(
        "design.assign",
        lambda session: rights.plan_propose(
            session=session,
            actor=acting.call.actor,
            ref=ref,
            new_registrant=body.new_registrant,
            new_owner_ref=body.new_owner_ref,
            document_sha256=body.document_sha256,
            new_owner_organisation=body.new_owner_organisation,
        ),
    )


@_action_route("/{ref}/assignments/accept")
async def accept_assignment(*, ref: Ref, body: AssignmentAccept, acting: ActingDep) -> object:
    """Accept, as the named new registrant, the pending assignment under the same document."""
    return await acting.act(
        "design.assign",
        lambda session: rights.plan_accept(
            session=session, actor=acting.call.actor, ref=ref, document_sha256=body.document_sha256
        ),
    )


@_action_route("/{ref}/assignments/cancel")
async def cancel_assignment(*, ref: Ref, acting: ActingDep) -> object:
    """Cancel the pending assignment (its proposer, or the named new registrant declining)."""
    return await acting.act(
        "design.assign",
        lambda session: rights.plan_cancel(session=session, actor=acting.call.actor, ref=ref),
    )


@_action_route("/{ref}/licences")
async def grant_licence(*, ref: Ref, body: LicenceGrant, acting: ActingDep) -> object:
    """Record a licence of a final registration (licensee reference, document, validity)."""
    return await acting.act(
        "design.licence",
        lambda session: rights.plan_grant(
            session=session,
            actor=acting.call.actor,
            ref=ref,
            licensee_ref=body.licensee_ref,
            document_sha256=body.document_sha256,
            valid_from=body.valid_from,
            valid_until=body.valid_until,
        ),
    )


@_action_route("/{ref}/licences/{document_sha256}/terminate")
async def terminate_licence(
    *, ref: Ref, document_sha256: str, body: LicenceTerminate, acting: ActingDep
) -> object:
    """Terminate a licence, finally, with a reason code."""
    return await acting.act(
        "design.licence",
        lambda session: rights.plan_terminate(
            session=session,
            actor=acting.call.actor,
            ref=ref,
            document_sha256=document_sha256,
            reason=body.reason,
        ),
    )


@router.get(
    "/{ref}/rights",
    response_model=RightsPublic,
    responses={401: error_doc("No or an unknown API key"), 404: error_doc("No such registration")},
)
async def get_rights(
    *, ref: Ref, actor: CurrentActor, runtime: RuntimeDep, sessions: ReadSessionsDep
) -> RightsPublic:
    """The registration's rights: holder, pending assignment and licences on chain, actions."""
    # Off-chain references and their salts: legal and the owner's organisation only.

    def read() -> tuple[DesignRegistration, str, list[Any], bool]:
        with sessions() as session:
            registration = find_registration(session, ref)
            organisation_id, _ = rights.holder(session, registration)
            actions = rights.actions_of(session, registration)
            references = may_download_original(actor, registration)
            session.expunge_all()
            return registration, organisation_id, actions, references

    registration, organisation_id, actions, references = await run_in_threadpool(read)
    on_chain: dict[str, Any] = {}
    if runtime.chain is not None and registration.status == "registered":
        documents = sorted({a.document_sha256 for a in actions if a.action == "grant"})
        on_chain = await run_in_threadpool(
            rights.rights_state,
            DesignRights(runtime.registry),
            registration.fingerprint,
            documents,
        )
    return RightsPublic(
        registration=registration.number,
        fingerprint=registration.fingerprint,
        holder_organisation=organisation_id,
        on_chain=on_chain,
        actions=[action_public(a, registration.number, references=references) for a in actions],
    )


@router.get(
    "/rights/actions/{action_id}",
    response_model=RightsActionPublic,
    responses={401: error_doc("No or an unknown API key"), 404: error_doc("No such action")},
)
async def get_action(
    *, action_id: str, actor: CurrentActor, sessions: ReadSessionsDep
) -> RightsActionPublic:
    """One assignment or licence action: its status, transaction and outcome."""

    def read() -> RightsActionPublic:
        with sessions() as session:
            row = rights.find_action(session, action_id)
            registration = session.get(DesignRegistration, row.registration_id)
            assert registration is not None
            references = may_download_original(actor, registration)
            return action_public(row, registration.number, references=references)

    return await run_in_threadpool(read)


@router.post(
    "/departures",
    response_model=DeparturePublic,
    responses={
        401: error_doc("No or an unknown API key"),
        403: error_doc("Not a registrar, or the caller itself"),
        404: error_doc("No such principal in the caller's organisation"),
    },
)
async def depart(*, body: DeparturePrincipal, call: WriteCallDep) -> object:
    """Deactivate a designer principal at once (keys, console) and report its registrations."""

    def write(session: Session) -> DeparturePublic:
        principal, done = departure.deactivate_principal(
            session=session, ref=body.principal, by=call.actor
        )
        report = departure.departure_report(session, principal)
        return DeparturePublic(
            principal=departure.principal_public(principal),
            deactivated=done,
            registrations=report,
            count=len(report),
        )

    answer = await idempotent(call, permission="design.departure", status=200, write=write)
    forget_cached_keys()  # committed: this process refuses the principal's keys from now on
    return answer


@router.get(
    "/departures/{principal}/report",
    response_model=DeparturePublic,
    responses={
        401: error_doc("No or an unknown API key"),
        403: error_doc("Not a registrar"),
        404: error_doc("No such principal in the caller's organisation"),
    },
)
async def departure_report(
    *, principal: str, actor: CurrentActor, sessions: ReadSessionsDep
) -> DeparturePublic:
    """The registrations a principal registered or is named in (nothing is changed)."""
    require_registrar(actor)

    def read() -> DeparturePublic:
        with sessions() as session:
            found = departure.find_principal(session, principal, by=actor)
            report = departure.departure_report(session, found)
            return DeparturePublic(
                principal=departure.principal_public(found),
                deactivated=None,
                registrations=report,
                count=len(report),
            )

    return await run_in_threadpool(read)


@router.post(
    "/reassignments",
    response_model=ReassignmentPublic,
    responses={
        401: error_doc("No or an unknown API key"),
        403: error_doc("Not a registrar"),
        404: error_doc("No such principal, or registration of it, in the caller's organisation"),
        409: error_doc("The principal is still active"),
        422: error_doc("The target is not another active registrar of the organisation"),
    },
)
async def reassign(*, body: Reassignment, call: WriteCallDep) -> object:
    """Hand a departed registrar's registrations to another registrar of the organisation."""

    def write(session: Session) -> ReassignmentPublic:
        return ReassignmentPublic(
            **departure.reassign_registrations(
                session=session,
                source=body.principal,
                target=body.to,
                registrations=body.registrations,
                by=call.actor,
            )
        )

    return await idempotent(call, permission="design.departure", status=200, write=write)
