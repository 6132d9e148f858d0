"""Analytics: DORA keys equal hand-computed values; insights come from the data; charts are written."""

from __future__ import annotations

import datetime as dt

import pytest

from patterns_planted import dora_history, friday_history, uniform_history
from predictor.errors import ValidationError
from predictor.patterns.analytics import AnalyticsQuery, analytics
from predictor.patterns.dora import failure_rate_band, frequency_band, lead_time_band, restore_band
from predictor.patterns.executions import History
from predictor.patterns.plots import write_plots

HOUR = 3600.0
END = dt.datetime(2026, 3, 11)


def _dora_result(**query):
    deployments, rollbacks = dora_history()
    return analytics(History.from_records(deployments, rollbacks),
                     AnalyticsQuery(environment="production", days=10, as_of=END, **query))


def test_dora_keys_equal_hand_computed_values():
    # window (03-01 00:00, 03-11 00:00]; finished production runs p1 p2 p3 p4 p5 p6 p8 p9 (p7 cancelled,
    # s1 is staging, "old" is before the window)
    dora = _dora_result()["dora"]
    assert dora["environment"] == "production"
    frequency = dora["deployment_frequency"]
    assert frequency["value"] == pytest.approx(8 / 10) and frequency["band"] == "high"
    # lead times of successes with a commit time: p1 2.5 h, p3 5 h 20 min, p5 24 h, p9 4 h -> median 4 h 40 min
    lead = dora["lead_time"]
    assert lead["value"] == pytest.approx((4 + 16 / 3) / 2 * HOUR) and lead["measured"] == 4
    assert lead["band"] == "elite"
    # failures p2 (failure), p4 (rolled-back), p8 (partial) of 8
    failure_rate = dora["change_failure_rate"]
    assert failure_rate["value"] == pytest.approx(3 / 8) and failure_rate["band"] == "low"
    # restore: p2 -> end of p3 = 4 h; p4 -> its rollback's recovery 1800 s; p8 -> end of p9 = 24 h
    restore = dora["time_to_restore"]
    assert restore["value"] == pytest.approx(4 * HOUR) and restore["measured"] == 3 and restore["unrestored"] == 0
    assert restore["band"] == "high"
    # halves split at 03-06 00:00: p1..p5 then p6 p8 p9
    assert (frequency["first_half"], frequency["second_half"], frequency["trend"]) == (
        pytest.approx(1.0), pytest.approx(0.6), "worsening")
    assert (failure_rate["first_half"], failure_rate["second_half"], failure_rate["trend"]) == (
        pytest.approx(0.4), pytest.approx(1 / 3), "improving")
    assert (lead["first_half"], lead["second_half"], lead["trend"]) == (
        pytest.approx(16 / 3 * HOUR), pytest.approx(4 * HOUR), "improving")
    assert (restore["first_half"], restore["second_half"], restore["trend"]) == (
        pytest.approx((4 * HOUR + 1800) / 2), pytest.approx(24 * HOUR), "worsening")


def test_rates_durations_and_mttr_on_the_small_history():
    result = _dora_result()
    assert (result["deployments"], result["finished"], result["failures"]) == (9, 8, 3)
    assert result["success_rate"] == pytest.approx(5 / 8)
    assert result["failure_rate"] == pytest.approx(3 / 8)
    assert result["rollback_rate"] == pytest.approx(1 / 8)
    assert result["mttr_seconds"] == pytest.approx((4 * HOUR + 1800 + 24 * HOUR) / 3)
    # durations 30, 20, 20, 10, 30, 10, 30, 30 min
    assert result["duration"]["median_seconds"] == pytest.approx(25 * 60)
    assert result["duration"]["mean_seconds"] == pytest.approx(22.5 * 60)
    assert result["deployment_frequency_per_day"] == pytest.approx(0.8)
    assert [d["deployments"] for d in result["daily"]][:3] == [1, 2, 0]


def test_metrics_select_what_is_reported():
    result = _dora_result(metrics=["duration"])
    assert "duration" in result and "dora" not in result and "success_rate" not in result
    with pytest.raises(ValidationError) as caught:
        AnalyticsQuery.from_params({"metrics": ["duration", "velocity"]})
    assert caught.value.field == "params.metrics" and "'velocity'" in str(caught.value)


@pytest.mark.parametrize("band, value, expected", [
    (frequency_band, 1.0, "elite"), (frequency_band, 0.2, "high"), (frequency_band, 0.05, "medium"),
    (frequency_band, 0.01, "low"), (lead_time_band, 3 * HOUR, "elite"), (lead_time_band, 3 * 24 * HOUR, "high"),
    (lead_time_band, 20 * 24 * HOUR, "medium"), (lead_time_band, 90 * 24 * HOUR, "low"),
    (failure_rate_band, 0.05, "elite"), (failure_rate_band, 0.08, "high"), (failure_rate_band, 0.15, "medium"),
    (failure_rate_band, 0.2, "low"), (restore_band, 1800, "elite"), (restore_band, 5 * HOUR, "high"),
    (restore_band, 3 * 24 * HOUR, "medium"), (restore_band, 30 * 24 * HOUR, "low"), (restore_band, None, None),
])
def test_dora_bands(band, value, expected):
    assert band(value) == expected


def test_planted_friday_evening_failures_become_an_insight():
    result = analytics(History.from_records(friday_history()), AnalyticsQuery(days=200, metrics=["insights"]))
    texts = [i["text"] for i in result["insights"]]
    friday = next(i for i in result["insights"] if i["segment"] == "on Fridays after 16:00")
    assert friday["ratio"] > 2.5 and friday["support"] == 60
    assert friday["text"].startswith("failures on Fridays after 16:00 are ")
    assert "× the rate at other times" in friday["text"]
    # the broader segments containing it are not repeated
    assert not any(t.startswith("failures on Fridays (") or t.startswith("failures after 16:00 (") for t in texts)


def test_no_insight_is_invented_from_uniform_data():
    result = analytics(History.from_records(uniform_history()), AnalyticsQuery(days=200))
    assert result["insights"] == []
    assert "no segment stands out" in result["note"]


def test_plots_are_png_files(tmp_path):
    result = analytics(History.from_records(friday_history()), AnalyticsQuery(days=200))
    written = write_plots(result, tmp_path / "charts")
    assert [p.name for p in written] == ["deployments.png", "durations.png", "dora.png", "insights.png"]
    for path in written:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5000


def test_empty_history_answers_with_a_note():
    result = analytics(History(), AnalyticsQuery())
    assert result["finished"] == 0 and result["success_rate"] is None
    assert result["dora"]["deployment_frequency"]["value"] == 0
    assert result["note"] == "no deployment history yet: ingest or record executions first"
