"""Build the constructed Find a Tender release packages the replay server serves (no real FTS release was
ever recorded: see matcher/data/replay/PROVENANCE.md). Deterministic; rerun after changing it:

    .venv/bin/python -m matcher.replay.fts_build

Each constructed release is a real Public Contracts Scotland or Sell2Wales release (bundled alongside)
republished the way Find a Tender republishes devolved notices (sources.md 2.1, 2.6, 5): its own ocid
`ocds-h6vhtk-hhhhhh` and notice id `nnnnnn-yyyy`, a release date the day after the original, the
originating portal's notice-page document dropped (FTS's page is /Notice/{id}), and for the Scottish
copies and some Welsh ones `links[rel=canonical]` back to the original (the href the original itself
carries). The other Welsh copies carry no link and small cross-posting differences (an '&' written
'and', a dash or full stop, the closing time written +00:00), to be caught by near-duplicate matching.
Two lifecycle releases are constructed too: an amendment (closing date a week later) and a cancellation.
Text, buyers, CPV codes, NUTS regions, values and dates otherwise come from the real releases.
"""
from __future__ import annotations

import copy
import hashlib
import json
from datetime import datetime, timedelta
from pathlib import Path

from matcher.replay.recordings import ENVELOPE_KEYS, data_dir, parse_time

OUT_DIR = "find_a_tender"
PUBLISHER = {"name": "Cabinet Office", "scheme": "GB-GOR", "uid": "D2",
             "uri": "https://www.gov.uk/government/organisations/cabinet-office"}
# Scottish and Welsh notices republished, and how (every 3rd Scottish one; most Welsh ones)
SCOTTISH_EVERY = 3
WELSH_LINKED_EVERY = 4  # every 4th Welsh copy keeps the canonical link; the rest carry none
WELSH_EVERY = 2
# same-portal look-alikes (same title, buyer and closing day on Sell2Wales itself): republished with a link,
# since without one no matcher could tell which of the two a copy is
WELSH_TWINS = {"ocds-kuma6s-148297", "ocds-kuma6s-148390", "ocds-kuma6s-148338", "ocds-kuma6s-148374"}
FIRST_NOTICE = {2019: 9101, 2025: 5501}  # notice numbers nnnnnn of the constructed ids, per year
FIRST_OCID = 0x04A000


