"""What a squad leaves behind: written once when its project closes, never changed (the database refuses).

The archive keeps the members with their roles and tenure, the slots, the OKR outcomes with their
alignments, the timeline, and the project's ledger: its decisions, its contributions (each with the sequence
number and leaf hash that prove it on the ledger), the contributors' totals and the skills used.
It is canonical JSON with its SHA-256, so a copy can be checked.
"""

import hashlib
import json
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cellorg.core.clock import utcnow
from cellorg.ledger.models import LedgerEntry
from cellorg.org.models import Person
from cellorg.projects import okrs
from cellorg.projects.models import Project, ProjectArchive, SquadMember, SquadSlot

ARCHIVE_VERSION = 2


def canonical(content: dict[str, Any]) -> str:
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


async def write_archive(session: AsyncSession, project: Project) -> ProjectArchive:
    await session.flush()
    content = await _content(session, project)
    archive = ProjectArchive(
        project_id=project.id,
        content=content,
        content_sha256=hashlib.sha256(canonical(content).encode()).hexdigest(),
        created_at=utcnow(),
    )
    session.add(archive)
    await session.flush()
    return archive


async def archive_of(session: AsyncSession, project_id: int) -> ProjectArchive | None:
    return await session.scalar(select(ProjectArchive).where(ProjectArchive.project_id == project_id))


def _at(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


async def _content(session: AsyncSession, project: Project) -> dict[str, Any]:
    return {
        "version": ARCHIVE_VERSION,
        "project": {
            "id": project.id,
            "name": project.name,
            "description": project.description,
            "customer_unit_id": project.customer_unit_id,
            "product_line_unit_id": project.product_line_unit_id,
            "owner_id": project.owner_id,
            "starts_at": _at(project.starts_at),
            "ends_at": _at(project.ends_at),
            "outcome": project.outcome.value if project.outcome else None,
        },
        "timeline": [
            {"event": event, "at": _at(moment)}
            for event, moment in (
                ("created", project.created_at),
                ("activated", project.activated_at),
                ("closed", project.closed_at),
            )
            if moment is not None
        ],
        "slots": [
            {"id": s.id, "title": s.title, "role": s.role, "headcount": s.headcount, "allocation_pct": s.allocation_pct}
            for s in (await session.scalars(select(SquadSlot).where(SquadSlot.project_id == project.id))).all()
        ],
        "members": await _members(session, project.id),
        "okrs": await _okrs(session, project.id),
        **await _ledger(session, project.id),
    }


async def _members(session: AsyncSession, project_id: int) -> list[dict[str, Any]]:
    rows = (
        await session.execute(
            select(SquadMember, Person.name)
            .join(Person, Person.id == SquadMember.person_id)
            .where(SquadMember.project_id == project_id)
            .order_by(SquadMember.joined_at, SquadMember.id)
        )
    ).all()
    return [
        {
            "person_id": member.person_id,
            "name": name,
            "role": member.role,
            "slot_id": member.slot_id,
            "allocation_pct": member.allocation_pct,
            "joined_at": _at(member.joined_at),
            "left_at": _at(member.left_at),
            "tenure_days": round(((member.left_at or utcnow()) - member.joined_at).total_seconds() / 86400, 2),
        }
        for member, name in rows
    ]


async def _okrs(session: AsyncSession, project_id: int) -> list[dict[str, Any]]:
    objectives = (await okrs.objectives_of(session, [project_id]))[project_id]
    ids = [objective.id for objective in objectives]
    key_results = await okrs.key_results_of(session, ids)
    aligned = await okrs.aligned_with(session, ids)
    return [
        {
            "objective": objective.title,
            "key_results": [
                {
                    "title": kr.title,
                    "target": str(kr.target),
                    "current": str(kr.current),
                    "unit": kr.unit,
                    "progress": str(kr.progress),
                    "due_at": _at(kr.due_at),
                }
                for kr in key_results[objective.id]
            ],
            "aligned_with": [{"objective_id": o.id, "project_id": o.project_id} for o in aligned[objective.id]],
        }
        for objective in objectives
    ]


async def _ledger(session: AsyncSession, project_id: int) -> dict[str, Any]:
    rows = (
        await session.execute(
            select(LedgerEntry, Person.name)
            .join(Person, Person.id == LedgerEntry.author_id)
            .where(LedgerEntry.project_id == project_id)
            .order_by(LedgerEntry.seq)
        )
    ).all()
    decisions: list[dict[str, Any]] = []
    contributions: list[dict[str, Any]] = []
    for entry, name in rows:
        message = json.loads(entry.payload)
        proof = {"seq": entry.seq, "leaf_hash": "0x" + entry.leaf_hash.hex(), "amends": entry.amends}
        if entry.entry_type == "Decision":
            decisions.append(
                proof
                | {
                    "title": message["title"],
                    "rationale": message["rationale"],
                    "alternatives": message["alternatives"],
                    "decided_by": name,
                    "decided_at": message["decidedAt"],
                }
            )
        else:
            contributions.append(
                proof
                | {
                    "contributor_id": entry.author_id,
                    "contributor": name,
                    "kind": entry.contribution_kind,
                    "title": message["title"],
                    "points": entry.points,
                    "skills": message["skills"],
                    "occurred_at": message["occurredAt"],
                    "signed_by_contributor": not entry.signed_by_service,
                }
            )
    return {
        "decisions": decisions,
        "contributions": contributions,
        "contributors": _contributors(contributions),
        "skills_used": sorted({skill for c in contributions for skill in c["skills"]}),
    }


def _contributors(contributions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    totals: dict[int, dict[str, Any]] = {}
    for contribution in contributions:
        total = totals.setdefault(
            contribution["contributor_id"],
            {
                "person_id": contribution["contributor_id"],
                "name": contribution["contributor"],
                "entries": 0,
                "points": 0,
            },
        )
        total["entries"] += 1
        total["points"] += contribution["points"]
    return sorted(totals.values(), key=lambda total: (-total["points"], total["person_id"]))
