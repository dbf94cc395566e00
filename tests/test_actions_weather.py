"""get_weather against local servers that follow Open-Meteo's geocoding and forecast APIs."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest

from intentforge.actions import ActionRunner, ActionStatus
from intentforge.actions.weather import forecast_days, weather_words
from intentforge.config import load_settings
from intentforge.secrets import Secrets
from servers.open_meteo import OpenMeteoServer


def make_runner(tmp_path: Path, server: OpenMeteoServer, **actions: Any) -> ActionRunner:
    settings = load_settings(
        None,
        {
            "actions": {
                "geocoding_url": server.geocoding_url,
                "forecast_url": server.forecast_url,
                "state_dir": str(tmp_path / "state"),
                "timeout_s": 2.0,
                "retry_backoff_s": 0.0,
                **actions,
            }
        },
    )
    return ActionRunner(settings, Secrets())


def weather(**parameters: Any) -> dict[str, Any]:
    return {"intent": "get_weather", "parameters": parameters}


def noon(day: date) -> datetime:
    return datetime.combine(day, time(12), UTC)


def test_tomorrow_in_london(tmp_path, open_meteo_server):
    today = open_meteo_server.today
    open_meteo_server.weather[today + timedelta(days=1)] = (14.2, 8.1, 61, 80)
    runner = make_runner(tmp_path, open_meteo_server)
    result = runner.act(weather(location="London", date="tomorrow"), now=noon(today))
    assert result.status == ActionStatus.DONE
    assert result.reply == "Tomorrow in London: 14°C, light rain."
    [search] = open_meteo_server.calls("GET", "/v1/search")
    assert search.query == {"name": "London", "count": "1", "language": "en"}
    [forecast] = open_meteo_server.calls("GET", "/v1/forecast")
    tomorrow = (today + timedelta(days=1)).isoformat()
    assert forecast.query == {
        "latitude": "51.50853",
        "longitude": "-0.12574",
        "daily": "temperature_2m_max,temperature_2m_min,weather_code,precipitation_probability_max",
        "timezone": "auto",
        "start_date": tomorrow,
        "end_date": tomorrow,
    }
    [day] = result.data["days"]
    assert day == {
        "date": tomorrow,
        "temperature_max": 14.2,
        "temperature_min": 8.1,
        "weather_code": 61,
        "precipitation_probability_max": 80,
        "unit": "°C",
    }
    assert result.data["location"]["country"] == "United Kingdom"


def test_no_location_uses_home_location(tmp_path, open_meteo_server):
    runner = make_runner(tmp_path, open_meteo_server, home_location="Berlin")
    result = runner.act(weather(), now=noon(open_meteo_server.today))
    assert result.status == ActionStatus.DONE
    assert result.reply.startswith("Today in Berlin: ")


def test_no_location_and_no_home_asks_which_place(tmp_path, open_meteo_server):
    result = make_runner(tmp_path, open_meteo_server).act(weather(date="tomorrow"))
    assert result.status == ActionStatus.NEEDS_CLARIFICATION
    assert result.error == "missing_location"
    assert "home_location" in result.reply
    assert open_meteo_server.requests == []


def test_unknown_city_is_a_clear_reply(tmp_path, open_meteo_server):
    runner = make_runner(tmp_path, open_meteo_server)
    result = runner.act(weather(location="Atlantis"), now=noon(open_meteo_server.today))
    assert result.status == ActionStatus.NEEDS_CLARIFICATION
    assert result.error == "unknown_location"
    assert result.reply == "I couldn't find a place called Atlantis; which town or city is it?"
    assert open_meteo_server.calls("GET", "/v1/forecast") == []


def test_qualified_place_picks_the_matching_one(tmp_path, open_meteo_server):
    runner = make_runner(tmp_path, open_meteo_server)
    result = runner.act(weather(location="Paris, Texas"), now=noon(open_meteo_server.today))
    assert result.data["location"]["admin1"] == "Texas"
    [forecast] = open_meteo_server.calls("GET", "/v1/forecast")
    assert forecast.query["latitude"] == "33.66094"
    unknown = runner.act(weather(location="Paris, Spain"), now=noon(open_meteo_server.today))
    assert unknown.error == "unknown_location"


def test_date_beyond_the_forecast_is_a_clear_reply(tmp_path, open_meteo_server):
    runner = make_runner(tmp_path, open_meteo_server)
    far = open_meteo_server.today + timedelta(days=16)
    result = runner.act(
        weather(location="London", date="in a few weeks"),
        resolved={"date_iso": far.isoformat()},
        now=noon(open_meteo_server.today),
    )
    assert result.status == ActionStatus.FAILED
    assert result.error == "date_out_of_range"
    assert result.reply.startswith("I can only forecast from today to ")
    assert open_meteo_server.requests == []
    last = open_meteo_server.today + timedelta(days=15)
    ok = runner.act(
        weather(location="London"),
        resolved={"date_iso": last.isoformat()},
        now=noon(open_meteo_server.today),
    )
    assert ok.status == ActionStatus.DONE


def test_resolved_date_wins_over_own_parsing(tmp_path, open_meteo_server):
    runner = make_runner(tmp_path, open_meteo_server)
    day = open_meteo_server.today + timedelta(days=3)
    runner.act(
        weather(location="London", date="on the third day"),
        resolved={"date": {"text": "on the third day", "iso": day.isoformat()}},
        now=noon(open_meteo_server.today),
    )
    [forecast] = open_meteo_server.calls("GET", "/v1/forecast")
    assert forecast.query["start_date"] == day.isoformat()


def test_unparseable_date_asks_which_day(tmp_path, open_meteo_server):
    runner = make_runner(tmp_path, open_meteo_server)
    result = runner.act(weather(location="London", date="when pigs fly"))
    assert result.status == ActionStatus.NEEDS_CLARIFICATION
    assert result.error == "unknown_date"


def test_weekend_is_a_two_day_reply(tmp_path, open_meteo_server):
    runner = make_runner(tmp_path, open_meteo_server)
    wednesday = open_meteo_server.today + timedelta(
        days=(2 - open_meteo_server.today.weekday()) % 7
    )
    result = runner.act(weather(location="London", date="this weekend"), now=noon(wednesday))
    assert result.status == ActionStatus.DONE
    assert result.reply.startswith("This weekend in London: Saturday ")
    assert "; Sunday " in result.reply
    assert len(result.data["days"]) == 2


def test_fahrenheit_is_passed_through(tmp_path, open_meteo_server):
    runner = make_runner(tmp_path, open_meteo_server, temperature_unit="fahrenheit")
    open_meteo_server.weather[open_meteo_server.today] = (20.0, 10.0, 0, 0)
    result = runner.act(weather(location="London"), now=noon(open_meteo_server.today))
    assert result.reply == "Today in London: 68°F, clear sky."


def test_weather_runs_in_dry_run_mode_because_it_changes_nothing(tmp_path, open_meteo_server):
    runner = make_runner(tmp_path, open_meteo_server, dry_run=True)
    result = runner.act(weather(location="London"), now=noon(open_meteo_server.today))
    assert result.status == ActionStatus.DONE


def test_down_forecast_service_is_reported(tmp_path, open_meteo_server):
    runner = make_runner(tmp_path, open_meteo_server, max_retries=1)
    open_meteo_server.fail(503, times=2)
    result = runner.act(weather(location="London"), now=noon(open_meteo_server.today))
    assert result.status == ActionStatus.FAILED
    assert result.error == "upstream_down"
    assert result.reply.startswith("The weather service isn't answering")
    assert len(open_meteo_server.requests) == 2


def test_rejected_request_is_not_retried(tmp_path, open_meteo_server):
    runner = make_runner(tmp_path, open_meteo_server, max_retries=3)
    open_meteo_server.fail(400, body={"error": True, "reason": "Cannot initialize from string"})
    result = runner.act(weather(location="London"), now=noon(open_meteo_server.today))
    assert result.status == ActionStatus.FAILED
    assert (
        result.reply == "The weather service rejected the request: Cannot initialize from string."
    )
    assert len(open_meteo_server.requests) == 1


def test_slow_service_times_out(tmp_path, open_meteo_server):
    runner = make_runner(tmp_path, open_meteo_server, timeout_s=0.2, max_retries=0)
    open_meteo_server.stall(1.0)
    result = runner.act(weather(location="London"), now=noon(open_meteo_server.today))
    assert result.error == "upstream_down"


WEDNESDAY = datetime(2026, 11, 25, 21, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("spoken", "first", "last"),
    [
        (None, "2026-11-25", "2026-11-25"),
        ("tonight", "2026-11-25", "2026-11-25"),
        ("tomorrow", "2026-11-26", "2026-11-26"),
        ("on Friday", "2026-11-27", "2026-11-27"),
        ("monday", "2026-11-30", "2026-11-30"),
        ("in 3 days", "2026-11-28", "2026-11-28"),
        ("December 3rd", "2026-12-03", "2026-12-03"),
        ("this weekend", "2026-11-28", "2026-11-29"),
        ("next weekend", "2026-12-05", "2026-12-06"),
        ("this week", "2026-11-25", "2026-11-29"),
        ("next week", "2026-11-30", "2026-12-06"),
    ],
)
def test_spoken_dates_resolve_to_forecast_days(spoken, first, last):
    start, end = forecast_days(spoken, WEDNESDAY) or (None, None)
    assert (str(start), str(end)) == (first, last)


def test_weekend_asked_on_sunday_is_today():
    sunday = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)
    assert forecast_days("this weekend", sunday) == (date(2026, 11, 29), date(2026, 11, 29))


def test_weather_codes_have_words():
    assert weather_words(0) == "clear sky"
    assert weather_words(95) == "thunderstorms"
    assert weather_words(42) == "weather code 42"
