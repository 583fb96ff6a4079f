"""The organisation of the reference story (shared SCENARIO.md), seeded through the domain services."""

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from eth_account import Account
from eth_account.signers.local import LocalAccount
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cellorg.core.clock import clock
from cellorg.ledger import service as ledger
from cellorg.ledger.bonus import service as bonus
from cellorg.ledger.hashing import keccak256
from cellorg.ledger.signatures import sign_digest
from cellorg.ledger.typed_data import digest
from cellorg.org import service as org
from cellorg.org.models import Dimension, MembershipKind, Person
from cellorg.org.repository import person_by_email
from cellorg.permissions.catalogue import subject_of_person
from cellorg.permissions.enforcer import PolicyEnforcer
from cellorg.permissions.service import grant_role
from cellorg.projects import okrs
from cellorg.projects import service as projects
from cellorg.projects.models import Outcome, Project
from cellorg.talent_pool import service as talent
from cellorg.talent_pool.matcher import Infeasible, MinDistinctUnits, SquadConstraints
from cellorg.talent_pool.proposals import accept_proposal, propose_squad

DEMO_DOMAIN = "nev-demo.cellorg.example"
UNITS = {
    "region": ("HQ", "East China", "South China"),
    "function": ("Sales", "Engineering", "Finance", "Design"),
    "product_line": ("Industrial Automation", "Robotics"),
    "customer": ("NEV Motors",),
}


@dataclass(frozen=True)
class DemoPerson:
    name: str
    region: str
    function: str
    org_role: str | None = None

    @property
    def email(self) -> str:
        return f"{self.name.lower().replace(' ', '.')}@{DEMO_DOMAIN}"

    @property
    def wallet(self) -> LocalAccount:
        """A key derived from the demo's public data: fine for a demo, worthless for anything else."""
        wallet: LocalAccount = Account.from_key(keccak256(f"cellorg demo wallet {self.email}".encode()))
        return wallet


STORY_PEOPLE = (
    DemoPerson("Wang Lei", "East China", "Sales"),
    DemoPerson("Chen Jing", "South China", "Engineering"),
    DemoPerson("Liu Yang", "HQ", "Finance"),
    DemoPerson("Zhao Min", "HQ", "Design"),
    DemoPerson("Sun Hao", "HQ", "Engineering", org_role="admin"),
    DemoPerson("Qian Li", "HQ", "Finance", org_role="finance"),
    DemoPerson("He Ping", "HQ", "Finance", org_role="finance"),  # approves what Qian Li computes
    DemoPerson("Zhou Wen", "HQ", "Finance", org_role="auditor"),
)
EXTRA_PEOPLE = 42
GIVEN = "Hua Jie Ning Bin Yan Kun Lan Peng Qing Rong Shu Ting Wen Xia Yi Zhen".split()
FAMILY = ["Gao", "He", "Hu", "Lin", "Luo", "Ma", "Song", "Tang", "Xie", "Xu", "Ye", "Zheng"]


async def seed_demo(session: AsyncSession, policy: PolicyEnforcer, keys: ledger.LedgerKeys | None = None) -> bool:
    """Seed the story once; returns False when it is already there.

    The organisation exists from the day before the bid squad forms, 19 days ago. The checkpoints (the one
    the bonus statement is computed at, and the one of step 9 that covers the statement) are anchored by
    their jobs once the seed commits.
    """
    if await person_by_email(session, STORY_PEOPLE[0].email) is not None:
        return False
    keys = keys or ledger.LedgerKeys.from_settings()
    day_zero = clock.now() - timedelta(days=WON_ON_DAY)
    with clock.frozen(day_zero - timedelta(days=1)):
        people, units = await _organisation(session, policy)
    await _story_squad(session, policy, keys, people, units, day_zero)
    await _bonus_round(session, keys, people)
    await ledger.publish_checkpoint(session, keys)
    return True


