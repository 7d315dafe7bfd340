"""The profile form (sign-up and edit): read what was posted, check it, say what is wrong field by field.

Regions come only from the fixed list (REGION_CHOICES), never free text; CPV codes are 8 digits (a check digit
after a dash is allowed) and may be picked by label from the catalogue; emails are one or more addresses.
Nothing here touches the store: the pages pass in the form and get back the profile fields or the errors.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from matcher.match.regions import ALL_REGIONS, ENGLISH_REGIONS, NATIONS, regions_of
from matcher.schema import ProfileSpec

REGION_CHOICES = ("UK-wide", *ENGLISH_REGIONS, *NATIONS)
CADENCES = {"weekly": "Weekly digest", "daily": "Daily, new notices only (no email on a day with nothing new)"}
MAX_EMAILS = 5
MAX_KEYWORDS = 30
MAX_CPV = 20
MAX_CAPABILITIES = 5000
MAX_NAME = 200
CPV_IN_TEXT = re.compile(r"^\s*(\d{8})(?:-\d)?\b")
PLACEHOLDER_ID = "new-profile"


@dataclass
class ProfileForm:
    """The form's values as shown back to the person (strings), and the errors by field."""

    name: str = ""
    emails: str = ""
    capabilities: str = ""
    keywords: str = ""
    cpv: list[str] = field(default_factory=list)
    regions: list[str] = field(default_factory=list)
    value_min: str = ""
    value_max: str = ""
    cadence: str = "weekly"
    challenges: bool = False
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of_profile(cls, data: Mapping[str, Any]) -> "ProfileForm":
        """The form filled in from stored profile fields (a Profile's or a Signup's data)."""
        emails = [data.get("email") or "", *(data.get("extra_emails") or [])]
        money = lambda v: "" if v is None else f"{float(v):.0f}"  # noqa: E731
        return cls(name=data.get("name") or "", emails="\n".join(e for e in emails if e),
                   capabilities=data.get("capabilities") or "", keywords=", ".join(data.get("keywords") or []),
                   cpv=list(data.get("cpv") or []), regions=region_choices(data.get("regions") or []),
                   value_min=money(data.get("value_min")), value_max=money(data.get("value_max")),
                   cadence=data.get("cadence") or "weekly", challenges=bool(data.get("challenges")))


CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def clean(text: object) -> str:
    """Posted text without control characters (NUL and the like; line breaks and tabs stay), trimmed."""
    return CONTROL.sub("", text if isinstance(text, str) else "").strip()


def region_choices(stored: list[str]) -> list[str]:
    """The list's names for stored regions, as the matcher reads them ("England" is every English region, "UKK"
    the South West, "UK-wide" or none at all everywhere), so an edit keeps what the profile meant."""
    covered: set[str] = set()
    for name in stored:
        covered |= regions_of(name) or set()
    if not stored or covered >= ALL_REGIONS:
        return ["UK-wide"]
    return [r for r in REGION_CHOICES if r in covered]


def _split(text: str, pattern: str = r"[,;\n]") -> list[str]:
    seen: dict[str, None] = {}
    for part in re.split(pattern, text or ""):
        part = " ".join(part.split())
        if part and part.casefold() not in {s.casefold() for s in seen}:
            seen[part] = None
    return list(seen)


def _money(text: str, label: str, errors: dict[str, str], key: str) -> float | None:
    text = (text or "").replace(",", "").replace("£", "").strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        errors[key] = f"{label} must be a number of pounds, such as 25000"
        return None
    if not 0 <= value < 1e12:
        errors[key] = f"{label} must be between 0 and 1,000,000,000,000"
        return None
    return value


def cpv_code(text: str) -> str | None:
    """'72000000', '72000000-8' or '72000000 IT services' -> '72000000'; None when it is not a CPV code."""
    m = CPV_IN_TEXT.match(text or "")
    return m.group(1) if m else None


