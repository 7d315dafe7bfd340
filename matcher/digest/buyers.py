"""Evidence that a buyer awards to SMEs, computed only from the award notices in the store.

Each stored notice that reached award (Contracts Finder award releases, Find a Tender award and contract
details notices) holds its awards in its release: every award names its suppliers, and the release's parties
say each supplier's size (`details.scale`: "sme", "micro", "small", "medium" or "large"). From these:

  award_facts(release)   one AwardFact per award: buyer, date, value, whether an SME won it (pure)
  BuyerIndex.of(facts)   buyers matched by their identifier first, then by normalised name
  BuyerEvidence.line()   "Awarded 12 of its last 30 contracts (£1.2m of £4.5m) to SMEs, 2023–2026"

Nothing is estimated: an award whose suppliers' size is not given is counted apart, never guessed; values are
summed only where the award states one (in pounds). `buyer_index(session)` reads the store (cached until the
award notices change); `matcher buyers` lists buyers by SME share and `matcher buyers backfill` polls past
award notices in.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

SME_SCALES = frozenset({"sme", "micro", "small", "medium"})
LARGE_SCALES = frozenset({"large"})
IGNORED_AWARD_STATUSES = frozenset({"cancelled", "unsuccessful"})
PLACEHOLDER_VALUE = 1.0  # portals carry 0.01 / 1 GBP where no value was given
LAST_CONTRACTS = 30
NO_HISTORY = "no award history here"
_NAME_NOISE = re.compile(r"[^a-z0-9 ]+")
_LEADING_THE = re.compile(r"^the ")


def normalise_name(name: str | None) -> str:
    """'The London Borough of Merton ' -> 'london borough of merton' ('&' reads 'and')."""
    text = (name or "").casefold().replace("&", " and ")
    text = " ".join(_NAME_NOISE.sub(" ", text).split())
    return _LEADING_THE.sub("", text)


def _dicts(value: Any) -> list[dict]:
    if isinstance(value, dict):  # FTS sometimes sends {"1": {...}} for a list
        value = list(value.values())
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _when(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        dt = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def _amount(value: Any) -> tuple[float | None, str | None]:
    if not isinstance(value, dict):
        return None, None
    amount = value.get("amount")
    if isinstance(amount, bool) or not isinstance(amount, (int, float)) or amount <= PLACEHOLDER_VALUE:
        return None, value.get("currency")
    return float(amount), value.get("currency")


@dataclass(frozen=True)
class AwardFact:
    """One award as its notice states it."""

    notice_key: str
    award_id: str
    buyer_id: str | None
    buyer_name: str | None
    date: datetime | None
    value: float | None  # in `currency`, as the award states it; None when it gives none
    currency: str | None
    sme: bool | None  # True: an SME supplier won it; False: every supplier is large; None: size not given
    suppliers: tuple[str, ...]


def buyer_of(release: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """(identifier, name) of the release's buyer: `buyer`, else the party with the buyer role."""
    buyer = release.get("buyer") if isinstance(release.get("buyer"), dict) else {}
    bid, name = buyer.get("id"), buyer.get("name")
    if not bid or not name:
        for party in _dicts(release.get("parties")):
            if "buyer" in (party.get("roles") or []) or (bid and party.get("id") == bid):
                bid, name = bid or party.get("id"), name or party.get("name")
                ident = party.get("identifier") if isinstance(party.get("identifier"), dict) else {}
                if not bid and ident.get("scheme") and ident.get("id"):
                    bid = f"{ident['scheme']}-{ident['id']}"
                break
    bid = " ".join(str(bid).split()).upper() if bid else None
    name = " ".join(str(name).split()) if name else None
    return bid, name


def _supplier_size(party: Mapping[str, Any]) -> bool | None:
    details = party.get("details") if isinstance(party.get("details"), dict) else {}
    scale = str(details.get("scale") or "").strip().lower()
    if scale in SME_SCALES:
        return True
    if scale in LARGE_SCALES:
        return False
    flag = party.get("sme", details.get("sme"))
    return flag if isinstance(flag, bool) else None


