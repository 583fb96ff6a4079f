from datetime import datetime

from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cellorg.core.db import Base


class Grant(Base):
    """One role for one subject in one scope over a validity window: the source of truth.

    Rows are never deleted; revoking sets ``revoked_at`` so the history stays readable.
    """

    __tablename__ = "grants"
    __table_args__ = (Index(None, "scope", "subject"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    subject: Mapped[str] = mapped_column(String(64), index=True)
    role: Mapped[str] = mapped_column(String(32))
    scope: Mapped[str] = mapped_column(String(64))
    valid_from: Mapped[datetime]
    valid_until: Mapped[datetime | None]
    granted_by: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    revoked_by: Mapped[str | None] = mapped_column(String(64))
    revoke_reason: Mapped[str | None] = mapped_column(Text)

    def is_live(self, at: datetime) -> bool:
        if self.revoked_at is not None and self.revoked_at <= at:
            return False
        return self.valid_from <= at and (self.valid_until is None or at < self.valid_until)

    @property
    def effective_until(self) -> datetime | None:
        return effective_end(self.valid_until, self.revoked_at)


def effective_end(valid_until: datetime | None, revoked_at: datetime | None) -> datetime | None:
    """When a grant stops working: its planned end or its revocation, whichever is first."""
    ends = [end for end in (valid_until, revoked_at) if end is not None]
    return min(ends) if ends else None
