"""The built-in intents: tasks (Todoist), weather (Open-Meteo), e-mail (SMTP) and out-of-scope."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from intentforge.catalogue.intent import Intent


class _Slots(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class AddTask(_Slots):
    content: str = Field(min_length=1, description="What to do, as spoken: 'buy milk'.")
    due: str | None = Field(
        None, description="When, as spoken: 'tomorrow at 5pm', 'next monday'. Resolved later."
    )
    priority: int | None = Field(
        None,
        ge=1,
        le=4,
        description="1 (urgent) to 4 (normal), as Todoist's p1..p4; said in words "
        "('high priority') and mapped by PRIORITY_PHRASES.",
    )
    project: str | None = Field(None, description="Project or list name: 'Shopping'.")


class GetWeather(_Slots):
    location: str | None = Field(
        None, description="Place, as spoken: 'London', 'Paris, France'. None: home location."
    )
    date: str | None = Field(None, description="When, as spoken: 'tomorrow', 'this weekend'.")


class SendEmail(_Slots):
    to: str = Field(min_length=1, description="Recipient name or address, as spoken: 'mum'.")
    subject: str | None = Field(None, description="Subject line, if one was said.")
    body: str | None = Field(None, description="What the e-mail should say.")


class NoParameters(_Slots):
    pass


# How people say a Todoist priority. The model copies the phrase from the request and this table
# gives the number; a phrase holding a longer one means the longer: "not urgent" is 4, not 1.
PRIORITY_PHRASES: dict[str, int] = {
    **dict.fromkeys(["priority 1", "priority one", "p1", "urgent", "asap", "top priority"], 1),
    **dict.fromkeys(["highest priority", "most important", "critical"], 1),
    **dict.fromkeys(["priority 2", "priority two", "p2", "high priority", "important"], 2),
    **dict.fromkeys(["priority 3", "priority three", "p3", "medium priority"], 3),
    **dict.fromkeys(["priority 4", "priority four", "p4", "low priority", "lowest priority"], 4),
    **dict.fromkeys(["normal priority", "no rush", "not urgent", "not important", "whenever"], 4),
}


BUILTIN_INTENTS: tuple[Intent, ...] = (
    Intent(
        name="add_task",
        description="Add a task or reminder to the to-do list.",
        parameters=AddTask,
        action="todoist",
        examples=(
            "add {content} to my to-do list",
            "remind me to {content} {due}",
            "add {content} to my {project} list for {due}",
            "create a priority {priority} task to {content}",
            "I need to {content} {due}",
        ),
        # People usually say when, rarely which project or how urgent.
        slot_rates={"due": 0.6, "priority": 0.3, "project": 0.3},
        spoken={"priority": PRIORITY_PHRASES},
        kinds={"due": "datetime", "priority": "spoken", "project": "list"},
        questions={"content": "What should I add?"},
    ),
    Intent(
        name="get_weather",
        description="Tell the weather forecast for a place and day.",
        parameters=GetWeather,
        action="open_meteo",
        examples=(
            "what's the weather in {location} {date}",
            "will it rain {date}",
            "how hot is it in {location}",
            "what's the weather like",
        ),
        slot_rates={"location": 0.6, "date": 0.5},
        kinds={"date": "date"},
    ),
    Intent(
        name="send_email",
        description="Send an e-mail to a contact.",
        parameters=SendEmail,
        action="smtp",
        examples=(
            "send an email to {to} saying {body}",
            "email {to} about {subject}",
            "write to {to} with the subject {subject} and say {body}",
        ),
        slot_rates={"subject": 0.4, "body": 0.55},
        questions={"to": "Who should I send it to?"},
    ),
    Intent(
        name="none",
        description=(
            "Anything the assistant cannot do: answer that it can't, never invent an action."
        ),
        parameters=NoParameters,
        action=None,
        examples=("play some jazz", "turn off the lights", "what's the capital of France"),
    ),
)