def award_facts(notice_key: str, release: Mapping[str, Any]) -> list[AwardFact]:
    """The awards a stored release states (cancelled and unsuccessful ones left out)."""
    if not isinstance(release, Mapping):
        return []
    parties = {p.get("id"): p for p in _dicts(release.get("parties")) if p.get("id")}
    bid, bname = buyer_of(release)
    released = _when(release.get("date"))
    out = []
    for n, award in enumerate(_dicts(release.get("awards"))):
        if str(award.get("status") or "").lower() in IGNORED_AWARD_STATUSES:
            continue
        suppliers = _dicts(award.get("suppliers"))
        if not suppliers:
            continue
        sizes = [_supplier_size(parties.get(s.get("id"), s)) for s in suppliers]
        sme = True if any(x is True for x in sizes) else False if sizes and all(x is False for x in sizes) else None
        value, currency = _amount(award.get("value"))
        names = tuple(str(s.get("name") or parties.get(s.get("id"), {}).get("name") or "").strip() for s in suppliers)
        out.append(AwardFact(
            notice_key=notice_key, award_id=str(award.get("id") or n), buyer_id=bid, buyer_name=bname,
            date=_when(award.get("date")) or _when(award.get("datePublished")) or released,
            value=value, currency=(currency or "").upper() or None, sme=sme, suppliers=tuple(x for x in names if x),
        ))
    return out


def short_money(amount: float) -> str:
    """£1.2m, £450k, £9,500."""
    if amount >= 1_000_000:
        return f"£{amount / 1_000_000:.1f}m".replace(".0m", "m")
    if amount >= 10_000:
        return f"£{amount / 1000:.0f}k"
    return f"£{amount:,.0f}"


@dataclass
class BuyerEvidence:
    """One buyer's recent awards and what share of them went to SMEs."""

    key: str  # "id:GB-CFS-18525" (the smallest identifier it goes by) or "name:london borough of merton"
    name: str
    identifiers: list[str]
    contracts: int  # of the last LAST_CONTRACTS awards, those whose suppliers' size is given
    sme_contracts: int
    size_unknown: int  # of the last LAST_CONTRACTS awards, those whose suppliers' size is not given
    value: float | None  # total (GBP) of the counted awards that state a value
    sme_value: float | None
    valued: int  # how many counted awards state a value in GBP
    first_year: int | None
    last_year: int | None
    awards: list[AwardFact] = field(default_factory=list)  # the awards counted, newest first

    @property
    def sme_share(self) -> float | None:
        return self.sme_contracts / self.contracts if self.contracts else None

    @property
    def period(self) -> str:
        if self.first_year is None:
            return ""
        return str(self.first_year) if self.first_year == self.last_year else f"{self.first_year}\u2013{self.last_year}"

    def line(self) -> str:
        if not self.contracts:
            return NO_HISTORY if not self.size_unknown else (
                f"{self.size_unknown} recent award{'s' if self.size_unknown != 1 else ''} here, none saying the supplier's size")
        text = f"Awarded {self.sme_contracts} of its last {self.contracts} contract{'s' if self.contracts != 1 else ''}"
        if self.valued and self.value:
            money = f"{short_money(self.sme_value or 0.0)} of {short_money(self.value)}"
            text += f" ({money})" if self.valued == self.contracts else f" ({money}, for the {self.valued} with a value)"
        text += " to SMEs"
        if self.period:
            text += f", {self.period}"
        if self.size_unknown:
            text += f"; supplier size not given for {self.size_unknown} more"
        return text

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["sme_share"] = round(self.sme_share, 4) if self.sme_share is not None else None
        data["period"], data["line"] = self.period, self.line()
        data["awards"] = [{**asdict(a), "date": a.date.isoformat() if a.date else None, "suppliers": list(a.suppliers)}
                          for a in self.awards]
        return data


def evidence_for(key: str, facts: list[AwardFact], last: int = LAST_CONTRACTS) -> BuyerEvidence:
    """The figures for one buyer from its awards: the `last` newest, counted as they state."""
    newest = sorted(facts, key=lambda f: (f.date or datetime.min.replace(tzinfo=UTC), f.notice_key, f.award_id),
                    reverse=True)[:last]
    known = [f for f in newest if f.sme is not None]
    valued = [f for f in known if f.value is not None and (f.currency or "GBP") == "GBP"]
    years = [f.date.year for f in known if f.date]
    names = [f.buyer_name for f in newest if f.buyer_name]
    return BuyerEvidence(
        key=key,
        name=max(set(names), key=lambda n: (names.count(n), n)) if names else key.partition(":")[2],
        identifiers=sorted({f.buyer_id for f in newest if f.buyer_id}),
        contracts=len(known),
        sme_contracts=sum(1 for f in known if f.sme),
        size_unknown=len(newest) - len(known),
        value=sum(f.value for f in valued) if valued else None,  # type: ignore[misc]
        sme_value=sum(f.value for f in valued if f.sme) if valued else None,  # type: ignore[misc]
        valued=len(valued),
        first_year=min(years) if years else None,
        last_year=max(years) if years else None,
        awards=known,
    )


