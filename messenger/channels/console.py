"""The console channel: prints each message, as the patient would read it, for demos."""

from __future__ import annotations

import itertools

from rich.console import Console
from rich.panel import Panel
from rich.text import Text

from messenger.channels.base import Outgoing, SendOutcome, Sent
from messenger.content import Capabilities, Flavour
from messenger.domain.enums import ChannelName, StepKind

KIND_STYLES = {
    StepKind.WELCOME: "bold green",
    StepKind.EDUCATION: "cyan",
    StepKind.REMINDER: "bold yellow",
    StepKind.CHECKIN: "magenta",
    StepKind.COMPLETION: "bold green",
}


class ConsoleChannel:
    name = ChannelName.CONSOLE
    capabilities = Capabilities(body=Flavour.TEXT, max_length=4096)

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console()
        self._ids = itertools.count(1)
        self.delivered: list[Outgoing] = []

    async def send(self, outgoing: Outgoing) -> SendOutcome:
        local = outgoing.scheduled_for.astimezone(outgoing.zone)
        style = KIND_STYLES.get(outgoing.kind, "white")
        title = Text.assemble(
            (f"{local:%a %d %b %H:%M} {local.tzname()}", "bold"),
            "  ",
            (outgoing.kind.value, style),
            "  ",
            (outgoing.step_key, "dim"),
            ("  → " + outgoing.recipient) if outgoing.recipient else "",
        )
        self.console.print(Panel(Text(outgoing.content.body), title=title, title_align="left", border_style=style))
        self.delivered.append(outgoing)
        return Sent(provider_id=f"console-{next(self._ids)}")