async def _organisation(session: AsyncSession, policy: PolicyEnforcer) -> tuple[dict[str, int], dict[str, int]]:
    dimensions = {d.key: d.id for d in (await session.scalars(select(Dimension))).all()}
    units: dict[str, int] = {}
    for key, names in UNITS.items():
        for name in names:
            units[name] = (await org.create_unit(session, dimension_id=dimensions[key], name=name, parent_id=None)).id
    rng = random.Random(2026)
    extras = [
        DemoPerson(f"{rng.choice(FAMILY)} {given}", rng.choice(UNITS["region"]), rng.choice(UNITS["function"]))
        for given in _distinct_given_names(rng)
    ]
    people: dict[str, int] = {}
    for demo_person in (*STORY_PEOPLE, *extras):
        person = await _add_person(session, policy, demo_person, units)
        people[demo_person.name] = person.id
        if demo_person.org_role is not None:
            await grant_role(
                session,
                policy,
                subject=subject_of_person(person.id),
                role=demo_person.org_role,
                granted_by=None,
                reason="demo organisation",
            )
    return people, units


@dataclass(frozen=True)
class DemoSlot:
    title: str
    role: str
    needs: tuple[tuple[str, int], ...]  # (skill, minimum level)


BID_SLOTS = (
    DemoSlot("Deal lead", "lead", (("Negotiation", 4),)),
    DemoSlot("Solution engineer", "member", (("PLC programming", 4), ("Robotics", 3))),
    DemoSlot("Financing", "advisor", (("Project finance", 3),)),
    DemoSlot("UI/UX", "member", (("Interaction design", 3),)),
)
SKILLS = (
    ("Robotics", "Engineering", None, ("robot cells",)),
    ("PLC programming", "Engineering", "Robotics", ("PLC", "SPS")),
    ("Negotiation", "Sales", None, ("deal making",)),
    ("Project finance", "Finance", None, ("financing",)),
    ("Interaction design", "Design", None, ("UX", "UI design")),
)
# The story's people claim the top levels, with endorsements; the others reach at most one level less.
STORY_CLAIMS = {
    "Wang Lei": (("Negotiation", 5),),
    "Chen Jing": (("PLC programming", 5), ("Robotics", 4)),
    "Liu Yang": (("Project finance", 5),),
    "Zhao Min": (("Interaction design", 5),),
}
ENDORSERS = ("Sun Hao", "Qian Li")
BID_DAYS, WON_ON_DAY = 30, 19
# "At least three home functions among them."
STORY_CONSTRAINTS = SquadConstraints(min_distinct=(MinDistinctUnits("function", 3),))


@dataclass(frozen=True)
class DemoContribution:
    person: str
    day: int
    kind: str
    title: str
    points: int
    skills: tuple[str, ...]
    document: str

    @property
    def uri(self) -> str:
        return f"https://files.{DEMO_DOMAIN}/line-3/{self.document}"


@dataclass(frozen=True)
class DemoDecision:
    day: int
    title: str
    rationale: str
    alternatives: tuple[str, ...]


STORY_CONTRIBUTIONS = (
    DemoContribution(
        "Chen Jing", 4, "design", "Solution design", 40, ("PLC programming", "Robotics"), "solution-design.pdf"
    ),
    DemoContribution("Liu Yang", 6, "analysis", "Financing model", 30, ("Project finance",), "financing-model.xlsx"),
    DemoContribution("Zhao Min", 8, "design", "Demo UI", 25, ("Interaction design",), "demo-ui.pdf"),
    DemoContribution(
        "Wang Lei", 10, "customer meeting", "Customer workshop", 20, ("Negotiation",), "workshop-minutes.pdf"
    ),
)
STORY_DECISIONS = (  # taken by the deal lead, Wang Lei
    DemoDecision(
        7,
        "Offer five-year financing",
        "NEV Motors' capital budget for the year is fixed; financing beats the competitor's lower price.",
        ("A 6% discount on the list price", "Three-year financing"),
    ),
    DemoDecision(
        9,
        "Modular line design",
        "Cuts the changeover time between vehicle models by a third.",
        ("Copy the design of Line 2",),
    ),
)


