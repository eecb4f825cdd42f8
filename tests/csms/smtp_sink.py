"""A real SMTP server for tests (aiosmtpd) on 127.0.0.1, an ephemeral port, served by the test's
own event loop: it keeps every message it accepts, and can refuse the first few (a mail server
that is briefly unwell) so retries are seen on the wire."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import Message
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session


@dataclass
class Mail:
    sender: str
    recipients: list[str]
    message: Message

    @property
    def subject(self) -> str:
        return str(self.message["Subject"]).strip()  # (a long one may be folded right after "Subject:")

    @property
    def body(self) -> str:
        payload = self.message.get_payload(decode=True)
        assert isinstance(payload, bytes)
        return payload.decode()


class SmtpSink:
    """``refuse``: how many DATA commands to answer 451 (try again later) before accepting."""

    def __init__(self, refuse: int = 0) -> None:
        self.refuse = refuse
        self.mails: list[Mail] = []
        self.refused = 0
        self.port = 0
        self._server: asyncio.Server | None = None

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        if self.refused < self.refuse:
            self.refused += 1
            return "451 4.3.0 try again later"
        content = envelope.original_content or b""
        parsed = message_from_bytes(content, policy=policy.default)  # folded headers read as one line
        self.mails.append(Mail(str(envelope.mail_from), list(envelope.rcpt_tos), parsed))
        return "250 OK"

    async def __aenter__(self) -> SmtpSink:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: SMTP(self, hostname="sink.test", loop=loop),
                                                "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: Any) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()
