"""The pull requests gitops-watcher has open (or saw closed), one row per folder.

In the daemon's state database beside the ledger, so a stage with nothing pending
costs no forge call at all. The forge stays the truth: when this table is lost,
open pull requests are found again by their branch; what is lost is only that a
person closed one (it may be opened once more) and the lead time of a merge that
happened meanwhile (it is then seen as already deployed).
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Float, Integer, String, Text, delete, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from watcher.adapters.state_store import open_state_engine, short_error
from watcher.closing import Closing
from watcher.config.settings import UrlLogin
from watcher.core.pull_requests import PullRequestRecord
from watcher.core.release import ReleaseId
from watcher.errors import StateStoreError


class _Base(DeclarativeBase):
    pass


class PullRequestRow(_Base):
    __tablename__ = "pull_requests"

    folder: Mapped[str] = mapped_column(String(512), primary_key=True)
    source: Mapped[str] = mapped_column(String(63))
    kind: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(Text)
    stage: Mapped[str] = mapped_column(String(63))
    branch: Mapped[str] = mapped_column(String(512))
    number: Mapped[int] = mapped_column(Integer)
    url: Mapped[str] = mapped_column(Text, default="")
    revision: Mapped[str] = mapped_column(String(128), default="")
    label: Mapped[str] = mapped_column(String(128), default="")
    content: Mapped[str] = mapped_column(String(64))
    base: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))
    first_seen: Mapped[float] = mapped_column(Float, default=0.0)


class PullRequestStore(Closing):
    """Records by folder: read all at once, written one at a time."""

    def __init__(self, url: str, login: UrlLogin | None = None) -> None:
        self._engine: Engine = open_state_engine(url, login)
        try:
            _Base.metadata.create_all(self._engine)
        except SQLAlchemyError as exc:
            self._engine.dispose()
            raise StateStoreError(
                f"cannot open the pull request records: {short_error(exc)}"
            ) from exc

    def load(self) -> dict[str, PullRequestRecord]:
        try:
            with Session(self._engine) as session:
                rows = session.scalars(select(PullRequestRow)).all()
        except SQLAlchemyError as exc:
            raise StateStoreError(
                f"cannot read the pull request records: {short_error(exc)}"
            ) from exc
        return {row.folder: _record(row) for row in rows}

    def save(self, record: PullRequestRecord) -> None:
        row = PullRequestRow(
            folder=record.folder,
            source=record.id.source,
            kind=record.id.kind,
            name=record.id.name,
            stage=record.id.stage,
            branch=record.branch,
            number=record.number,
            url=record.url,
            revision=record.revision,
            label=record.label,
            content=record.content,
            base=record.base,
            state=record.state,
            first_seen=record.first_seen,
        )
        self._write(lambda session: session.merge(row), "write")

    def drop(self, folder: str) -> None:
        statement = delete(PullRequestRow).where(PullRequestRow.folder == folder)
        self._write(lambda session: session.execute(statement), "delete")

    def _write(self, action: Callable[[Session], object], what: str) -> None:
        try:
            with Session(self._engine) as session, session.begin():
                action(session)
        except SQLAlchemyError as exc:
            raise StateStoreError(
                f"cannot {what} a pull request record: {short_error(exc)}"
            ) from exc

    def close(self) -> None:
        self._engine.dispose()


def _record(row: PullRequestRow) -> PullRequestRecord:
    return PullRequestRecord(
        folder=row.folder,
        id=ReleaseId(row.source, row.kind, row.name, row.stage),
        branch=row.branch,
        number=row.number,
        url=row.url,
        revision=row.revision,
        label=row.label,
        content=row.content,
        base=row.base,
        state="closed" if row.state == "closed" else "open",
        first_seen=row.first_seen,
    )
