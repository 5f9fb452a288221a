"""Which roles may perform each write: a role that may never perform an action (a supplier
posting steps, any reader writing) is refused before anything is looked up.

Raises:
    PermissionDeniedError: the caller's role may not perform the action at all.
"""

from __future__ import annotations

from hallmark.core.errors import PermissionDeniedError
from hallmark.services.access.keys import Actor

#: Roles allowed to perform each write (other roles: 403).
WRITE_ROLES: dict[str, frozenset[str]] = {
    "lot.create": frozenset({"supplier"}),
    "lot.correct": frozenset({"supplier"}),
    "lot.split": frozenset({"supplier", "factory", "brand"}),
    "lot.transfer": frozenset({"supplier", "factory", "brand"}),
    "product.create": frozenset({"brand", "factory"}),
    "product.materials": frozenset({"factory"}),
    "product.accept": frozenset({"brand"}),
    "step.create": frozenset({"factory"}),
    "step.correct": frozenset({"factory"}),
    "attachment.upload": frozenset({"supplier", "factory", "brand"}),
    "batch.flag": frozenset({"supplier", "factory", "brand"}),
    # Legal organisations hold the ledger's REGISTRAR_ROLE: their keys register designs.
    "design.register": frozenset({"legal", "registrar"}),
    "design.review": frozenset({"legal", "registrar"}),
    # Design rights: the registrant's (or the new registrant's) registrar; departures.
    "design.assign": frozenset({"legal", "registrar"}),
    "design.licence": frozenset({"legal", "registrar"}),
    "design.departure": frozenset({"legal", "registrar"}),
    "certificate.issue": frozenset({"brand"}),
    "certificate.revoke": frozenset({"brand"}),
}


def require_role(actor: Actor, action: str) -> None:
    """Refuse an action the caller's role may never perform."""
    allowed = WRITE_ROLES[action]
    if actor.role not in allowed:
        raise PermissionDeniedError(
            f"the {actor.role} role may not {action.replace('.', ' ')} "
            f"(allowed: {', '.join(sorted(allowed))})",
            details={"role": actor.role, "action": action},
        )
