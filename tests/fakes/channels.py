"""A channel whose provider answers are scripted by the test: the stand-in for a remote provider."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from messenger.channels.base import Outgoing, SendOutcome, Sent
from messenger.content import Capabilities, Flavour
from messenger.domain.enums import ChannelName


class ScriptedChannel:
    """Answers each send with the next scripted outcome, then ``Sent``; records every attempt."""

    def __init__(
        self,
        name: ChannelName = ChannelName.CONSOLE,
        *,
        outcomes: Iterable[SendOutcome] = (),
        body: Flavour = Flavour.TEXT,
        max_length: int = 4096,
    ) -> None:
        self.name = name
        self.capabilities = Capabilities(body=body, max_length=max_length)
        self.script: deque[SendOutcome] = deque(outcomes)
        self.attempts: list[tuple[Outgoing, SendOutcome]] = []

    @property
    def delivered(self) -> list[Outgoing]:
        """What the provider accepted, in order."""
        return [outgoing for outgoing, outcome in self.attempts if isinstance(outcome, Sent)]

    def then(self, *outcomes: SendOutcome) -> ScriptedChannel:
        self.script.extend(outcomes)
        return self

    async def send(self, outgoing: Outgoing) -> SendOutcome:
        outcome = self.script.popleft() if self.script else Sent(f"{self.name.value}-{len(self.attempts) + 1}")
        self.attempts.append((outgoing, outcome))
        return outcome
