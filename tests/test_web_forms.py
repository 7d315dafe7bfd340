"""The profile form read on its own: field-by-field errors, regions only from the list, CPV codes by label or
digits, and a stored profile shown back so that saving it unchanged keeps what it meant."""
from __future__ import annotations

from starlette.datastructures import FormData

from matcher.web.forms import ProfileForm, read_form, region_choices


def _read(**fields):
    items = []
    for k, v in fields.items():
        items += [(k, x) for x in (v if isinstance(v, list) else [v])]
    form = FormData(items)
    return read_form(form, form.getlist)


GOOD = dict(name="Acme", emails="a@example.org, b@example.org", capabilities="Websites", keywords="web, web, site",
            cpv=["72000000 IT services: consulting", "", "79340000-9"], regions=["London", "South East"],
            value_min="£10,000", value_max="50000", cadence="weekly", challenges="on")


def test_a_good_form_gives_the_profile_fields():
    _, data = _read(**GOOD)
    assert data == {"name": "Acme", "email": "a@example.org", "extra_emails": ["b@example.org"],
                    "capabilities": "Websites", "keywords": ["web", "site"], "cpv": ["72000000", "79340000"],
                    "regions": ["London", "South East"], "value_min": 10000.0, "value_max": 50000.0,
                    "cadence": "weekly", "challenges": True}


def test_a_daily_cadence_is_taken_and_a_stored_daily_profile_is_shown_as_daily():
    _, data = _read(**{**GOOD, "cadence": "daily"})
    assert data["cadence"] == "daily"
    assert ProfileForm.of_profile({**data, "email": "a@example.org"}).cadence == "daily"


def test_each_bad_field_gets_its_own_message_and_nothing_is_returned():
    f, data = _read(**{**GOOD, "name": "Two\nlines", "emails": "not-an-address", "regions": ["Narnia"],
                       "cpv": ["IT services"], "value_min": "lots", "cadence": "hourly"})
    assert data is None
    assert set(f.errors) == {"name", "regions", "cpv", "value_min", "cadence"}  # emails is checked once the rest is
    f, data = _read(**{**GOOD, "emails": "not-an-address"})
    assert data is None and "emails" in f.errors
    f, _ = _read(**{**GOOD, "value_min": "900", "value_max": "100"})
    assert f.errors == {"value_max": "The largest value must not be below the smallest"}


def test_uk_wide_or_no_region_means_everywhere():
    assert _read(**{**GOOD, "regions": ["UK-wide", "London"]})[1]["regions"] == ["UK-wide"]
    assert _read(**{**GOOD, "regions": []})[1]["regions"] == ["UK-wide"]


def test_a_stored_profile_is_shown_with_the_list_names_it_means():
    assert region_choices(["England"])[0] == "North East" and len(region_choices(["England"])) == 9
    assert region_choices(["UKK1", "Yorkshire"]) == ["Yorkshire and the Humber", "South West"]
    assert region_choices([]) == ["UK-wide"]
    shown = ProfileForm.of_profile({"name": "Acme", "email": "a@example.org", "extra_emails": ["b@example.org"],
                                    "capabilities": "Websites", "regions": ["South West England"], "value_min": 10000})
    assert shown.emails == "a@example.org\nb@example.org" and shown.regions == ["South West"] and shown.value_min == "10000"