async def _story_squad(
    session: AsyncSession,
    policy: PolicyEnforcer,
    keys: ledger.LedgerKeys,
    people: dict[str, int],
    units: dict[str, int],
    day_zero: datetime,
) -> None:
    """Steps 1-7: the bid squad is proposed and formed on day 0, aligns with Robotics, records its work on
    the ledger, is won and closed on day 19."""
    manager = people["Sun Hao"]
    with clock.frozen(day_zero):
        robotics = await projects.create_project(
            session,
            policy,
            name="Robotics cell pilot",
            description="A robot cell for the body shop.",
            owner_id=manager,
            starts_at=day_zero,
            ends_at=day_zero + timedelta(days=90),
            customer_unit_id=units["NEV Motors"],
            product_line_unit_id=units["Robotics"],
        )
        await projects.activate_project(session, robotics.id)
        cell = await okrs.add_objective(
            session, robotics.id, title="Ship the robotics cell for NEV Motors", description=""
        )
        bid = await projects.create_project(
            session,
            policy,
            name="NEV Motors Line 3 bid",
            description="Production-line order for NEV Motors' third assembly line.",
            owner_id=manager,
            starts_at=day_zero,
            ends_at=day_zero + timedelta(days=BID_DAYS),
            customer_unit_id=units["NEV Motors"],
            product_line_unit_id=units["Industrial Automation"],
        )
        skills = await _talent_pool(session, people)
        for slot in BID_SLOTS:
            added = await projects.add_slot(
                session, bid.id, title=slot.title, role=slot.role, headcount=1, allocation_pct=50
            )
            for skill, level in slot.needs:
                await talent.add_requirement(
                    session, slot_id=added.id, skill_id=skills[skill], min_level=level, weight=1.0
                )
        proposal = await propose_squad(session, bid.id, STORY_CONSTRAINTS)
        if isinstance(proposal, Infeasible):
            msg = f"the demo's talent pool cannot staff the bid: {proposal.reasons}"
            raise RuntimeError(msg)
        await accept_proposal(
            session,
            policy,
            bid.id,
            [(seat.slot_id, seat.person_id) for seat in proposal.assignments],
            accepted_by=subject_of_person(manager),
        )
        await projects.activate_project(session, bid.id)
        win = await okrs.add_objective(session, bid.id, title="Win the NEV Motors Line 3 contract", description="")
        submitted = await okrs.add_key_result(
            session,
            win.id,
            title="Proposal submitted by day 20",
            target="1",
            unit="proposal",
            due_at=day_zero + timedelta(days=20),
        )
        poc = await okrs.add_key_result(
            session, win.id, title="Proof of concept accepted", target="1", unit="PoC", due_at=None
        )
        await okrs.align(session, win.id, cell.id)
    await _squad_work(session, keys, bid.id, people, day_zero)
    with clock.frozen(day_zero + timedelta(days=WON_ON_DAY)):
        await okrs.record_progress(session, submitted.id, "1")
        await okrs.record_progress(session, poc.id, "1")
        await projects.close_project(session, policy, bid.id, outcome=Outcome.WON, closed_by=subject_of_person(manager))


BONUS_POOL = ("120000.00", "CNY")
BONUS_RULES = {
    "kindWeights": {"design": "1.2", "analysis": "1", "customer meeting": "1"},
    "roleMultipliers": {"lead": "1.25"},
}


async def _bonus_round(session: AsyncSession, keys: ledger.LedgerKeys, people: dict[str, int]) -> None:
    """Step 8: Qian Li sets the pool and computes the statement at the checkpoint after the close; He Ping,
    a second finance user outside the squad, approves it onto the ledger."""
    bid = await session.scalar(select(Project.id).where(Project.name == "NEV Motors Line 3 bid"))
    assert bid is not None
    checkpoint = await ledger.publish_checkpoint(session, keys)
    policy = await bonus.create_policy(session, name="Deal squads", rules=BONUS_RULES, created_by=people["Qian Li"])
    amount, currency = BONUS_POOL
    bonus_round = await bonus.create_round(
        session,
        project_id=bid,
        name=bonus.FINAL_ROUND,
        amount=amount,
        currency=currency,
        policy_id=policy.id,
        created_by=people["Qian Li"],
    )
    statement = await bonus.compute_statement(session, bonus_round.id, checkpoint.tree_size, people["Qian Li"])
    await bonus.approve_statement(session, keys, statement.id, people["He Ping"])


