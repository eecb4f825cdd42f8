"""Alert e-mail through the SMTP server of the CHARGEBAY_SMTP_* settings.

Never in the evaluation's way: :meth:`Mailer.send` only queues a message (bounded: past
:data:`QUEUE_SIZE` the oldest waiting one is dropped, and logged) and one task delivers them in
order. A message that fails (no connection, a refusal, a timeout) is logged and tried again as a
webhook delivery is (CHARGEBAY_WEBHOOK_ATTEMPTS attempts, CHARGEBAY_WEBHOOK_BACKOFF doubling): a
mail server that is down for a few minutes loses no alert, one that stays down costs log lines,
never the evaluator. The standard library's SMTP client runs on a worker thread (one message at a
time); no dependency for a few messages an hour.
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from common.settings import Settings
from csms.webhooks import Retry

log = logging.getLogger(__name__)
QUEUE_SIZE = 1_000
TIMEOUT_S = 30.0  # one attempt: connect, greet, send
SUBJECT_CHARS = 200


@dataclass(frozen=True, slots=True)
class Smtp:
    """Where and how to send (the CHARGEBAY_SMTP_* settings)."""

    host: str
    port: int = 587
    username: str | None = None
    password: str | None = None
    sender: str = "chargebay@localhost"
    starttls: bool = True
    timeout: float = TIMEOUT_S

    @classmethod
    def of(cls, settings: Settings) -> Smtp | None:
        """The server of ``settings``; None when no host is set (no e-mail at all)."""
        if not settings.smtp_host:
            return None
        return cls(settings.smtp_host, settings.smtp_port, settings.smtp_username, settings.smtp_password,
                   settings.smtp_from, settings.smtp_starttls)


class Mailer:
    def __init__(self, smtp: Smtp | None, retry: Retry, queue_size: int = QUEUE_SIZE) -> None:
        self.smtp = smtp
        self.retry = retry
        self._queue: asyncio.Queue[EmailMessage] = asyncio.Queue(queue_size)
        self._task: asyncio.Task[None] | None = None
        self._warned = False
        self.sent = 0  # messages the server accepted
        self.failed = 0  # messages given up after every attempt (or dropped)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="alert-mail")

    async def close(self) -> None:
        """Stop sending (what waits is not sent: the process log says which alerts it was for)."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    def send(self, to: list[str], subject: str, body: str) -> None:
        """Queue a message to ``to``; never raises, never waits."""
        if not to:
            return
        if self.smtp is None:
            if not self._warned:
                self._warned = True
                log.warning("alert e-mail to %s not sent: no SMTP server is set (CHARGEBAY_SMTP_HOST); "
                            "later ones are not logged", ", ".join(to))
            return
        try:
            message = EmailMessage()
            # a subject on one line: a charge point's words (a vendor's error text) may hold line breaks
            message["From"], message["To"] = self.smtp.sender, ", ".join(to)
            message["Subject"] = " ".join(subject.split())[:SUBJECT_CHARS]
            message["Date"], message["Message-ID"] = formatdate(localtime=False), make_msgid("alert")
            message.set_content(body)
        except Exception:  # a recipient or sender the e-mail library refuses: this one message only
            self.failed += 1
            log.exception("alert e-mail %r to %s could not be written", subject, ", ".join(to))
            return
        if self._queue.full():
            dropped = self._queue.get_nowait()
            self.failed += 1
            log.error("alert e-mail %r dropped: %d messages wait for the SMTP server", dropped["Subject"],
                      self._queue.qsize())
        self._queue.put_nowait(message)

    async def idle(self) -> None:
        """Wait until every queued message was sent or given up (tests; a shutdown that may wait)."""
        await self._queue.join()

    async def _run(self) -> None:
        while True:
            message = await self._queue.get()
            try:
                await self._deliver(message)
            finally:
                self._queue.task_done()

    async def _deliver(self, message: EmailMessage) -> None:
        """Every attempt at one message; never raises (the next message goes on)."""
        for attempt in range(1, self.retry.attempts + 1):
            try:
                await asyncio.to_thread(self._send_now, message)
            except Exception as exc:  # a refusal, no connection, a timeout: all retried
                log.warning("alert e-mail %r to %s, attempt %d of %d failed: %s: %s", message["Subject"],
                            message["To"], attempt, self.retry.attempts, type(exc).__name__, exc)
                if attempt < self.retry.attempts:
                    await asyncio.sleep(self.retry.delay(attempt))
                continue
            self.sent += 1
            return
        self.failed += 1
        log.error("alert e-mail %r to %s not sent after %d attempts", message["Subject"], message["To"],
                  self.retry.attempts)

    def _send_now(self, message: EmailMessage) -> None:
        """Send one message (on a worker thread: smtplib blocks)."""
        smtp = self.smtp
        assert smtp is not None  # send() queues nothing without a server
        implicit_tls = smtp.port == 465
        client = (smtplib.SMTP_SSL(smtp.host, smtp.port, timeout=smtp.timeout) if implicit_tls
                  else smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout))
        with client:
            if smtp.starttls and not implicit_tls:
                client.starttls(context=ssl.create_default_context())
            if smtp.username:
                client.login(smtp.username, smtp.password or "")
            client.send_message(message)
