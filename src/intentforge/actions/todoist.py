"""add_task -> Todoist (unified API v1): find or create the project, then create the task."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar

from intentforge.actions.base import (
    ActionContext,
    quoted,
    rejected,
    resolved_iso,
    result,
    spoken_list,
    unreachable,
)
from intentforge.actions.policy import UpstreamDown, UpstreamRejected, http_request, json_object
from intentforge.actions.result import ActionResult, ActionStatus, Plan
from intentforge.catalogue import IntentCall

_SERVICE = "Todoist"
_PAGE_LIMIT = 200
_MAX_PAGES = 50
_LIST_SUFFIXES = (" list", " project", " folder")


class TaskPlan(Plan):
    content: str
    due_spoken: str | None = None
    due_string: str | None = None
    due_date: str | None = None
    due_datetime: str | None = None
    priority: int | None = None
    project: str | None = None

    def payload(self, project_id: str | None) -> dict[str, Any]:
        """The body of POST /tasks. Todoist's priority runs the other way: 4 is its urgent p1."""
        body: dict[str, Any] = {"content": self.content}
        for key in ("due_string", "due_date", "due_datetime"):
            value = getattr(self, key)
            if value is not None:
                body[key] = value
        if self.due_string is not None:
            body["due_lang"] = "en"
        if self.priority is not None:
            body["priority"] = 5 - self.priority
        if project_id is not None:
            body["project_id"] = project_id
        return body


def _due_fields(spoken: str | None, due_iso: str | None) -> dict[str, str]:
    """Prefer the runtime's resolved date (exact, in the user's zone); keep Todoist's own parser
    for what a single date cannot say ("every monday") or when nothing was resolved."""
    if spoken is None:
        return {}
    if due_iso is None or "every" in spoken.lower().split():
        return {"due_string": spoken}
    try:
        when = datetime.fromisoformat(due_iso)
    except ValueError:
        return {"due_string": spoken}
    if "T" not in due_iso:
        return {"due_date": when.date().isoformat()}
    if when.tzinfo is None:
        # A wall-clock time without a zone: let Todoist place it in the user's own zone.
        return {"due_string": when.strftime("%Y-%m-%d %H:%M")}
    return {"due_datetime": when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}


def _headers(ctx: ActionContext, request_id: str | None = None) -> dict[str, str]:
    token = ctx.secrets.todoist_api_token
    assert token is not None
    headers = {"Authorization": f"Bearer {token.get_secret_value()}"}
    if request_id is not None:
        headers["X-Request-Id"] = request_id
    return headers


