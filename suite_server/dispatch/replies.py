"""Passive replies a synchronous handler may return, rendered as the platform's reply XML
(open-platform.md §3 "Passive reply", wecom-suite.md §2): To and From swapped from the message,
then encrypted and signed by the caller (crypto/msgcrypt.encrypted_reply)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from suite_server.dispatch.messages import Message
from suite_server.protocol.xml import cdata


class Reply:
    msg_type = ""

    def body(self) -> str:
        raise NotImplementedError

    def render(self, message: Message, now: int | None = None) -> str:
        return (
            f"<xml><ToUserName>{cdata(message.from_user)}</ToUserName>"
            f"<FromUserName>{cdata(message.to_user)}</FromUserName>"
            f"<CreateTime>{int(now if now is not None else time.time())}</CreateTime>"
            f"<MsgType>{cdata(self.msg_type)}</MsgType>{self.body()}</xml>"
        )


@dataclass
class TextReply(Reply):
    content: str
    msg_type = "text"

    def body(self) -> str:
        return f"<Content>{cdata(self.content)}</Content>"


@dataclass
class ImageReply(Reply):
    media_id: str
    msg_type = "image"

    def body(self) -> str:
        return f"<Image><MediaId>{cdata(self.media_id)}</MediaId></Image>"


@dataclass
class VoiceReply(Reply):
    media_id: str
    msg_type = "voice"

    def body(self) -> str:
        return f"<Voice><MediaId>{cdata(self.media_id)}</MediaId></Voice>"


@dataclass
class VideoReply(Reply):
    media_id: str
    title: str = ""
    description: str = ""
    msg_type = "video"

    def body(self) -> str:
        return (
            f"<Video><MediaId>{cdata(self.media_id)}</MediaId><Title>{cdata(self.title)}</Title>"
            f"<Description>{cdata(self.description)}</Description></Video>"
        )


@dataclass
class Article:
    title: str
    description: str = ""
    pic_url: str = ""
    url: str = ""


@dataclass
class NewsReply(Reply):
    articles: list[Article] = field(default_factory=list)
    msg_type = "news"

    def body(self) -> str:
        items = "".join(
            f"<item><Title>{cdata(a.title)}</Title><Description>{cdata(a.description)}"
            f"</Description><PicUrl>{cdata(a.pic_url)}</PicUrl><Url>{cdata(a.url)}</Url></item>"
            for a in self.articles[:8]  # the platforms show at most 8
        )
        return (
            f"<ArticleCount>{min(len(self.articles), 8)}</ArticleCount><Articles>{items}</Articles>"
        )
