"""Logging the showing of personal data in clear (PIPL): one PiiAccess row per response or export that
unmasks anybody. Exports of personal data must give a reason (`export_reason`)."""

from django.utils.translation import gettext as _

from apps.audit.context import actor_of
from apps.audit.models import PiiAccess
from apps.common.errors import DomainError

REASON_MIN = 4


def pii_access_log(
    *, user, what: str, subject: str, people: int, reason: str = "", path: str = ""
) -> PiiAccess | None:
    """Record that `user` saw `people` persons' data unmasked (nothing when people == 0)."""
    if people <= 0:
        return None
    return PiiAccess.objects.create(
        actor=actor_of(user),
        what=what[:60],
        subject=subject[:200],
        people=people,
        reason=(reason or "")[:300],
        path=(path or "")[:500],
    )


def export_reason(params) -> str:
    """The `reason` of an export of personal data: required, a few words at least."""
    reason = (params.get("reason") or "").strip()
    if len(reason) < REASON_MIN:
        raise DomainError(
            _(
                "exports of personal data need a reason (the `reason` parameter, at least "
                "%(n)s characters); it is logged with your name"
            )
            % {"n": REASON_MIN},
            field="reason",
        )
    return reason
