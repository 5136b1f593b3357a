"""A Bot API session that records requests and answers them in-process (aiogram's MockedSession).

Answers go through aiogram's own response check, so handlers get real, bot-bound objects.
`files` maps a file id to its content: getFile and the download stream serve it.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncGenerator
from typing import Any, cast

from aiogram import Bot
from aiogram.client.session.base import BaseSession
from aiogram.methods import (
    AnswerCallbackQuery,
    EditMessageText,
    GetFile,
    SendChatAction,
    SendMessage,
    SendPhoto,
    TelegramMethod,
)
from aiogram.methods.base import TelegramType
from aiogram.types import Update

TOKEN = "42:TEST-token"
BOT_ID = 42


class RecordingSession(BaseSession):
    """Records every method call; answers the handful the data commands use."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[TelegramMethod[Any]] = []
        self.files: dict[str, bytes] = {}
        self._ids = itertools.count(900)

    async def close(self) -> None:
        """Nothing to release."""

    async def make_request(
        self,
        bot: Bot,
        method: TelegramMethod[TelegramType],
        timeout: int | None = None,  # noqa: ASYNC109 - BaseSession's signature
    ) -> TelegramType:
        """Record `method` and answer it as the Bot API would."""
        self.requests.append(method)
        body = json.dumps({"ok": True, "result": self._result(method)})
        return cast(TelegramType, self.check_response(bot, method, 200, body).result)

    async def stream_content(
        self,
        url: str,
        headers: dict[str, Any] | None = None,
        timeout: int = 30,  # noqa: ASYNC109 - BaseSession's signature
        chunk_size: int = 65536,
        raise_for_status: bool = True,
    ) -> AsyncGenerator[bytes, None]:
        """The content of `documents/<file id>`."""
        file_id = url.rpartition("/documents/")[2]
        yield self.files[file_id]

    def _result(self, method: TelegramMethod[Any]) -> Any:
        if isinstance(method, AnswerCallbackQuery | SendChatAction):
            return True
        if isinstance(method, GetFile):
            content = self.files[method.file_id]
            return {
                "file_id": method.file_id,
                "file_unique_id": f"u{method.file_id}",
                "file_size": len(content),
                "file_path": f"documents/{method.file_id}",
            }
        if isinstance(method, SendMessage | EditMessageText | SendPhoto):
            message: dict[str, Any] = {
                "message_id": getattr(method, "message_id", None) or next(self._ids),
                "date": 0,
                "chat": {"id": method.chat_id, "type": "private"},
                "from": {"id": BOT_ID, "is_bot": True, "first_name": "bot"},
            }
            if isinstance(method, SendPhoto):
                photo = {"file_id": "p", "file_unique_id": "p", "width": 1, "height": 1}
                message["photo"] = [photo]
            else:
                message["text"] = method.text
            return message
        raise AssertionError(f"the fake session does not answer {type(method).__name__}")

    def of(self, kind: type[TelegramMethod[Any]]) -> list[Any]:
        """The recorded calls of one method type."""
        return [r for r in self.requests if isinstance(r, kind)]

    def texts(self) -> list[str]:
        """Texts of every sendMessage and editMessageText, in order."""
        return [str(r.text) for r in self.requests if isinstance(r, SendMessage | EditMessageText)]


def message_update(
    text: str | None = None,
    *,
    user_id: int,
    document: dict[str, Any] | None = None,
    caption: str | None = None,
    update_id: int = 1,
) -> Update:
    """An update with one private message from `user_id`."""
    message: dict[str, Any] = {
        "message_id": update_id,
        "date": 0,
        "chat": {"id": user_id, "type": "private"},
        "from": {"id": user_id, "is_bot": False, "first_name": "Admin"},
    }
    if text is not None:
        message["text"] = text
    if document is not None:
        message["document"] = document
    if caption is not None:
        message["caption"] = caption
    return Update.model_validate({"update_id": update_id, "message": message})


def callback_update(data: str, *, user_id: int, message_id: int, update_id: int = 1) -> Update:
    """An update with a press on a button of the bot's message `message_id`."""
    return Update.model_validate(
        {
            "update_id": update_id,
            "callback_query": {
                "id": f"cb{update_id}",
                "from": {"id": user_id, "is_bot": False, "first_name": "Admin"},
                "chat_instance": "ci",
                "data": data,
                "message": {
                    "message_id": message_id,
                    "date": 0,
                    "chat": {"id": user_id, "type": "private"},
                    "from": {"id": BOT_ID, "is_bot": True, "first_name": "bot"},
                    "text": "buttons",
                },
            },
        }
    )


def document(file_id: str, file_name: str, size: int) -> dict[str, Any]:
    """The `document` of a message."""
    return {
        "file_id": file_id,
        "file_unique_id": f"u{file_id}",
        "file_name": file_name,
        "file_size": size,
    }
