"""get_weather -> Open-Meteo: geocode the place, then the daily forecast for the day(s) asked."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any, ClassVar

from intentforge.actions.base import ActionContext, resolved_iso, result
from intentforge.actions.policy import UpstreamDown, UpstreamRejected, http_request, json_object
from intentforge.actions.result import ActionResult, ActionStatus, Plan
from intentforge.catalogue import IntentCall

_SERVICE = "Open-Meteo"
FORECAST_DAYS = 16  # what the forecast API covers: today and the 15 days after it
_DAILY = "temperature_2m_max,temperature_2m_min,weather_code,precipitation_probability_max"
_TODAY_WORDS = {
    "today",
    "tonight",
    "now",
    "right now",
    "later",
    "later today",
    "this morning",
    "this afternoon",
    "this evening",
    "currently",
    "at the moment",
}

# WMO weather interpretation codes, as Open-Meteo documents them.
WMO_CODES: dict[int, str] = {
    0: "clear sky",
    1: "mainly clear",
    2: "partly cloudy",
    3: "overcast",
    45: "fog",
    48: "freezing fog",
    51: "light drizzle",
    53: "drizzle",
    55: "heavy drizzle",
    56: "light freezing drizzle",
    57: "freezing drizzle",
    61: "light rain",
    63: "rain",
    65: "heavy rain",
    66: "light freezing rain",
    67: "freezing rain",
    71: "light snow",
    73: "snow",
    75: "heavy snow",
    77: "snow grains",
    80: "light showers",
    81: "showers",
    82: "violent showers",
    85: "light snow showers",
    86: "snow showers",
    95: "thunderstorms",
    96: "thunderstorms with light hail",
    99: "thunderstorms with hail",
}


def weather_words(code: int | None) -> str:
    if code is None:
        return "no forecast"
    return WMO_CODES.get(int(code), f"weather code {code}")


def forecast_days(spoken: str | None, now: datetime) -> tuple[date, date] | None:
    """The first and last day meant by a spoken date, relative to `now` (the user's local time).

    Handles today/tonight, tomorrow, weekday names, "in 3 days", calendar dates, "this weekend",
    "this week", "next week". None when the text names no day.
    """
    today = now.date()
    if spoken is None:
        return today, today
    text = " ".join(spoken.casefold().replace(",", " ").split())
    for prefix in ("on ", "for "):
        text = text.removeprefix(prefix)
    if not text or text in _TODAY_WORDS:
        return today, today
    if "weekend" in text:
        if today.weekday() == 6 and "next" not in text:
            return today, today
        saturday = today + timedelta(days=(5 - today.weekday()) % 7)
        if "next" in text and today.weekday() < 5:
            saturday += timedelta(days=7)
        return max(saturday, today), saturday + timedelta(days=1)
    if text in ("this week", "the week", "the rest of the week"):
        return today, today + timedelta(days=6 - today.weekday())
    if text == "next week":
        monday = today + timedelta(days=7 - today.weekday())
        return monday, monday + timedelta(days=6)
    import dateparser  # slow to import; only needed here

    parsed = dateparser.parse(
        text,
        languages=["en"],
        settings={
            "RELATIVE_BASE": now.replace(tzinfo=None),
            "PREFER_DATES_FROM": "future",
            "RETURN_AS_TIMEZONE_AWARE": False,
        },
    )
    if parsed is None:
        return None
    return parsed.date(), parsed.date()


def _day_label(day: date, today: date) -> str:
    if day == today:
        return "Today"
    if day == today + timedelta(days=1):
        return "Tomorrow"
    if day - today < timedelta(days=7):
        return day.strftime("%A")
    return f"{day.strftime('%A')} {day.day} {day.strftime('%B')}"


class WeatherPlan(Plan):
    location: str
    start_date: date
    end_date: date
    label: str
    today: date


class OpenMeteoExecutor:
    """Weather from Open-Meteo's geocoding and forecast APIs (no key needed; read-only)."""

    name: ClassVar[str] = "open_meteo"
    side_effects: ClassVar[bool] = False
    credentials_hint: ClassVar[str] = ""
    plan_type: ClassVar[type[Plan]] = WeatherPlan

    def has_credentials(self, ctx: ActionContext) -> bool:
        return True

    def needs_confirmation(self, ctx: ActionContext) -> bool:
        return False

    def plan(self, call: IntentCall, ctx: ActionContext) -> WeatherPlan | ActionResult:
        location = call.parameters.get("location") or ctx.config.home_location
        if not location:
            return result(
                ActionStatus.NEEDS_CLARIFICATION,
                "Which place do you want the weather for? "
                "(Set actions.home_location to skip this question.)",
                error="missing_location",
            )
        spoken_date = call.parameters.get("date")
        # The runtime resolves one day; a span ("this weekend") keeps its own range here.
        own = forecast_days(spoken_date, ctx.now)
        days = own if own is not None and own[0] != own[1] else None
        days = days or _resolved_days(ctx.resolved) or own
        if days is None:
            return result(
                ActionStatus.NEEDS_CLARIFICATION,
                f"Which day do you mean by {spoken_date!r}?",
                {"date": spoken_date},
                "unknown_date",
            )
        start, end = days
        today = ctx.now.date()
        last = today + timedelta(days=FORECAST_DAYS - 1)
        if start < today or end > last:
            return result(
                ActionStatus.FAILED,
                f"I can only forecast from today to {_day_label(last, today)}, "
                f"not {spoken_date or start.isoformat()}.",
                {"start_date": start.isoformat(), "end_date": end.isoformat()},
                "date_out_of_range",
            )
        if start == end:
            label = _day_label(start, today)
        else:
            label = (spoken_date or f"{start.isoformat()} to {end.isoformat()}").strip()
            label = label[:1].upper() + label[1:]
        return WeatherPlan(
            summary=f"tell the weather in {location} for {label.lower()}",
            location=location,
            start_date=start,
            end_date=end,
            label=label,
            today=today,
        )

    def run(self, plan: Plan, ctx: ActionContext) -> ActionResult:
        assert isinstance(plan, WeatherPlan)
        try:
            place = self._geocode(plan.location, ctx)
            if place is None:
                return result(
                    ActionStatus.NEEDS_CLARIFICATION,
                    f"I couldn't find a place called {plan.location}; which town or city is it?",
                    {"location": plan.location},
                    "unknown_location",
                )
            days = self._forecast(place, plan, ctx)
        except UpstreamRejected as exc:
            return result(
                ActionStatus.FAILED,
                f"The weather service rejected the request: {exc.detail}.",
                {"upstream_status": exc.status},
                "upstream_rejected",
            )
        except UpstreamDown as exc:
            return result(
                ActionStatus.FAILED,
                "The weather service isn't answering right now; please try again in a minute.",
                {"reason": exc.reason},
                "upstream_down",
            )
        unit = days[0]["unit"] if days else "°C"
        parts = [
            (
                f"{round(d['temperature_max'])}{unit}, {weather_words(d['weather_code'])}"
                if d["temperature_max"] is not None
                else weather_words(d["weather_code"])
            )
            for d in days
        ]
        if len(days) == 1:
            reply = f"{plan.label} in {place['name']}: {parts[0]}."
        else:
            each = "; ".join(
                f"{_day_label(date.fromisoformat(d['date']), plan.today)} {p}"
                for d, p in zip(days, parts, strict=True)
            )
            reply = f"{plan.label} in {place['name']}: {each}."
        return result(
            ActionStatus.DONE,
            reply,
            {
                "location": {
                    k: place.get(k)
                    for k in ("name", "country", "admin1", "latitude", "longitude", "timezone")
                },
                "days": days,
            },
        )

    def _geocode(self, location: str, ctx: ActionContext) -> dict[str, Any] | None:
        """The best match for "London" or "Paris, Texas" (the part after a comma narrows it)."""
        name, _, qualifier = (p.strip() for p in location.partition(","))
        response = http_request(
            ctx.http,
            "GET",
            ctx.config.geocoding_url,
            service=_SERVICE,
            config=ctx.config,
            params={"name": name, "count": 10 if qualifier else 1, "language": "en"},
            sleep=ctx.sleep,
        )
        places = [
            p
            for p in json_object(response, _SERVICE).get("results") or []
            if isinstance(p, dict) and "latitude" in p and "longitude" in p and "name" in p
        ]
        if qualifier:
            wanted = qualifier.casefold()
            places = [
                p
                for p in places
                if any(
                    str(p.get(k, "")).casefold() == wanted
                    for k in ("country", "country_code", "admin1", "admin2")
                )
            ]
        return places[0] if places else None

    def _forecast(
        self, place: dict[str, Any], plan: WeatherPlan, ctx: ActionContext
    ) -> list[dict[str, Any]]:
        query: dict[str, Any] = {
            "latitude": place["latitude"],
            "longitude": place["longitude"],
            "daily": _DAILY,
            "timezone": "auto",
            "start_date": plan.start_date.isoformat(),
            "end_date": plan.end_date.isoformat(),
        }
        if ctx.config.temperature_unit != "celsius":
            query["temperature_unit"] = ctx.config.temperature_unit
        response = http_request(
            ctx.http,
            "GET",
            ctx.config.forecast_url,
            service=_SERVICE,
            config=ctx.config,
            params=query,
            sleep=ctx.sleep,
        )
        body = json_object(response, _SERVICE)
        daily = body.get("daily")
        if not isinstance(daily, dict) or not isinstance(daily.get("time"), list):
            raise UpstreamDown(_SERVICE, "forecast without daily values")
        unit = (body.get("daily_units") or {}).get("temperature_2m_max", "°C")
        days = []
        for i, day in enumerate(daily["time"]):

            def value(key: str, i: int = i) -> Any:
                column = daily.get(key)
                return column[i] if isinstance(column, list) and i < len(column) else None

            days.append(
                {
                    "date": day,
                    "temperature_max": value("temperature_2m_max"),
                    "temperature_min": value("temperature_2m_min"),
                    "weather_code": value("weather_code"),
                    "precipitation_probability_max": value("precipitation_probability_max"),
                    "unit": unit,
                }
            )
        if not days:
            raise UpstreamDown(_SERVICE, "forecast without any day")
        return days


def _resolved_days(resolved: Mapping[str, Any]) -> tuple[date, date] | None:
    """The runtime's resolved date(s), when it computed them."""
    start = resolved_iso(resolved, "date")
    if start is None:
        return None
    try:
        first = date.fromisoformat(start[:10])
        end = resolved_iso(resolved, "date_end")
        last = date.fromisoformat(end[:10]) if end else first
    except ValueError:
        return None
    return first, max(first, last)