@dataclass
class BuyerIndex:
    """Every buyer with awards in the store; look one up by identifier first, then by normalised name."""

    buyers: dict[str, BuyerEvidence]
    by_id: dict[str, str]
    by_name: dict[str, str]

    @classmethod
    def of(cls, facts: Iterable[AwardFact], last: int = LAST_CONTRACTS) -> "BuyerIndex":
        """Awards belong to one buyer when they share its identifier, or its normalised name (the same body
        registered twice, or named in a notice that gives no identifier)."""
        facts = list(facts)
        parent: dict[str, str] = {}

        def root(x: str) -> str:
            while parent.setdefault(x, x) != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        def labels(f: AwardFact) -> list[str]:
            name = normalise_name(f.buyer_name)
            return [x for x in (f"id:{f.buyer_id}" if f.buyer_id else "", f"name:{name}" if name else "") if x]

        for f in facts:
            own = labels(f)
            for other in own[1:]:
                a, b = root(own[0]), root(other)
                if a != b:
                    parent[max(a, b)] = min(a, b)  # "id:..." sorts before "name:...": an identifier names the group
        groups: dict[str, list[AwardFact]] = {}
        for f in facts:
            if own := labels(f):
                groups.setdefault(root(own[0]), []).append(f)
        by_id = {x[3:]: root(x) for x in parent if x.startswith("id:")}
        by_name = {x[5:]: root(x) for x in parent if x.startswith("name:")}
        buyers = {key: evidence_for(key, group, last) for key, group in groups.items()}
        return cls(buyers, by_id, by_name)

    def find(self, buyer_id: str | None, buyer_name: str | None) -> BuyerEvidence | None:
        if buyer_id:
            key = self.by_id.get(" ".join(buyer_id.split()).upper())
            if key:
                return self.buyers[key]
        key = self.by_name.get(normalise_name(buyer_name))
        return self.buyers.get(key) if key else None

    def line_for(self, buyer_id: str | None, buyer_name: str | None) -> str:
        found = self.find(buyer_id, buyer_name)
        return found.line() if found else NO_HISTORY

    def ranked(self) -> list[BuyerEvidence]:
        """Buyers by SME share (highest first), then by how many contracts that share is of, then name."""
        return sorted(self.buyers.values(),
                      key=lambda b: (b.sme_share is None, -(b.sme_share or 0.0), -b.contracts, b.name.casefold()))


# Release tags of a process that reached award (OCDS releaseTag); FTS award and contract details notice types.
AWARD_STAGES = ("award", "awardUpdate", "contract", "contractUpdate", "contractAmendment", "contractTermination",
                "implementation", "implementationUpdate")
AWARD_NOTICE_TYPES = ("award", "contract_details")
_cache: dict[tuple, BuyerIndex] = {}


def _award_condition():  # noqa: ANN202
    from sqlalchemy import or_
    from sqlmodel import col

    from matcher.store.models import Notice

    return or_(col(Notice.stage).in_(AWARD_STAGES), col(Notice.notice_type).in_(AWARD_NOTICE_TYPES))


def stored_award_facts(session) -> list[AwardFact]:  # noqa: ANN001
    """Every award stated by the award notices in the store."""
    from sqlmodel import select

    from matcher.store.models import Notice

    out: list[AwardFact] = []
    for key, raw in session.exec(select(Notice.key, Notice.raw).where(_award_condition())):
        out.extend(award_facts(key, raw or {}))
    return out


def buyer_index(session, last: int = LAST_CONTRACTS) -> BuyerIndex:  # noqa: ANN001
    """The store's buyers and their award figures; rebuilt only when the award notices changed."""
    from sqlalchemy import func
    from sqlmodel import select

    from matcher.store.models import Notice

    count, latest = session.exec(select(func.count(), func.max(Notice.last_seen)).where(_award_condition())).one()
    url = str(session.get_bind().url)
    stamp = (url, last, count, str(latest))
    if stamp not in _cache:
        for old in [k for k in _cache if k[0] == url]:
            del _cache[old]
        _cache[stamp] = BuyerIndex.of(stored_award_facts(session), last)
    return _cache[stamp]

