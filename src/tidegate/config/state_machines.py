"""``state_machines`` (config.md §4.10, features.md §14): named state machines and their checks.

Everything a definition can check about itself is checked here; that ``notify_provider`` names a configured
provider is a cross-check of the whole config (``checks.py``)."""

from __future__ import annotations

from typing import Annotated

from pydantic import ConfigDict, Field, model_validator

from tidegate.config._base import ConfigModel, Identifier, Int, Problem, Problems, Rule

__all__ = ["StateMachineSettings", "StateTimeoutSettings", "TransitionSettings"]

StateName = Annotated[
    str, Rule("must be 1-128 characters of A-Z a-z 0-9 . _ -"), Field(pattern=r"^[A-Za-z0-9._-]{1,128}$")
]


class TransitionSettings(ConfigModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: StateName = Field(alias="from")
    to: StateName
    notify: bool = False

    @model_validator(mode="before")
    @classmethod
    def _acteon_on_transition(cls, data: object) -> object:
        """Acteon wrote ``on_transition: {notify: true}``; it is read as ``notify``."""
        if not isinstance(data, dict) or "on_transition" not in data:
            return data
        data = dict(data)
        on_transition = data.pop("on_transition")
        if isinstance(on_transition, dict) and set(on_transition) <= {"notify"}:
            if "notify" in on_transition:
                data.setdefault("notify", on_transition["notify"])
            return data
        raise Problem("must be a mapping with the single key 'notify'", ("on_transition",))


class StateTimeoutSettings(ConfigModel):
    in_state: StateName
    after_seconds: Int = Field(ge=1, le=31_536_000)
    transition_to: StateName
    notify: bool = False


class StateMachineSettings(ConfigModel):
    name: Identifier
    initial_state: StateName
    states: list[StateName] = Field(min_length=1, max_length=100)
    transitions: list[TransitionSettings] = Field(default_factory=list)
    timeouts: list[StateTimeoutSettings] = Field(default_factory=list)
    notify_provider: Identifier | None = None
    retention_seconds: Int = Field(2_592_000, ge=60, le=31_536_000)

    @model_validator(mode="after")
    def _consistent(self) -> StateMachineSettings:
        problems = list(self._problems())
        if problems:
            raise Problems(problems)
        return self

    def _problems(self) -> list[Problem]:
        problems = []
        known: set[str] = set()
        for index, state in enumerate(self.states):
            if state in known:
                problems.append(Problem(f"duplicate state '{state}'", ("states", index)))
            known.add(state)

        def check(state: str, key: tuple[str | int, ...]) -> None:
            if state not in known:
                problems.append(Problem(f"unknown state '{state}'", key))

        check(self.initial_state, ("initial_state",))
        pairs: set[tuple[str, str]] = set()
        for index, transition in enumerate(self.transitions):
            check(transition.from_, ("transitions", index, "from"))
            check(transition.to, ("transitions", index, "to"))
            pair = (transition.from_, transition.to)
            if pair in pairs:
                problems.append(
                    Problem(f"duplicate transition '{pair[0]}' -> '{pair[1]}'", ("transitions", index))
                )
            pairs.add(pair)
        timed: set[str] = set()
        for index, timeout in enumerate(self.timeouts):
            check(timeout.in_state, ("timeouts", index, "in_state"))
            check(timeout.transition_to, ("timeouts", index, "transition_to"))
            if timeout.in_state in timed:
                problems.append(
                    Problem(f"second timeout for state '{timeout.in_state}'", ("timeouts", index, "in_state"))
                )
            timed.add(timeout.in_state)
        notifies = any(t.notify for t in self.transitions) or any(t.notify for t in self.timeouts)
        if notifies and self.notify_provider is None:
            problems.append(
                Problem("required when a transition or timeout has notify: true", ("notify_provider",))
            )
        return problems

    def transition(self, current: str, target: str) -> TransitionSettings | None:
        """The table entry for ``current -> target``, or None when the move is not allowed."""
        for transition in self.transitions:
            if transition.from_ == current and transition.to == target:
                return transition
        return None

    def timeout_for(self, state: str) -> StateTimeoutSettings | None:
        for timeout in self.timeouts:
            if timeout.in_state == state:
                return timeout
        return None