class TodoistExecutor:
    """Creates tasks through Todoist's REST API (`actions.todoist_base_url`)."""

    name: ClassVar[str] = "todoist"
    side_effects: ClassVar[bool] = True
    credentials_hint: ClassVar[str] = "set TODOIST_API_TOKEN"
    plan_type: ClassVar[type[Plan]] = TaskPlan

    def has_credentials(self, ctx: ActionContext) -> bool:
        return ctx.secrets.todoist_api_token is not None

    def needs_confirmation(self, ctx: ActionContext) -> bool:
        return ctx.config.confirm_tasks

    def plan(self, call: IntentCall, ctx: ActionContext) -> TaskPlan:
        params = call.parameters
        content = str(params["content"])
        due = params.get("due")
        project = params.get("project")
        where = f" to {project}" if project else " to Inbox"
        when = f", due {due}" if due else ""
        return TaskPlan(
            summary=f"add {quoted(content)}{where}{when}",
            question=f"Shall I add {quoted(content)}{where}{when}?",
            content=content,
            due_spoken=due,
            priority=params.get("priority"),
            project=project,
            **_due_fields(due, resolved_iso(ctx.resolved, "due")),
        )

    def run(self, plan: Plan, ctx: ActionContext) -> ActionResult:
        assert isinstance(plan, TaskPlan)
        try:
            return self._run(plan, ctx)
        except UpstreamRejected as exc:
            if exc.status in (401, 403):
                reply = "Todoist refused the API token; check TODOIST_API_TOKEN."
            else:
                reply = f"Todoist rejected the task: {exc.detail}."
            return rejected(reply, exc.status)
        except UpstreamDown as exc:
            return unreachable(
                "Todoist isn't answering right now; please try again in a minute.", exc.reason
            )

    def _run(self, plan: TaskPlan, ctx: ActionContext) -> ActionResult:
        project_id: str | None = None
        project_name = "Inbox"
        created_project = False
        if plan.project:
            projects = self._projects(ctx)
            found = _match_project(plan.project, projects)
            if found is None and not ctx.config.todoist_create_projects:
                names = [str(p.get("name")) for p in projects][:8]
                known = f" Your projects are {spoken_list(names)}." if names else ""
                return result(
                    ActionStatus.NEEDS_CLARIFICATION,
                    f"I couldn't find a Todoist project called {quoted(plan.project)}; "
                    f"which project should it go in?{known}",
                    {"project": plan.project, "known_projects": names},
                    "unknown_project",
                )
            if found is None:
                found = self._create_project(plan.project, ctx)
                created_project = True
            project_id, project_name = str(found["id"]), str(found.get("name", plan.project))
        response = http_request(
            ctx.http,
            "POST",
            f"{_base(ctx)}/tasks",
            service=_SERVICE,
            config=ctx.config,
            json=plan.payload(project_id),
            headers=_headers(ctx, ctx.request_id),
            sleep=ctx.sleep,
        )
        task = json_object(response, _SERVICE)
        if "id" not in task:
            raise UpstreamDown(_SERVICE, "answer without a task id")
        when = f", due {plan.due_spoken}" if plan.due_spoken else ""
        return result(
            ActionStatus.DONE,
            f"Added {quoted(plan.content)} to {project_name}{when}.",
            {
                "task_id": str(task["id"]),
                "url": task.get("url"),
                "project": project_name,
                "project_id": project_id,
                "project_created": created_project,
                "due": task.get("due"),
                "priority": plan.priority,
            },
        )

    def _projects(self, ctx: ActionContext) -> list[dict[str, Any]]:
        projects: list[dict[str, Any]] = []
        cursor: str | None = None
        for _ in range(_MAX_PAGES):
            query: dict[str, Any] = {"limit": _PAGE_LIMIT}
            if cursor:
                query["cursor"] = cursor
            response = http_request(
                ctx.http,
                "GET",
                f"{_base(ctx)}/projects",
                service=_SERVICE,
                config=ctx.config,
                params=query,
                headers=_headers(ctx),
                sleep=ctx.sleep,
            )
            page = json_object(response, _SERVICE)
            results = page.get("results")
            if not isinstance(results, list):
                raise UpstreamDown(_SERVICE, "project list without 'results'")
            projects.extend(p for p in results if isinstance(p, dict) and "id" in p)
            cursor = page.get("next_cursor")
            if not cursor:
                break
        return projects

    def _create_project(self, name: str, ctx: ActionContext) -> dict[str, Any]:
        request_id = str(uuid.uuid5(uuid.UUID(ctx.request_id), "project"))
        response = http_request(
            ctx.http,
            "POST",
            f"{_base(ctx)}/projects",
            service=_SERVICE,
            config=ctx.config,
            json={"name": name},
            headers=_headers(ctx, request_id),
            sleep=ctx.sleep,
        )
        project = json_object(response, _SERVICE)
        if "id" not in project:
            raise UpstreamDown(_SERVICE, "answer without a project id")
        return project


def _base(ctx: ActionContext) -> str:
    return ctx.config.todoist_base_url.rstrip("/")


def _normal(name: str) -> str:
    return " ".join(name.casefold().split())


def _match_project(spoken: str, projects: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Case-insensitive name match; "shopping list" also finds a project named "Shopping"."""
    by_name = {_normal(str(p.get("name", ""))): p for p in projects}
    wanted = _normal(spoken)
    if wanted in by_name:
        return by_name[wanted]
    for suffix in _LIST_SUFFIXES:
        if wanted.endswith(suffix) and wanted[: -len(suffix)].strip() in by_name:
            return by_name[wanted[: -len(suffix)].strip()]
    return None
