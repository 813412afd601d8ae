"""An example handler module. Name it in the settings to load it at start:

    SUITE_SERVER_HANDLERS=examples.handlers suite-server demo

(or `HANDLERS = ["myisv.handlers"]` in the config file). Importing the module registers its
handlers on suite_server.dispatch.router; see docs/handlers.md.
"""

import logging

from suite_server.dispatch import Message, TextReply, router

log = logging.getLogger(__name__)


@router.message("text", sync=True)
def answer_text(message: Message) -> TextReply:
    """Runs inside the platform's request (sync=True): the reply goes back encrypted. Keep it
    well under a second; the server cuts a synchronous handler off after 3 s."""
    if message.content == "ping":
        return TextReply("pong")
    return TextReply(f"You said: {message.content}")


@router.event("subscribe", sync=True)
def welcome(message: Message) -> TextReply:
    return TextReply("Welcome!")


@router.info("change_contact")
def contacts_changed(message: Message) -> None:
    """Runs in a background job after `success` was answered (no reply possible): the place for
    slow work, such as syncing the corp's directory."""
    log.info("corp %s: contact change %s", message.tenant_id, message.fields.get("ChangeType", ""))


@router.message()
def everything_else(message: Message) -> None:
    """The default for messages nobody else handles (images, voice, ...)."""
    log.info("%s message from %s in %s", message.msg_type, message.from_user, message.tenant_id)


@router.lifecycle("tenant.authorized")
def provision(message: Message) -> None:
    """A corp or account authorized the app (docs/lifecycle.md): create its space in your system.
    `message.ref` is the reference your install link carried, if any."""
    tenant = message.lifecycle["tenant"]
    log.info("new tenant %s (%s), ref %s", message.tenant_id, tenant["name"], message.ref)


@router.lifecycle("tenant.cancelled")
def deprovision(message: Message) -> None:
    """The authorization ended: WeCom requires that you delete the corp's data now."""
    log.info("tenant %s cancelled: delete its data", message.tenant_id)
