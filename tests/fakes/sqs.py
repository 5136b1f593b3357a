"""A fake Amazon SQS queue for the SES adapter's tests: an aiohttp server on 127.0.0.1.

It speaks the protocol botocore 1.43 uses for SQS: the AWS JSON 1.0 protocol, one POST per
call, `X-Amz-Target: AmazonSQS.<Operation>`, `Content-Type: application/x-amz-json-1.0`,
errors as `{"__type": ..., "message": ...}` with an `x-amzn-query-error: <code>;<Sender|Receiver>`
header (SQS developer guide, "Interpreting Amazon SQS JSON API responses"; HTTP statuses from
the SQS API reference's "Common Errors"). Only what the adapter calls is there:
ReceiveMessage, DeleteMessageBatch and GetQueueAttributes.

The visibility timeout runs on a clock of the test's own (`advance`), so a test sees a message
come back without waiting. `faults` is a script consumed one request at a time.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import re
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.http_app import serve

_CREDENTIAL = re.compile(r"^AWS4-HMAC-SHA256 Credential=([^/,\s]+)/")
_AUTHORIZATION = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=(?P<key>[^/,\s]+)/(?P<scope>[^,\s]+), "
    r"SignedHeaders=(?P<signed>[^,\s]+), Signature=(?P<signature>[0-9a-f]{64})$"
)


@dataclass
class QueuedMessage:
    """One message in the queue, and when it is visible again."""

    message_id: str
    body: str
    visible_at: float = 0.0
    receipt: str | None = None  # the latest receipt handle, the one DeleteMessageBatch takes
    receives: int = 0


@dataclass
class Call:
    """One request the fake answered: its operation, parameters and the key that signed it."""

    operation: str
    params: dict[str, Any]
    access_key: str | None
    status: int


@dataclass
class FakeSqs:
    """One queue behind a local SQS endpoint; start with `async with`."""

    access_key: str
    secret_key: str | None = None  # given: every request's SigV4 signature is checked too
    visibility_timeout: float = 30.0
    account: str = "123456789012"
    queue_name: str = "ses-events"
    messages: list[QueuedMessage] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    faults: deque[str] = field(default_factory=deque)  # "500" or "throttle", one per request
    clock: float = 0.0
    _ids: itertools.count[int] = field(default_factory=itertools.count)
    _runner: web.AppRunner | None = None
    _receipts: dict[str, QueuedMessage] = field(default_factory=dict)  # the latest ones
    _arrived: asyncio.Event | None = None  # set by `send` while a long poll waits
    polling: asyncio.Event | None = None  # set while a long poll waits for a message
    url: str = ""

    @property
    def queue_url(self) -> str:
        """The URL of the one queue, as GetQueueUrl would give it."""
        return f"{self.url}/{self.account}/{self.queue_name}"

    def send(self, body: str) -> str:
        """Queue one message (as SNS would); its SQS MessageId."""
        message_id = f"msg-{next(self._ids):04d}"
        self.messages.append(QueuedMessage(message_id, body))
        if self._arrived is not None:
            self._arrived.set()
        return message_id

    def advance(self, seconds: float) -> None:
        """Move the queue's clock on: in-flight messages whose timeout passed are visible."""
        self.clock += seconds

    def received(self) -> list[Call]:
        """The ReceiveMessage calls answered with 200."""
        return [c for c in self.calls if c.operation == "ReceiveMessage" and c.status == 200]

    async def __aenter__(self) -> FakeSqs:
        self.polling = asyncio.Event()
        app = web.Application()
        app.router.add_post("/", self._handle)
        self._runner, port = await serve(app)
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        target = request.headers.get("X-Amz-Target", "")
        operation = target.removeprefix("AmazonSQS.")
        payload = await request.read()
        try:
            params = json.loads(payload or b"{}")
        except ValueError:
            params = {}
        match = _CREDENTIAL.match(request.headers.get("Authorization", ""))
        key = match.group(1) if match else None
        wait = params.get("WaitTimeSeconds", 0) if operation == "ReceiveMessage" else 0
        if wait and key == self.access_key and not self.faults and not self._any_visible():
            await self._long_poll(float(wait))
        response = self._answer(operation, params, key, request, payload)
        self.calls.append(Call(operation, params, key, response.status))
        return response

    def _visible(self) -> list[QueuedMessage]:
        return [m for m in self.messages if m.visible_at <= self.clock]

    def _any_visible(self) -> bool:
        """Whether a message can be received now (stops at the first: a long queue is cheap)."""
        return any(m.visible_at <= self.clock for m in self.messages)

    async def _long_poll(self, seconds: float) -> None:
        """Hold a ReceiveMessage until a message is sent or `seconds` pass, as SQS does."""
        assert self.polling is not None
        self._arrived = asyncio.Event()
        self.polling.set()
        try:
            await asyncio.wait_for(self._arrived.wait(), seconds)
        except TimeoutError:
            pass
        finally:
            self.polling.clear()
            self._arrived = None

    def _answer(
        self,
        operation: str,
        params: dict[str, Any],
        key: str | None,
        request: web.Request,
        payload: bytes,
    ) -> web.Response:
        refusal = self._refusal(key, request, payload) or self._fault()
        if refusal is not None:
            return refusal
        if params.get("QueueUrl") != self.queue_url:
            return _error(
                400,
                "AWS.SimpleQueueService.NonExistentQueue",
                "Sender",
                "The specified queue does not exist.",
                type_name="com.amazonaws.sqs#QueueDoesNotExist",
            )
        handlers = {
            "ReceiveMessage": self._receive,
            "DeleteMessageBatch": self._delete,
            "GetQueueAttributes": self._attributes,
        }
        handler = handlers.get(operation)
        if handler is None:
            return _error(400, "InvalidAction", "Sender", f"{operation} is not supported here")
        return handler(params)

    def _refusal(
        self, key: str | None, request: web.Request, payload: bytes
    ) -> web.Response | None:
        """The answer to a request in another protocol or signed with another key."""
        if request.headers.get("Content-Type") != "application/x-amz-json-1.0":
            return _error(400, "InvalidAction", "Sender", "not the AWS JSON 1.0 protocol")
        if key is None:
            return _error(
                403,
                "MissingAuthenticationToken",
                "Sender",
                "Request is missing Authentication Token",
            )
        if key != self.access_key:
            # SQS names the query-compatible code in x-amzn-query-error; botocore reads it.
            return _error(
                403,
                "InvalidClientTokenId",
                "Sender",
                "The security token included in the request is invalid.",
                type_name="com.amazon.coral.service#UnrecognizedClientException",
            )
        if self.secret_key is not None and not _signed_by(request, payload, self.secret_key):
            return _error(
                403,
                "SignatureDoesNotMatch",
                "Sender",
                "The request signature we calculated does not match the signature you provided."
                " Check your AWS Secret Access Key and signing method.",
            )
        return None

    def _fault(self) -> web.Response | None:
        """The next scripted fault, if any."""
        fault = self.faults.popleft() if self.faults else None
        if fault == "500":
            return _error(500, "InternalFailure", "Receiver", "We encountered an internal error.")
        if fault == "throttle":
            return _error(400, "RequestThrottled", "Sender", "Rate exceeded")
        return None

    def _remove(self, doomed: list[QueuedMessage]) -> None:
        """Take `doomed` out of the queue (by identity), scanning only as far as they lie."""
        left = {id(m) for m in doomed}
        places: list[int] = []
        for place, message in enumerate(self.messages):
            if not left:
                break
            if id(message) in left:
                left.discard(id(message))
                places.append(place)
        if places == list(range(len(places))):
            del self.messages[: len(places)]  # the usual case: the oldest ones, in one go
            return
        for place in reversed(places):
            del self.messages[place]

    def _attributes(self, params: dict[str, Any]) -> web.Response:
        visible = self._visible()
        attributes = {
            "ApproximateNumberOfMessages": str(len(visible)),
            "ApproximateNumberOfMessagesNotVisible": str(len(self.messages) - len(visible)),
            "VisibilityTimeout": str(int(self.visibility_timeout)),
        }
        return _ok({"Attributes": attributes})

    def _receive(self, params: dict[str, Any]) -> web.Response:
        limit = int(params.get("MaxNumberOfMessages", 1))
        if not 1 <= limit <= 10:
            return _error(400, "InvalidParameterValue", "Sender", "MaxNumberOfMessages")
        timeout = float(params.get("VisibilityTimeout", self.visibility_timeout))
        out: list[dict[str, str]] = []
        for message in self.messages:
            if len(out) == limit:
                break
            if message.visible_at > self.clock:
                continue
            message.visible_at = self.clock + timeout
            message.receives += 1
            if message.receipt is not None:
                self._receipts.pop(message.receipt, None)  # only the latest receipt deletes
            message.receipt = f"{message.message_id}-r{message.receives}-{next(self._ids)}"
            self._receipts[message.receipt] = message
            out.append(
                {
                    "MessageId": message.message_id,
                    "ReceiptHandle": message.receipt,
                    "MD5OfBody": hashlib.md5(message.body.encode()).hexdigest(),
                    "Body": message.body,
                }
            )
        return _ok({"Messages": out} if out else {})

    def _delete(self, params: dict[str, Any]) -> web.Response:
        entries = params.get("Entries") or []
        if not entries:
            return _error(400, "AWS.SimpleQueueService.EmptyBatchRequest", "Sender", "empty")
        if len(entries) > 10:
            return _error(
                400, "AWS.SimpleQueueService.TooManyEntriesInBatchRequest", "Sender", "too many"
            )
        successful: list[dict[str, Any]] = []
        failed: list[dict[str, Any]] = []
        # Found by receipt, then by position from the front (where received messages are):
        # a queue of 100,000 messages is emptied without a scan of it per entry (bench).
        found = {
            entry["ReceiptHandle"]: self._receipts[entry["ReceiptHandle"]]
            for entry in entries
            if entry["ReceiptHandle"] in self._receipts
        }
        self._remove(list(found.values()))
        for receipt in found:
            del self._receipts[receipt]
        gone = set(found)
        for entry in entries:
            if entry["ReceiptHandle"] in gone:
                successful.append({"Id": entry["Id"]})
            else:
                failed.append(
                    {
                        "Id": entry["Id"],
                        "SenderFault": True,
                        "Code": "ReceiptHandleIsInvalid",
                        "Message": "The receipt handle is not valid.",
                    }
                )
        return _ok({"Successful": successful, "Failed": failed})


