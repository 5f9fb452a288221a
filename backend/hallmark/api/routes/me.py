"""Who the caller is."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool

from hallmark.api.deps import CurrentActor, ReadSessionsDep
from hallmark.services.access import directory
from hallmark.services.access.schemas import DirectoryPublic, OrganisationRef, WhoAmI
from hallmark.store.models import Organisation

router = APIRouter(prefix="/api/v1", tags=["access"])


@router.get("/whoami")
async def whoami(actor: CurrentActor, sessions: ReadSessionsDep) -> WhoAmI:
    """Describe the caller: organisation, role and key."""

    def load() -> Organisation | None:
        with sessions() as session:
            return session.get(Organisation, actor.organisation_id)

    organisation = await run_in_threadpool(load)
    assert organisation is not None
    return WhoAmI(
        organisation=OrganisationRef(
            id=organisation.id,
            name=organisation.name,
            kind=organisation.kind,
            account_address=organisation.account_address,
        ),
        role=actor.role,
        principal_id=actor.principal_id,
        api_key_id=actor.api_key_id,
    )


@router.get("/organisations", tags=["organisations"])
def organisations(sessions: ReadSessionsDep) -> DirectoryPublic:
    """The public directory: every organisation's id, name, kind, GLN, and the chain account
    that anchors its records with that account's role history (no key needed)."""
    with sessions() as session:
        return directory.directory(session)
