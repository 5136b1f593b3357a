"""A fake Telegram Bot API server on 127.0.0.1 (aiohttp) for bot tests.

It serves `/bot{token}/{method}` and `/file/bot{token}/{path}` the way the Bot API documents
them: every answer is `{"ok": true, "result": ...}` or `{"ok": false, "error_code": N,
"description": "...", "parameters": {...}}`. Point the bot at it with
`TELEGRAM_API_URL=fake.url` (aiogram: `TelegramAPIServer.from_base(fake.url)`).

    async with FakeTelegram() as fake:
        fake.push_message(ADMIN, "/status")
        reply = await fake.wait_for_message(ADMIN, "Today", within=10)

Test side: `push_message`, `push_callback`, `add_file` queue what users do; `calls` holds
every request, `sent` every successful one except getUpdates; `wait_for_message` /
`wait_for` await what the bot sends; `fail_next` and `down_for` inject faults.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal, TypedDict

from aiohttp import web

TOKEN = "123456789:TEST-fake-token_abcdefghijklmnopqrstu"
BOT_USER = {
    "id": 123456789,
    "is_bot": True,
    "first_name": "Outreach",
    "username": "outreach_test_bot",
    "can_join_groups": False,
    "can_read_all_group_messages": False,
    "supports_inline_queries": False,
}
# Methods that answer `true` when they succeed.
_TRUE_METHODS = frozenset(
    {
        "answerCallbackQuery",
        "deleteWebhook",
        "setMyCommands",
        "deleteMyCommands",
        "sendChatAction",
        "deleteMessage",
        "setWebhook",
        "close",
        "logOut",
    }
)
DownMode = Literal["refuse", "502"]


class Call(TypedDict):
    """One request the bot made: method, form fields (as sent: strings), uploaded files."""

    method: str
    params: dict[str, Any]
    files: dict[str, tuple[str, bytes]]  # field -> (file name, content)
    status: int  # the HTTP status the fake answered with (0: dropped, server down)
    at: float  # time.time() when it arrived
    message_id: int | None  # the message a successful send or edit made or changed


@dataclass
class _Fault:
    method: str
    remaining: int
    error_code: int
    retry_after: int | None
    description: str


@dataclass
class _File:
    file_id: str
    content: bytes
    file_name: str
    mime_type: str
    file_path: str


@dataclass
class FakeTelegram:
    """The fake server; `url` is what TELEGRAM_API_URL takes once started."""

    token: str = TOKEN
    host: str = "127.0.0.1"
    port: int = 0
    max_poll_wait: float = 1.0  # cap on getUpdates' `timeout`, so tests never wait long

    calls: list[Call] = field(default_factory=list, init=False)
    updates: list[dict[str, Any]] = field(default_factory=list, init=False)  # not yet confirmed
    files: dict[str, _File] = field(default_factory=dict, init=False)
    _faults: list[_Fault] = field(default_factory=list, init=False)
    _down_until: float = field(default=0.0, init=False)
    _down_mode: DownMode = field(default="refuse", init=False)
    _changed: asyncio.Condition | None = field(default=None, init=False)
    _runner: web.AppRunner | None = field(default=None, init=False)
    _site: web.TCPSite | None = field(default=None, init=False)
    _revive: asyncio.Task[None] | None = field(default=None, init=False)
    _closing: bool = field(default=False, init=False)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set, init=False)
    _update_ids: itertools.count[int] = field(
        default_factory=lambda: itertools.count(1), init=False
    )
    _message_ids: itertools.count[int] = field(
        default_factory=lambda: itertools.count(1000), init=False
    )

    # --- lifecycle -----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The base URL to give the bot (no trailing slash)."""
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        """Listen; `port` holds the real port afterwards."""
        self._changed = asyncio.Condition()
        app = web.Application(middlewares=[self._down_middleware])
        app.router.add_route("*", "/bot{token}/{method}", self._method)
        app.router.add_get("/file/bot{token}/{path:.+}", self._download)
        self._runner = web.AppRunner(app, shutdown_timeout=1.0, access_log=None)
        await self._runner.setup()
        await self._listen()

    async def _listen(self) -> None:
        assert self._runner is not None
        self._site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
        await self._site.start()
        if self.port == 0:
            server = self._site._server  # noqa: SLF001 - aiohttp keeps the bound socket here
            assert isinstance(server, asyncio.Server)
            self.port = server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Release waiting long polls and stop listening."""
        self._closing = True
        await self._notify()
        if self._revive is not None:
            self._revive.cancel()
            await asyncio.gather(self._revive, return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeTelegram:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # --- what users do -------------------------------------------------------------------------

    def push_message(
        self,
        user_id: int,
        text: str | None = None,
        chat_id: int | None = None,
        document: str | None = None,
        caption: str | None = None,
        reply_to: int | None = None,
    ) -> dict[str, Any]:
        """Queue a message from a user (in their private chat unless `chat_id`); the update.

        `document` is a file id registered with `add_file`; the message then carries it.
        `reply_to` makes it an answer to the bot's message of that id (Telegram's "Reply").
        """
        chat = chat_id if chat_id is not None else user_id
        message: dict[str, Any] = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": _chat(chat),
            "from": _user(user_id),
        }
        if text is not None:
            message["text"] = text
            entities = _command_entities(text)
            if entities:
                message["entities"] = entities
        if document is not None:
            stored = self.files[document]
            message["document"] = {
                "file_id": stored.file_id,
                "file_unique_id": f"u-{stored.file_id}",
                "file_name": stored.file_name,
                "mime_type": stored.mime_type,
                "file_size": len(stored.content),
            }
        if caption is not None:
            message["caption"] = caption
            entities = _command_entities(caption)
            if entities:
                message["caption_entities"] = entities
        if reply_to is not None:
            message["reply_to_message"] = {
                "message_id": reply_to,
                "date": int(time.time()),
                "chat": _chat(chat),
                "from": BOT_USER,
                "text": self.text_of(chat, reply_to),
            }
        return self._queue({"message": message})

    def push_callback(
        self, user_id: int, data: str, message_id: int, chat_id: int | None = None
    ) -> dict[str, Any]:
        """Queue a press on an inline button of the bot's message `message_id`; the update."""
        chat = chat_id if chat_id is not None else user_id
        return self._press(user_id, chat, data, message_id)

    def text_of(self, chat_id: int, message_id: int) -> str:
        """The latest text the bot gave its message `message_id` in a chat (sent or edited)."""
        for call in reversed(self.sent):
            if call["method"] not in ("sendMessage", "editMessageText"):
                continue
            if str(call["params"].get("chat_id")) != str(chat_id):
                continue
            if call["message_id"] == message_id:
                return str(call["params"].get("text", ""))
        return "(a message with buttons)"

    def _press(self, user_id: int, chat: int, data: str, message_id: int) -> dict[str, Any]:
        query = {
            "id": f"cb{next(self._update_ids)}",
            "from": _user(user_id),
            "chat_instance": f"ci{chat}",
            "data": data,
            "message": {
                "message_id": message_id,
                "date": int(time.time()),
                "chat": _chat(chat),
                "from": BOT_USER,
                "text": self.text_of(chat, message_id),
            },
        }
        return self._queue({"callback_query": query})

    def add_file(
        self,
        file_id: str,
        content: bytes,
        file_name: str,
        mime_type: str = "application/octet-stream",
    ) -> None:
        """Make a file downloadable through getFile and /file/bot{token}/{file_path}."""
        path = f"documents/{file_id}_{file_name}"
        self.files[file_id] = _File(file_id, content, file_name, mime_type, path)

    def _queue(self, body: dict[str, Any]) -> dict[str, Any]:
        update = {"update_id": next(self._update_ids), **body}
        self.updates.append(update)
        self._notify_soon()
        return update

    # --- what the bot did ----------------------------------------------------------------------

    @property
    def sent(self) -> list[Call]:
        """Every request answered with success, getUpdates left out."""
        return [c for c in self.calls if c["status"] == 200 and c["method"] != "getUpdates"]

    def attempts(self, method: str) -> int:
        """How many times `method` was called, failures included."""
        return sum(1 for c in self.calls if c["method"] == method)

    def messages_to(self, chat_id: int) -> list[str]:
        """Texts of the messages delivered to a chat, in order (sendMessage only)."""
        return [
            str(c["params"].get("text", ""))
            for c in self.sent
            if c["method"] == "sendMessage" and str(c["params"].get("chat_id")) == str(chat_id)
        ]

    async def wait_for(self, predicate: Callable[[], Any], within: float = 10.0) -> Any:
        """Wait until `predicate()` is truthy and return its value; TimeoutError otherwise."""
        assert self._changed is not None
        async with asyncio.timeout(within), self._changed:
            while not (value := predicate()):
                await self._changed.wait()
            return value

    async def wait_for_message(
        self, chat_id: int, contains: str, within: float = 10.0, since: int = 0
    ) -> Call:
        """The first successful sendMessage to `chat_id` containing `contains`.

        `since`: only calls at index >= since in `calls` count (take `len(fake.calls)` before
        pushing a command to ignore what came earlier).
        """

        def found() -> Call | None:
            for call in self.calls[since:]:
                if (
                    call["status"] == 200
                    and call["method"] == "sendMessage"
                    and str(call["params"].get("chat_id")) == str(chat_id)
                    and contains in str(call["params"].get("text", ""))
                ):
                    return call
            return None

        call: Call = await self.wait_for(found, within)
        return call

    # --- faults --------------------------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        n: int = 1,
        error_code: int = 429,
        retry_after: int | None = 1,
        description: str | None = None,
    ) -> None:
        """The next `n` calls of `method` fail with `error_code` (429: with retry_after)."""
        if description is None:
            description = (
                f"Too Many Requests: retry after {retry_after}"
                if error_code == 429
                else f"Error {error_code}"
            )
        self._faults.append(
            _Fault(method, n, error_code, retry_after if error_code == 429 else None, description)
        )

    async def down_for(self, seconds: float, mode: DownMode = "refuse") -> None:
        """Be unreachable for `seconds`: connections refused (and open ones dropped), or 502s."""
        loop = asyncio.get_running_loop()
        self._down_until = loop.time() + seconds
        self._down_mode = mode
        if mode == "refuse" and self._site is not None:
            await self._site.stop()
            self._site = None
            assert self._runner is not None and self._runner.server is not None
            for handler in self._runner.server.connections:
                if handler.transport is not None:
                    handler.transport.close()
            self._revive = asyncio.create_task(self._come_back(seconds))

    async def _come_back(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
        if not self._closing:
            await self._listen()

    @property
    def is_down(self) -> bool:
        """Whether a `down_for` period is running."""
        return asyncio.get_running_loop().time() < self._down_until

    # --- the server ----------------------------------------------------------------------------

    @web.middleware
    async def _down_middleware(
        self, request: web.Request, handler: Callable[[web.Request], Any]
    ) -> web.StreamResponse:
        if self.is_down:
            method = request.match_info.get("method", "file")
            self._record(method, {}, {}, 0 if self._down_mode == "refuse" else 502)
            if self._down_mode == "refuse":
                # A request on a connection opened before the outage: drop it, as a dead
                # server would.
                if request.transport is not None:
                    request.transport.close()
                raise web.HTTPBadGateway()
            return web.Response(status=502, text="<html>502 Bad Gateway</html>",
                                content_type="text/html")  # fmt: skip
        response: web.StreamResponse = await handler(request)
        return response

    async def _method(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params, files = await _read_params(request)
        if request.match_info["token"] != self.token:
            return self._error(method, params, files, 401, "Unauthorized")
        fault = next((f for f in self._faults if f.method == method and f.remaining > 0), None)
        if fault is not None:
            fault.remaining -= 1
            extra = {"retry_after": fault.retry_after} if fault.retry_after is not None else None
            return self._error(method, params, files, fault.error_code, fault.description, extra)
        if method == "getUpdates":
            return await self._get_updates(params, files)
        result = self._result(method, params, files)
        if result is None:
            return self._error(method, params, files, 404, "Not Found: method not found")
        if isinstance(result, tuple):
            return self._error(method, params, files, result[0], result[1])
        made = result.get("message_id") if isinstance(result, dict) else None
        self._record(method, params, files, 200, made)
        return web.json_response({"ok": True, "result": result})

    def _result(  # noqa: PLR0911 - one answer per method reads best as a table
        self, method: str, params: dict[str, Any], files: dict[str, tuple[str, bytes]]
    ) -> Any:
        """The `result` of a successful call; None: unknown method; (code, text): an error."""
        if method == "getMe":
            return BOT_USER
        if method in _TRUE_METHODS:
            return True
        if method == "getMyCommands":
            return []
        if method == "getFile":
            stored = self.files.get(str(params.get("file_id")))
            if stored is None:
                return (400, "Bad Request: invalid file_id")
            return {
                "file_id": stored.file_id,
                "file_unique_id": f"u-{stored.file_id}",
                "file_size": len(stored.content),
                "file_path": stored.file_path,
            }
        if method in ("sendMessage", "editMessageText"):
            if not str(params.get("text", "")):
                return (400, "Bad Request: message text is empty")
            if len(str(params["text"]).encode("utf-16-le")) // 2 > 4096:
                return (400, "Bad Request: message is too long")
            message_id = params.get("message_id") if method == "editMessageText" else None
            return self._message(params, text=str(params["text"]), message_id=message_id)
        if method == "sendDocument":
            name, content = files.get("document", ("document", b""))
            doc = {"file_id": f"doc{len(self.calls)}", "file_unique_id": f"udoc{len(self.calls)}",
                   "file_name": name, "file_size": len(content)}  # fmt: skip
            return self._message(params, document=doc)
        if method == "sendPhoto":
            _, content = files.get("photo", ("photo", b""))
            photo = [{"file_id": f"ph{len(self.calls)}", "file_unique_id": f"uph{len(self.calls)}",
                      "width": 800, "height": 600, "file_size": len(content)}]  # fmt: skip
            return self._message(params, photo=photo)
        return None

    def _message(
        self, params: dict[str, Any], message_id: Any = None, **content: Any
    ) -> dict[str, Any]:
        chat_id = int(str(params.get("chat_id", "0")))
        message: dict[str, Any] = {
            "message_id": int(message_id) if message_id else next(self._message_ids),
            "date": int(time.time()),
            "chat": _chat(chat_id),
            "from": BOT_USER,
        }
        if params.get("caption"):
            message["caption"] = params["caption"]
        message.update(content)
        return message

    async def _get_updates(
        self, params: dict[str, Any], files: dict[str, tuple[str, bytes]]
    ) -> web.Response:
        offset = int(params.get("offset") or 0)
        if offset:
            # Everything below the offset is confirmed: it is never handed out again.
            self.updates = [u for u in self.updates if u["update_id"] >= offset]
        wait = min(float(params.get("timeout") or 0), self.max_poll_wait)
        assert self._changed is not None
        if not self.updates and wait > 0 and not self._closing:
            try:
                async with asyncio.timeout(wait), self._changed:
                    await self._changed.wait_for(lambda: bool(self.updates) or self._closing)
            except TimeoutError:
                pass
        limit = int(params.get("limit") or 100)
        batch = self.updates[:limit]
        self._record("getUpdates", params, files, 200)
        return web.json_response({"ok": True, "result": batch})

    async def _download(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.json_response(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401
            )
        path = request.match_info["path"]
        stored = next((f for f in self.files.values() if f.file_path == path), None)
        self._record("file", {"file_path": path}, {}, 200 if stored else 404)
        if stored is None:
            return web.json_response(
                {"ok": False, "error_code": 404, "description": "Not Found"}, status=404
            )
        return web.Response(body=stored.content, content_type=stored.mime_type)

    def _error(
        self,
        method: str,
        params: dict[str, Any],
        files: dict[str, tuple[str, bytes]],
        code: int,
        description: str,
        parameters: dict[str, Any] | None = None,
    ) -> web.Response:
        self._record(method, params, files, code)
        body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
        if parameters:
            body["parameters"] = parameters
        return web.json_response(body, status=code)

    def _record(
        self,
        method: str,
        params: dict[str, Any],
        files: dict[str, tuple[str, bytes]],
        status: int,
        message_id: int | None = None,
    ) -> None:
        self.calls.append(
            Call(
                method=method,
                params=params,
                files=files,
                status=status,
                at=time.time(),
                message_id=message_id,
            )  # fmt: skip
        )
        self._notify_soon()

    def _notify_soon(self) -> None:
        # Called from sync code (push_*, _record): wake waiters from a task of their loop.
        if self._changed is not None:
            task = asyncio.get_running_loop().create_task(self._notify())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _notify(self) -> None:
        if self._changed is not None:
            async with self._changed:
                self._changed.notify_all()


async def _read_params(request: web.Request) -> tuple[dict[str, Any], dict[str, tuple[str, bytes]]]:
    """Form fields (urlencoded or multipart, as aiogram sends them), query string, or JSON."""
    params: dict[str, Any] = dict(request.query)
    files: dict[str, tuple[str, bytes]] = {}
    if request.content_type == "application/json":
        body = await request.json()
        if isinstance(body, dict):
            params.update(body)
        return params, files
    if request.method == "POST" and request.can_read_body:
        form = await request.post()
        for key, value in form.items():
            if isinstance(value, web.FileField):
                files[key] = (value.filename, value.file.read())
            else:
                params[key] = value
    return params, files


def _chat(chat_id: int) -> dict[str, Any]:
    if chat_id > 0:
        return {"id": chat_id, "type": "private", "first_name": f"User{chat_id}"}
    return {"id": chat_id, "type": "supergroup", "title": f"Group{-chat_id}"}


def _user(user_id: int) -> dict[str, Any]:
    return {"id": user_id, "is_bot": False, "first_name": f"User{user_id}", "language_code": "en"}


def _command_entities(text: str) -> list[dict[str, Any]]:
    if not text.startswith("/"):
        return []
    word = text.split(maxsplit=1)[0]
    return [{"type": "bot_command", "offset": 0, "length": len(word.encode("utf-16-le")) // 2}]


def decode_json_field(call: Call, name: str) -> Any:
    """A JSON-encoded form field of a call (aiogram sends reply_markup, commands... as JSON)."""
    return json.loads(str(call["params"][name]))