def read_form(form: Mapping[str, Any], getlist) -> tuple[ProfileForm, dict[str, Any] | None]:  # noqa: ANN001
    """(what to show back, the profile fields) from a posted form; the fields are None when anything is wrong.

    `getlist(name)` returns every value posted under a name (Starlette's FormData.getlist)."""
    raw_name = form.get("name") if isinstance(form.get("name"), str) else ""
    f = ProfileForm(
        name=clean(raw_name)[: MAX_NAME + 1],
        emails=clean(form.get("emails")),
        capabilities=clean(form.get("capabilities"))[: MAX_CAPABILITIES + 1],
        keywords=clean(form.get("keywords")),
        cpv=[clean(c) for c in getlist("cpv") if clean(c)],
        regions=[clean(r) for r in getlist("regions") if clean(r)],
        value_min=clean(form.get("value_min")),
        value_max=clean(form.get("value_max")),
        cadence=clean(form.get("cadence")) or "weekly",
        challenges=form.get("challenges") in ("on", "yes", "1", "true"),
    )
    e = f.errors
    if not f.name:
        e["name"] = "Enter your business name"
    elif len(f.name) > MAX_NAME or any(ord(c) < 32 for c in raw_name.strip()):
        e["name"] = f"The business name must be one line of at most {MAX_NAME} characters"
    emails = _split(f.emails, r"[,;\s]+")
    if not emails:
        e["emails"] = "Enter at least one email address"
    elif len(emails) > MAX_EMAILS:
        e["emails"] = f"At most {MAX_EMAILS} email addresses"
    if not f.capabilities:
        e["capabilities"] = "Describe what your business does, in your own words: we match on this text"
    elif len(f.capabilities) > MAX_CAPABILITIES:
        e["capabilities"] = f"At most {MAX_CAPABILITIES} characters, please"
    keywords = _split(f.keywords)
    if len(keywords) > MAX_KEYWORDS:
        e["keywords"] = f"At most {MAX_KEYWORDS} keywords"
    codes = []
    for raw in f.cpv:
        code = cpv_code(raw)
        if code is None:
            e["cpv"] = f"{raw[:40]!r} is not a CPV code: pick one from the list, or type its 8 digits"
            break
        if code not in codes:
            codes.append(code)
    if len(codes) > MAX_CPV:
        e["cpv"] = f"At most {MAX_CPV} CPV codes"
    unknown = [r for r in f.regions if r not in REGION_CHOICES]
    if unknown:
        e["regions"] = "Choose regions from the list"
    regions = [] if "UK-wide" in f.regions else [r for r in REGION_CHOICES if r in f.regions]
    vmin = _money(f.value_min, "The smallest contract value", e, "value_min")
    vmax = _money(f.value_max, "The largest contract value", e, "value_max")
    if vmin is not None and vmax is not None and vmin > vmax:
        e["value_max"] = "The largest value must not be below the smallest"
    if f.cadence not in CADENCES:
        e["cadence"] = "Choose how often you hear from us"
    data: dict[str, Any] = {
        "name": f.name, "email": emails[0] if emails else "", "extra_emails": emails[1:],
        "capabilities": f.capabilities, "keywords": keywords, "cpv": codes, "regions": regions or ["UK-wide"],
        "value_min": vmin, "value_max": vmax, "cadence": f.cadence, "challenges": f.challenges,
    }
    if not e:
        try:
            spec = ProfileSpec.model_validate({"id": PLACEHOLDER_ID, **data})
        except ValidationError as err:
            for x in err.errors():
                where = str(x["loc"][0]) if x["loc"] else "name"
                where = "emails" if where in ("email", "extra_emails") else where
                e.setdefault(where, _plain(x["msg"]))
        else:
            data["email"], data["extra_emails"] = spec.email, spec.extra_emails
    return f, (None if e else data)


def _plain(message: str) -> str:
    return message.removeprefix("Value error, ")