def _z(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _load(folder: str) -> list[dict]:
    files = sorted(data_dir().joinpath(folder).iterdir(), key=lambda f: f.name)
    releases = [json.loads(f.read_text(encoding="utf-8")) for f in files if f.name.endswith(".json")]
    return sorted(releases, key=lambda r: (r["date"], r["ocid"]))


def _vary(release: dict, variant: int) -> None:
    """Cross-posting differences a copy without a link may show (variant 0: none)."""
    tender = release["tender"]
    if variant == 1:
        for holder in [release.get("buyer") or {}, *release.get("parties", [])]:
            if isinstance(holder.get("name"), str):
                holder["name"] = holder["name"].replace(" & ", " and ")
        tender["title"] = tender["title"].replace(" & ", " and ")
    elif variant == 2:
        tender["title"] = tender["title"].replace(" - ", " – ").rstrip(".")
        end = tender.get("tenderPeriod", {}).get("endDate")
        if isinstance(end, str) and end.endswith("Z"):
            tender["tenderPeriod"]["endDate"] = end[:-1] + "+00:00"


def _redact_contacts(value: object) -> None:
    """Contact people's names, emails and numbers replaced with "REDACTED", as the real FTS fixtures ship them
    (the Open Government Licence does not cover personal data)."""
    if isinstance(value, dict):
        contact = value.get("contactPoint")
        if isinstance(contact, dict):
            for key in ("name", "email", "telephone", "faxNumber"):
                if key in contact:
                    contact[key] = "REDACTED"
        for v in value.values():
            _redact_contacts(v)
    elif isinstance(value, list):
        for v in value:
            _redact_contacts(v)


def republish(release: dict, n: int, linked: bool, variant: int = 0) -> dict:
    """`release` as Find a Tender's copy number n, its contact people redacted."""
    out = copy.deepcopy(release)
    _redact_contacts(out)
    original = parse_time(release["date"])
    year = original.year
    out["id"] = f"{FIRST_NOTICE.get(year, 1) + n:06d}-{year}"
    out["ocid"] = f"ocds-h6vhtk-{FIRST_OCID + n:06x}"
    out["date"] = _z(original.replace(hour=0, minute=0, second=0) + timedelta(days=1, hours=9, minutes=7 * (n % 60)))
    out["tag"] = ["tender"]
    if linked:
        out["links"] = [link for link in release.get("links", []) if link.get("rel") == "canonical"]
    else:
        out.pop("links", None)
    tender = out["tender"]
    tender["documents"] = [d for d in tender.get("documents", []) if d.get("documentType") != "contractNotice"]
    if not tender["documents"]:
        tender.pop("documents")
    if not linked:
        _vary(out, variant)
    return out


def _next_notice(release: dict, taken: list[dict]) -> str:
    """A later notice about the same process has a notice id of its own (ids are per notice, not per process),
    the next one of its year: ids run without gaps within a year, as Find a Tender's do (sources.md 2.7)."""
    year = release["id"][-4:]
    return f"{max(int(r['id'][:6]) for r in taken if r['id'].endswith(year)) + 1:06d}-{year}"


def amended(release: dict, taken: list[dict], days_later: int = 2, extend_days: int = 7) -> dict:
    """A constructed tenderUpdate: the same notice, its closing date a week later."""
    out = copy.deepcopy(release)
    out["id"] = _next_notice(release, taken)
    out["date"] = _z(parse_time(release["date"]) + timedelta(days=days_later))
    out["tag"] = ["tenderUpdate"]
    period = out["tender"].setdefault("tenderPeriod", {})
    if period.get("endDate"):
        period["endDate"] = _z(parse_time(period["endDate"]) + timedelta(days=extend_days))
    return out


def cancelled(release: dict, taken: list[dict], days_later: int = 3) -> dict:
    """A constructed tenderCancellation of the same notice."""
    out = copy.deepcopy(release)
    out["id"] = _next_notice(release, taken)
    out["date"] = _z(parse_time(release["date"]) + timedelta(days=days_later))
    out["tag"] = ["tenderCancellation"]
    out["tender"]["status"] = "cancelled"
    return out


def build() -> list[dict]:
    """Every constructed release, oldest first."""
    out: list[dict] = []
    n = 0
    for i, release in enumerate(_load("public_contracts_scotland")):
        if i % SCOTTISH_EVERY == 0:
            out.append(republish(release, n, linked=True))
            n += 1
    welsh = 0
    for i, release in enumerate(_load("sell2wales")):
        if i % WELSH_EVERY and release["ocid"] not in WELSH_TWINS:
            continue
        linked = welsh % WELSH_LINKED_EVERY == 0 or release["ocid"] in WELSH_TWINS
        out.append(republish(release, n, linked=linked, variant=welsh % 3))
        n += 1
        welsh += 1
    scottish_linked = out[1]  # the second Scottish copy is amended ...
    welsh_unlinked = next(r for r in out if r["ocid"].startswith("ocds-h6vhtk") and "links" not in r)
    out.append(amended(scottish_linked, out))
    out.append(cancelled(welsh_unlinked, out))  # ... and the first Welsh copy without a link is cancelled
    return sorted(out, key=lambda r: (r["date"], r["ocid"]))


def packages(releases: list[dict], envelope: dict) -> dict[str, dict]:
    """One release package per year-month of release date, in the FTS package shape (sources.md 2.6)."""
    by_month: dict[str, list[dict]] = {}
    for r in releases:
        by_month.setdefault(r["date"][:7], []).append(r)
    out = {}
    for month, rels in by_month.items():
        package = {"uri": f"https://www.find-tender.service.gov.uk/api/1.0/ocdsReleasePackages?updatedFrom={month}-01T00:00:00",
                   "version": "1.1", "extensions": envelope.get("extensions", []),
                   "publishedDate": max(r["date"] for r in rels), "publisher": PUBLISHER}
        for key in ("license", "publicationPolicy"):
            if key in envelope:
                package[key] = envelope[key]
        package["releases"] = rels
        out[f"{OUT_DIR}/constructed_{month}.json"] = package
    return out


def _cf_envelope() -> dict:
    package = json.loads(data_dir().joinpath("contracts_finder", "search_2025-01-20_2025-01-23.json").read_text(encoding="utf-8"))
    env = {k: package[k] for k in ENVELOPE_KEYS if k in package}
    # the extensions both Cabinet Office services declare (sources.md 1.5, 2.6); FTS's other ones are not listed
    wanted = ("profiles/eu", "budget_breakdown", "suitability", "pagination")
    env["extensions"] = [e for e in env.get("extensions", []) if any(w in e for w in wanted)]
    return env


def manifest_entry(name: str, package: dict, body: bytes) -> dict:
    return {
        "source": "find_a_tender", "kind": "constructed_release_package", "constructed": True,
        "built_by": "matcher/replay/fts_build.py",
        "built_from": sorted({link["href"] for r in package["releases"] for link in r.get("links", [])}
                             | {f"{len(package['releases'])} releases republished from the bundled PCS/S2W recordings"}),
        "records": len(package["releases"]), "release_date_range": [package["releases"][0]["date"], package["releases"][-1]["date"]],
        "file": name, "bytes": len(body), "sha256": hashlib.sha256(body).hexdigest(),
        "content_type": "application/json",
        "licence": "Contains public sector information licensed under the Open Government Licence v3.0.",
    }


def main() -> None:
    root = Path(str(data_dir()))
    root.joinpath(OUT_DIR).mkdir(exist_ok=True)
    manifest_path = root / "manifest.json"
    manifest = [e for e in json.loads(manifest_path.read_text(encoding="utf-8")) if e["kind"] != "constructed_release_package"]
    for name, package in packages(build(), _cf_envelope()).items():
        body = (json.dumps(package, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
        root.joinpath(name).write_bytes(body)
        manifest.append(manifest_entry(name, package, body))
        print(f"wrote {name}: {len(package['releases'])} releases")
    manifest_path.write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
