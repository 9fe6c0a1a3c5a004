"""The search plan: deterministic slices, their hours, and the split order at the cap."""

from lead_assets.config.settings import sprint_config
from lead_assets.pipeline.search_plan import EMPLOYEE_RANGES, Slice, assign_hours, hour_keys, plan_slices

ROLES = tuple((r.role, r.aliases) for r in sprint_config().target_roles)


def test_plan_covers_every_role_and_metro_once():
    cfg = sprint_config()
    slices = plan_slices(ROLES, cfg.locations)
    assert len(slices) == len(cfg.role_names) * len(cfg.locations)
    assert len({s.key for s in slices}) == len(slices)
    assert {(s.titles[0], s.locations[0]) for s in slices} == {(r, loc) for r in cfg.role_names for loc in cfg.locations}
    ppc = next(s for s in slices if s.titles[0] == "PPC Manager")
    # the role's aliases are searched too, without repeating the role's own name
    assert "pay per click manager" in ppc.titles and "ppc manager" not in ppc.titles


def test_every_hour_gets_work_and_the_assignment_is_stable():
    cfg = sprint_config()
    slices = plan_slices(ROLES, cfg.locations)
    first = assign_hours(slices, cfg.start, cfg.hours)
    assert first == assign_hours(slices, cfg.start, cfg.hours)
    assert set(first.values()) == set(hour_keys(cfg.start, cfg.hours))
    per_hour = {}
    for h in first.values():
        per_hour[h] = per_hour.get(h, 0) + 1
    assert max(per_hour.values()) - min(per_hour.values()) <= 1


def test_hour_keys_match_dagster_hourly_format():
    assert hour_keys("2026-11-27-22:00", 3) == ["2026-11-27-22:00", "2026-11-27-23:00", "2026-11-28-00:00"]


def test_split_order_is_title_then_location_then_company_size():
    top = Slice("all", ("PPC Manager", "Media Buyer"), ("Austin, Texas", "Miami, Florida"))
    by_title = top.split()
    assert [c.titles for c in by_title] == [("PPC Manager",), ("Media Buyer",)]
    assert all(c.locations == top.locations for c in by_title)
    by_location = by_title[0].split()
    assert [c.locations for c in by_location] == [("Austin, Texas",), ("Miami, Florida",)]
    by_size = by_location[0].split()
    assert [c.employee_ranges for c in by_size] == [(r,) for r in EMPLOYEE_RANGES]
    assert by_size[0].split() == []  # nothing left to split on: the caller records it as capped
    assert by_size[0].parent_key == by_location[0].key


def test_slice_round_trips_through_its_query():
    s = Slice("k", ("PPC Manager",), ("Austin, Texas",), ("1,10",), parent_key="p")
    again = Slice.from_query("k", s.query_json(), "p")
    assert again == s
    assert s.query()["organization_num_employees_ranges"] == ["1,10"]
