"""Todoist's unified API v1 (tasks and projects), as documented, in memory on 127.0.0.1."""

from __future__ import annotations

import itertools
from typing import Any

from servers.local_http import LocalHTTPServer, Reply, Request

PREFIX = "/api/v1"


class TodoistServer(LocalHTTPServer):
    """Bearer-token auth, cursor-paginated GET /projects, POST /projects, POST /tasks.

    Like Todoist, a POST repeated with the same X-Request-Id is not executed twice.
    """

    def __init__(self, token: str, projects: list[str] = (), page_size: int = 2) -> None:  # type: ignore[assignment]
        super().__init__()
        self.token = token
        self.page_size = page_size
        self._ids = itertools.count(6000000001)
        self.projects: list[dict[str, Any]] = [self._project("Inbox", inbox=True)]
        self.projects += [self._project(name) for name in projects]
        self.tasks: list[dict[str, Any]] = []
        self._seen_request_ids: dict[str, Reply] = {}
        self.routes[("GET", f"{PREFIX}/projects")] = self._authorised(self._list_projects)
        self.routes[("POST", f"{PREFIX}/projects")] = self._authorised(
            self._once(self._add_project)
        )
        self.routes[("POST", f"{PREFIX}/tasks")] = self._authorised(self._once(self._add_task))

    @property
    def base_url(self) -> str:
        return self.url + PREFIX

    def _project(self, name: str, inbox: bool = False) -> dict[str, Any]:
        return {"id": str(next(self._ids)), "name": name, "inbox_project": inbox, "color": "grey"}

    def _authorised(self, route: Any) -> Any:
        def check(request: Request) -> Reply:
            if request.headers.get("authorization") != f"Bearer {self.token}":
                return Reply(401, {"error": "Unauthorized"})
            return route(request)

        return check

    def _once(self, route: Any) -> Any:
        def dedupe(request: Request) -> Reply:
            request_id = request.headers.get("x-request-id")
            if request_id and request_id in self._seen_request_ids:
                return self._seen_request_ids[request_id]
            reply: Reply = route(request)
            if request_id and reply.status < 300:
                self._seen_request_ids[request_id] = reply
            return reply

        return dedupe

    def _list_projects(self, request: Request) -> Reply:
        limit = min(int(request.query.get("limit", 50)), self.page_size)
        start = int(request.query.get("cursor") or 0)
        page = self.projects[start : start + limit]
        more = start + limit < len(self.projects)
        return Reply(200, {"results": page, "next_cursor": str(start + limit) if more else None})

    def _add_project(self, request: Request) -> Reply:
        body = request.body or {}
        if not isinstance(body.get("name"), str) or not body["name"]:
            return Reply(400, {"error": "Argument name is missing"})
        project = self._project(body["name"])
        self.projects.append(project)
        return Reply(200, project)

    def _add_task(self, request: Request) -> Reply:
        body = request.body or {}
        if not isinstance(body, dict) or not body.get("content"):
            return Reply(400, {"error": "Argument content is missing"})
        if body.get("priority", 1) not in (1, 2, 3, 4):
            return Reply(400, {"error": "Invalid argument value: priority"})
        dues = [k for k in ("due_string", "due_date", "due_datetime") if k in body]
        if len(dues) > 1:
            return Reply(400, {"error": "Only one of due_string, due_date, due_datetime"})
        project_id = body.get("project_id", self.projects[0]["id"])
        if all(p["id"] != project_id for p in self.projects):
            return Reply(404, {"error": "Project not found"})
        due = None
        if dues:
            value = body[dues[0]]
            due = {
                "string": value,
                "date": value[:10] if dues[0] != "due_string" else None,
                "datetime": value if dues[0] == "due_datetime" else None,
                "is_recurring": False,
                "timezone": None,
                "lang": body.get("due_lang", "en"),
            }
        task_id = str(next(self._ids))
        task = {
            "id": task_id,
            "content": body["content"],
            "project_id": project_id,
            "priority": body.get("priority", 1),
            "due": due,
            "labels": [],
            "url": f"https://app.todoist.com/app/task/{task_id}",
        }
        self.tasks.append(task)
        return Reply(200, task)
