"""Tenant messages and events, from the stored push to the ISV's code: `router.py` (handlers by
platform, app, tenant, MsgType / Event / InfoType), `messages.py` (what a handler gets),
`replies.py` (what it may return), `service.py` (running handlers in the request or in jobs),
`webhooks/` (signed POSTs with retries, one tenant's deliveries in order), `release_check.py` (the
Open Platform's release test).

ISV code registers handlers on the package's router:

    from suite_server.dispatch import router, TextReply

    @router.message("text", sync=True)
    def echo(message):
        return TextReply(message.content)
"""

from suite_server.dispatch.messages import Message
from suite_server.dispatch.replies import (
    ImageReply,
    NewsReply,
    Reply,
    TextReply,
    VideoReply,
    VoiceReply,
)
from suite_server.dispatch.router import Router, router

__all__ = [
    "ImageReply",
    "Message",
    "NewsReply",
    "Reply",
    "Router",
    "TextReply",
    "VideoReply",
    "VoiceReply",
    "router",
]
