"""Metadata and status numbers read by people are rounded: percentages, money, plain floats."""

from lead_assets.core.for_people import for_people


def test_shares_become_percentages_and_money_is_in_cents():
    out = for_people({"email_availability": 0.78412367, "spend_usd": 508.79126, "cost_per_qualified_lead": 0.27613,
                      "avg_quality_score": 92.14285, "unique": 2112, "duplicate_rate": 0.0222, "ok": True,
                      "rate_per_hour": 1234.5678})
    assert out == {"email_availability_pct": 78.4, "spend_usd": 508.79, "cost_per_qualified_lead": 0.2761,
                   "avg_quality_score": 92.14, "unique": 2112, "duplicate_rate_pct": 2.2, "ok": True,
                   "rate_per_hour": 1234.57}


def test_json_keys_stay_stable_with_fractions_rounded():
    out = for_people({"validation_rate": 0.996212, "spend_usd": 1.23456}, shares_as_pct=False)
    assert out == {"validation_rate": 0.9962, "spend_usd": 1.23}
