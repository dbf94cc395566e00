"""Open-Meteo's geocoding (/v1/search) and forecast (/v1/forecast) APIs on 127.0.0.1."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from servers.local_http import LocalHTTPServer, Reply, Request

PLACES = [
    {"name": "London", "latitude": 51.50853, "longitude": -0.12574, "country": "United Kingdom",
     "country_code": "GB", "admin1": "England", "timezone": "Europe/London"},
    {"name": "Paris", "latitude": 48.85341, "longitude": 2.3488, "country": "France",
     "country_code": "FR", "admin1": "Île-de-France", "timezone": "Europe/Paris"},
    {"name": "Paris", "latitude": 33.66094, "longitude": -95.55551, "country": "United States",
     "country_code": "US", "admin1": "Texas", "timezone": "America/Chicago"},
    {"name": "Berlin", "latitude": 52.52437, "longitude": 13.41053, "country": "Germany",
     "country_code": "DE", "admin1": "Land Berlin", "timezone": "Europe/Berlin"},
]  # fmt: skip

DAILY = (
    "temperature_2m_max",
    "temperature_2m_min",
    "weather_code",
    "precipitation_probability_max",
)


class OpenMeteoServer(LocalHTTPServer):
    """Forecasts exist for `today` and the 15 days after; `weather[date]` sets a day's values."""

    def __init__(self, today: date) -> None:
        super().__init__()
        self.today = today
        self.weather: dict[date, tuple[float, float, int, int]] = {}
        self.routes[("GET", "/v1/search")] = self._search
        self.routes[("GET", "/v1/forecast")] = self._forecast

    @property
    def geocoding_url(self) -> str:
        return self.url + "/v1/search"

    @property
    def forecast_url(self) -> str:
        return self.url + "/v1/forecast"

    def _search(self, request: Request) -> Reply:
        name = request.query.get("name", "").casefold()
        count = int(request.query.get("count", 10))
        found = [{"id": i + 1, **p} for i, p in enumerate(PLACES) if p["name"].casefold() == name][
            :count
        ]
        body: dict[str, Any] = {"generationtime_ms": 0.4}
        if found:  # like Open-Meteo, no "results" key at all when nothing matches
            body["results"] = found
        return Reply(200, body)

    def _forecast(self, request: Request) -> Reply:
        q = request.query
        missing = [k for k in ("latitude", "longitude") if k not in q]
        if missing:
            return Reply(400, {"error": True, "reason": f"Parameter '{missing[0]}' is required"})
        start = date.fromisoformat(q.get("start_date", self.today.isoformat()))
        end = date.fromisoformat(q.get("end_date", start.isoformat()))
        last = self.today + timedelta(days=15)
        if start < self.today - timedelta(days=92) or end > last or end < start:
            return Reply(
                400,
                {
                    "error": True,
                    "reason": f"Parameter 'end_date' is out of allowed range from "
                    f"{self.today - timedelta(days=92)} to {last}",
                },
            )
        requested = q.get("daily", "").split(",")
        unit = "°F" if q.get("temperature_unit") == "fahrenheit" else "°C"
        days = [start + timedelta(days=n) for n in range((end - start).days + 1)]
        values = [self.weather.get(d, (10.0 + d.day % 7, 4.0 + d.day % 5, 3, 20)) for d in days]
        if unit == "°F":
            values = [(hi * 9 / 5 + 32, lo * 9 / 5 + 32, c, p) for hi, lo, c, p in values]
        daily: dict[str, Any] = {"time": [d.isoformat() for d in days]}
        units: dict[str, str] = {"time": "iso8601"}
        for index, key in enumerate(DAILY):
            if key in requested:
                daily[key] = [v[index] for v in values]
                units[key] = (
                    unit
                    if key.startswith("temperature")
                    else ("%" if key.startswith("precipitation") else "wmo code")
                )
        return Reply(
            200,
            {
                "latitude": float(q["latitude"]),
                "longitude": float(q["longitude"]),
                "timezone": "GMT" if q.get("timezone") != "auto" else "Europe/London",
                "daily_units": units,
                "daily": daily,
            },
        )
