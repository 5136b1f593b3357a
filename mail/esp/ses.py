"""Amazon SES events, read from the SQS queue its SNS topic feeds (SPEC 8): `SesFeed`.

The queue is the cursor: a read takes up to `batch` messages (long-polling `wait_seconds`),
which stay hidden from other reads for the queue's visibility timeout; `acknowledge`, called
once the page's events are committed, deletes them. A crash in between lets them come back
after that timeout, and the stable event ids (SES feedback id or message id, plus the
recipient) make the events table count them once. A body that can't be read is logged,
counted in `skipped` and deleted with the rest, so a poison message doesn't come back forever.

aiobotocore signs the calls (SigV4); its own retries are off, so one retry policy with an
injectable sleep (like mail/esp/http.py's) covers throttling, 5xx answers and lost connections.

On AWS: SES notifications (identity notifications or a configuration set's SNS destination) go
to an SNS topic, the queue subscribes to it (raw message delivery or not: both are read), and
the key needs sqs:ReceiveMessage, sqs:DeleteMessage and sqs:GetQueueAttributes on the queue.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AsyncExitStack
from datetime import datetime
from typing import TYPE_CHECKING, TypeVar

from aiobotocore.config import AioConfig
from aiobotocore.session import AioSession, get_session
from botocore.exceptions import BotoCoreError, ClientError

from core.connect import LoginResult, Verdict, one_line, scrub
from core.errors import LoginRefused, PeerUnavailable
from core.esp import EspEvent, EspPage
from core.specs import EspSpec
from mail.esp.http import Malformed
from mail.esp.ses_events import parse_body

if TYPE_CHECKING:
    from types_aiobotocore_sqs.client import SQSClient
    from types_aiobotocore_sqs.type_defs import (
        DeleteMessageBatchRequestEntryTypeDef,
        ReceiveMessageResultTypeDef,
    )

log = logging.getLogger("outreach.esp")

TRIES = 4  # one call and three retries
BACKOFF = 1.0  # seconds before the first retry; doubled each time
DELETE_BATCH = 10  # DeleteMessageBatch takes at most ten entries
_DETAIL = 200  # characters of an error's text quoted

# Answers that say the keys are wrong or may not read the queue: asking again won't help.
AUTH_CODES = frozenset(
    {
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "SignatureDoesNotMatch",
        "IncompleteSignature",
        "MissingAuthenticationToken",
        "AccessDenied",
        "AccessDeniedException",
        "ExpiredToken",
        "InvalidSecurity",
    }
)
# Answers worth asking again a little later (besides any 5xx status).
THROTTLE_CODES = frozenset(
    {
        "RequestThrottled",
        "Throttling",
        "ThrottlingException",
        "RequestThrottledException",
        "ServiceUnavailable",
        "InternalFailure",
        "InternalError",
        "RequestTimeout",
    }
)

Sleep = Callable[[float], Awaitable[None]]
T = TypeVar("T")


class SesFeed:
    """One [[esp]] of kind "ses": its SQS queue, read and emptied as the poller commits."""

    def __init__(
        self,
        spec: EspSpec,
        *,
        sleep: Sleep = asyncio.sleep,
        wait_seconds: int = 20,
        batch: int = 10,
        tries: int = TRIES,
        backoff: float = BACKOFF,
    ) -> None:
        self.name = spec.name
        self._spec = spec
        self._sleep = sleep
        self._wait = wait_seconds
        self._batch = max(1, min(batch, 10))  # ReceiveMessage returns at most ten
        self._tries = tries
        self._backoff = backoff
        self._stack = AsyncExitStack()
        self._client: SQSClient | None = None
        self._opening = asyncio.Lock()
        self._ahead: asyncio.Task[ReceiveMessageResultTypeDef] | None = None

    def __repr__(self) -> str:
        return f"SesFeed(name={self.name!r}, queue_url={self._spec.queue_url!r})"

    async def read(self, cursor: str | None, now: datetime) -> EspPage:
        """Up to `batch` queued notifications as events; the cursor is always "" (the queue)."""
        ahead, self._ahead = self._ahead, None
        reply = await (ahead if ahead is not None else self._receive())
        messages = reply.get("Messages", [])
        if len(messages) >= self._batch:
            # A full batch: more are likely waiting. The next one is asked for now, while
            # this one is parsed and committed; the next read takes it. (Its messages stay
            # hidden until then, and come back after the visibility timeout if never read.)
            self._ahead = asyncio.create_task(self._receive())
            self._ahead.add_done_callback(_retrieved)
        events: dict[str, EspEvent] = {}
        receipts: list[str] = []
        skipped = 0
        for message in messages:
            handle = message.get("ReceiptHandle")
            if handle:
                receipts.append(handle)
            try:
                parsed = parse_body(self.name, message.get("Body", ""))
            except Malformed as exc:
                skipped += 1
                log.warning(
                    "%s: SQS message %s skipped: %s", self.name, message.get("MessageId"), exc
                )
                continue
            if parsed.skipped:
                skipped += parsed.skipped
                log.warning(
                    "%s: SQS message %s: %d recipient(s) without a usable address skipped",
                    self.name,
                    message.get("MessageId"),
                    parsed.skipped,
                )
            for event in parsed.events:
                # SNS delivers at least once: a twin in the same page is the same event.
                events.setdefault(event.event_id, event)
        return EspPage(
            events=tuple(events.values()),
            cursor="",
            more=len(messages) >= self._batch,
            skipped=skipped,
            receipts=tuple(receipts),
        )

    async def _receive(self) -> ReceiveMessageResultTypeDef:
        client = await self._sqs()
        queue = self._spec.queue_url
        return await self._call(
            "ReceiveMessage",
            lambda: client.receive_message(
                QueueUrl=queue, MaxNumberOfMessages=self._batch, WaitTimeSeconds=self._wait
            ),
        )

    async def acknowledge(self, page: EspPage) -> None:
        """Delete the page's messages (its events are committed); raises PeerUnavailable."""
        if not page.receipts:
            return
        client = await self._sqs()
        queue = self._spec.queue_url
        for chunk in _chunks(page.receipts, DELETE_BATCH):
            entries: list[DeleteMessageBatchRequestEntryTypeDef] = [
                {"Id": str(i), "ReceiptHandle": handle} for i, handle in enumerate(chunk)
            ]
            reply = await self._call(
                "DeleteMessageBatch",
                functools.partial(client.delete_message_batch, QueueUrl=queue, Entries=entries),
            )
            failed = reply.get("Failed", [])
            if failed:
                # They come back after the visibility timeout; their ids are stored already.
                codes = sorted({entry.get("Code", "?") for entry in failed})
                log.warning("%s: %d SQS message(s) not deleted (%s)", self.name, len(failed), codes)

    async def probe(self) -> LoginResult:
        """GetQueueAttributes on the queue: ok, refused (the keys) or unreachable."""
        try:
            client = await self._sqs()
            queue = self._spec.queue_url
            reply = await self._call(
                "GetQueueAttributes",
                lambda: client.get_queue_attributes(
                    QueueUrl=queue, AttributeNames=["ApproximateNumberOfMessages"]
                ),
                tries=1,
            )
        except LoginRefused as exc:
            return LoginResult(Verdict.REFUSED, one_line(str(exc)))
        except PeerUnavailable as exc:
            return LoginResult(Verdict.UNREACHABLE, one_line(str(exc)))
        waiting = reply.get("Attributes", {}).get("ApproximateNumberOfMessages", "?")
        return LoginResult(Verdict.OK, f"queue readable, about {waiting} message(s) waiting")

    async def close(self) -> None:
        """Close the SQS client and its HTTP session."""
        if self._ahead is not None:
            self._ahead.cancel()
            self._ahead = None
        self._client = None
        await self._stack.aclose()

    async def _sqs(self) -> SQSClient:
        """The SQS client, made on first use (creating it needs a running loop)."""
        async with self._opening:
            if self._client is None:
                spec = self._spec
                if not spec.access_key_id or not spec.secret_access_key:
                    # botocore would look for keys elsewhere (environment, instance metadata).
                    raise LoginRefused(f"{self.name}: no SQS access key configured")
                config = AioConfig(
                    retries={"total_max_attempts": 1},  # retried here, with self._sleep
                    connect_timeout=10,
                    read_timeout=self._wait + 15,  # a long poll holds the answer wait_seconds
                )
                try:
                    self._client = await self._stack.enter_async_context(
                        _session().create_client(
                            "sqs",
                            region_name=spec.region or None,
                            endpoint_url=spec.endpoint_url or None,
                            aws_access_key_id=spec.access_key_id,
                            aws_secret_access_key=spec.secret_access_key,
                            config=config,
                        )
                    )
                except BotoCoreError as exc:  # no region, a bad endpoint URL...
                    raise PeerUnavailable(f"{self.name}: SQS client: {self._clean(exc)}") from None
            return self._client

    async def _call(self, what: str, call: Callable[[], Awaitable[T]], *, tries: int = 0) -> T:
        """`call`, asked again after throttling, 5xx and lost connections; mapped errors."""
        tries = tries or self._tries
        wait = self._backoff
        last = ""
        for attempt in range(1, tries + 1):
            try:
                return await call()
            except ClientError as exc:
                error = exc.response.get("Error", {})
                code = str(error.get("Code", ""))
                status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
                text = f"{code or status} {error.get('Message', '')}".strip()
                last = f"{status} {self._clean(text)}"
                if code in AUTH_CODES or status in (401, 403):
                    raise LoginRefused(f"{self.name}: SQS {what}: {last}") from None
                if code not in THROTTLE_CODES and status < 500:
                    # A missing queue, a bad parameter: asking again gets the same answer.
                    raise PeerUnavailable(f"{self.name}: SQS {what}: {last}") from None
            except (BotoCoreError, TimeoutError, OSError) as exc:
                last = self._clean(exc)
            if attempt == tries:
                break
            log.info("%s: SQS %s: %s; asking again in %.1f s", self.name, what, last, wait)
            await self._sleep(wait)
            wait *= 2
        raise PeerUnavailable(f"{self.name}: SQS {what}: {last or 'no answer'}")

    def _clean(self, error: BaseException | str) -> str:
        """An error's text, one line, short, with neither key in it."""
        text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
        text = scrub(text, self._spec.secret_access_key)
        text = scrub(text, self._spec.access_key_id)
        return one_line(text, _DETAIL)


@functools.cache
def _session() -> AioSession:
    """One botocore session per process: it loads the SQS model once for every client."""
    return get_session()


def _chunks(items: Sequence[str], size: int) -> list[Sequence[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _retrieved(task: asyncio.Task[ReceiveMessageResultTypeDef]) -> None:
    """Take the outcome of a receive ahead nobody awaits, so asyncio doesn't log it as lost."""
    if not task.cancelled():
        task.exception()