async def _squad_work(
    session: AsyncSession, keys: ledger.LedgerKeys, project_id: int, people: dict[str, int], day_zero: datetime
) -> None:
    """Step 5: contributions and the lead's decisions, each signed in its author's own wallet."""
    wallets = {demo_person.name: demo_person.wallet for demo_person in STORY_PEOPLE}
    entries = [
        (
            work.day,
            work.person,
            "Contribution",
            ledger.contribution_message(
                project_id=project_id,
                contributor_id=people[work.person],
                kind=work.kind,
                title=work.title,
                points=work.points,
                occurred_at=day_zero + timedelta(days=work.day),
                skills=work.skills,
                evidence=[(work.uri, "0x" + keccak256(work.document.encode()).hex())],
                nonce=_demo_nonce(work.title),
            ),
        )
        for work in STORY_CONTRIBUTIONS
    ] + [
        (
            decision.day,
            "Wang Lei",
            "Decision",
            ledger.decision_message(
                project_id=project_id,
                decided_by_id=people["Wang Lei"],
                title=decision.title,
                rationale=decision.rationale,
                alternatives=decision.alternatives,
                decided_at=day_zero + timedelta(days=decision.day),
                nonce=_demo_nonce(decision.title),
            ),
        )
        for decision in STORY_DECISIONS
    ]
    for day, author, primary_type, message in sorted(entries, key=lambda entry: entry[0]):
        signature = sign_digest(wallets[author], digest(keys.domain, primary_type, message))
        with clock.frozen(day_zero + timedelta(days=day, hours=1)):
            await ledger.record_entry(session, keys, primary_type, message, signature)


def _demo_nonce(title: str) -> str:
    """Fixed nonces keep the demo's ledger, and the figures computed from it, the same on every seed."""
    return "0x" + keccak256(f"{DEMO_DOMAIN} {title}".encode()).hex()


async def _talent_pool(session: AsyncSession, people: dict[str, int]) -> dict[str, int]:
    """The skill taxonomy, the story's claims with endorsements, and weaker claims across the others."""
    curator = people["Sun Hao"]
    skills: dict[str, int] = {}
    for name, category, parent, aliases in SKILLS:
        skill = await talent.add_skill(
            session,
            name=name,
            category=category,
            parent_id=skills.get(parent) if parent else None,
            aliases=list(aliases),
            proposed_by=None,
            approved_by=curator,
        )
        skills[name] = skill.id
    for person, claims in STORY_CLAIMS.items():
        for skill_name, level in claims:
            claim = await talent.claim_skill(
                session,
                person_id=people[person],
                skill_id=skills[skill_name],
                level=level,
                evidence=[talent.Evidence(text=f"{skill_name} on earlier NEV Motors work")],
            )
            for endorser in ENDORSERS:
                await talent.endorse(session, claim_id=claim.id, endorser_id=people[endorser], comment="")
    rng = random.Random(7)
    others = [name for name in people if name not in STORY_CLAIMS and name not in ENDORSERS]
    for person in others:
        for skill_name in rng.sample([name for name, *_ in SKILLS], 2):
            await talent.claim_skill(
                session, person_id=people[person], skill_id=skills[skill_name], level=rng.randint(2, 4), evidence=[]
            )
    return skills


def _distinct_given_names(rng: random.Random) -> list[str]:
    combos = [f"{a}{b.lower()}" for a in GIVEN for b in GIVEN if a != b]
    return rng.sample(combos, EXTRA_PEOPLE)


async def _add_person(
    session: AsyncSession, policy: PolicyEnforcer, demo_person: DemoPerson, units: dict[str, int]
) -> Person:
    person = await org.create_person(
        session,
        policy,
        name=demo_person.name,
        email=demo_person.email,
        home_unit_id=units[demo_person.function],
        created_by=None,
        eth_address=demo_person.wallet.address,
    )
    await org.add_membership(
        session,
        person_id=person.id,
        unit_id=units[demo_person.region],
        kind=MembershipKind.MATRIX,
        since=None,
        until=None,
    )
    return person