def _signed_by(request: web.Request, payload: bytes, secret: str) -> bool:
    """Whether the request's SigV4 signature is the one `secret` makes (AWS SigV4 steps 1-4)."""
    match = _AUTHORIZATION.match(request.headers.get("Authorization", ""))
    amz_date = request.headers.get("X-Amz-Date", "")
    if match is None or not amz_date:
        return False
    signed = match["signed"].split(";")
    canonical = "\n".join(
        [
            request.method,
            request.path or "/",
            request.query_string,
            "".join(
                f"{name}:{' '.join(request.headers.get(name, '').split())}\n" for name in signed
            ),
            match["signed"],
            hashlib.sha256(payload).hexdigest(),
        ]
    )
    scope = match["scope"]
    to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    key = f"AWS4{secret}".encode()
    for part in scope.split("/"):  # date, region, service, "aws4_request"
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, match["signature"])


def _ok(body: dict[str, Any]) -> web.Response:
    return web.Response(
        status=200,
        body=json.dumps(body).encode(),
        headers={"Content-Type": "application/x-amz-json-1.0", "x-amzn-RequestId": "fake-req"},
    )


def _error(
    status: int, code: str, fault: str, message: str, *, type_name: str | None = None
) -> web.Response:
    body = {"__type": type_name or f"com.amazonaws.sqs#{code}", "message": message}
    return web.Response(
        status=status,
        body=json.dumps(body).encode(),
        headers={
            "Content-Type": "application/x-amz-json-1.0",
            "x-amzn-RequestId": "fake-req",
            "x-amzn-query-error": f"{code};{fault}",
        },
    )
