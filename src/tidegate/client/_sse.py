"""An incremental Server-Sent Events decoder (WHATWG "event stream interpretation"); no I/O.

Feed it decoded lines without their terminators (httpx's ``iter_lines`` splits on CR, LF and CRLF);
it returns a ``Frame`` on each blank line that ends a frame with data. Comments (``: ping``) return
nothing, but count as activity for whoever watches the connection."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Frame", "FrameDecoder"]


@dataclass(frozen=True, slots=True)
class Frame:
    event: str
    data: str
    id: str | None


class FrameDecoder:
    def __init__(self) -> None:
        self._event = ""
        self._data: list[str] = []
        self._id: str | None = None

    def feed(self, line: str) -> Frame | None:
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        elif name == "id" and "\0" not in value:
            self._id = value
        return None  # ``retry`` and unknown fields are ignored

    def _dispatch(self) -> Frame | None:
        if not self._data:
            self._event, self._id = "", None
            return None
        frame = Frame(self._event or "message", "\n".join(self._data), self._id)
        self._event, self._data, self._id = "", [], None
        return frame
