"""A tiny SMTP server on loopback (EHLO, AUTH PLAIN, MAIL, RCPT, DATA, RSET, QUIT) for the email tests."""

from __future__ import annotations

import asyncio
import base64
import contextlib
from dataclasses import dataclass, field


@dataclass
class Received:
    mail_from: str
    rcpt_to: list[str]
    data: bytes


@dataclass
class SmtpBehaviour:
    credentials: tuple[str, str] | None = None  # advertise AUTH PLAIN and accept only these
    auth_failure: str = "535 5.7.8 Authentication credentials invalid"
    rcpt_replies: dict[str, str] = field(default_factory=dict)  # address -> reply line
    mail_reply: str = "250 2.1.0 OK"
    data_reply: str = "250 2.0.0 queued"
    silent: bool = False  # accept the connection, never answer


def _address(argument: str) -> str:
    return argument.split(":", 1)[1].strip().split(" ")[0].strip("<>")


class LocalSmtpServer:
    def __init__(self, behaviour: SmtpBehaviour | None = None) -> None:
        self.behaviour = behaviour or SmtpBehaviour()
        self.messages: list[Received] = []
        self.commands: list[str] = []
        self.connections = 0
        self.port = 0
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._handlers):
            task.cancel()
        for task in list(self._handlers):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._server is not None:
            await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self.connections += 1
        try:
            if self.behaviour.silent:
                await asyncio.sleep(3600)
            await self._session(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass  # a cancelled handler ends normally: asyncio's stream callback would log a cancelled task
        finally:
            self._handlers.discard(task)
            writer.close()

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        b = self.behaviour

        async def reply(*lines: str) -> None:
            writer.write("".join(f"{line}\r\n" for line in lines).encode())
            await writer.drain()

        await reply("220 localhost ESMTP test")
        mail_from, rcpt_to = "", []
        while True:
            raw = await reader.readline()
            if not raw:
                return
            line = raw.decode().rstrip("\r\n")
            self.commands.append(line)
            verb = line.split(" ", 1)[0].upper()
            if verb == "EHLO":
                extensions = ["250-localhost", "250-8BITMIME"]
                if b.credentials:
                    extensions.append("250-AUTH PLAIN")
                await reply(*extensions, "250 SIZE 10000000")
            elif verb == "HELO" or verb in ("NOOP", "RSET"):
                mail_from, rcpt_to = "", []
                await reply("250 OK")
            elif verb == "AUTH":
                token = line.split(" ")[2] if len(line.split(" ")) > 2 else ""
                _, user, password = base64.b64decode(token).decode().split("\0")
                ok = b.credentials == (user, password)
                await reply("235 2.7.0 Authentication successful" if ok else b.auth_failure)
            elif verb == "MAIL":
                mail_from, rcpt_to = _address(line), []
                await reply(b.mail_reply)
            elif verb == "RCPT":
                address = _address(line)
                answer = b.rcpt_replies.get(address, "250 2.1.5 OK")
                if answer.startswith("2"):
                    rcpt_to.append(address)
                await reply(answer)
            elif verb == "DATA":
                await reply("354 End data with <CR><LF>.<CR><LF>")
                chunks: list[bytes] = []
                while (chunk := await reader.readline()) not in (b".\r\n", b""):
                    chunks.append(chunk)
                if b.data_reply.startswith("2"):
                    self.messages.append(Received(mail_from, list(rcpt_to), b"".join(chunks)))
                await reply(b.data_reply)
            elif verb == "QUIT":
                await reply("221 Bye")
                return
            else:
                await reply("502 Command not implemented")
