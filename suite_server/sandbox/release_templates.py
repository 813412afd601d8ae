"""A component's mini-program template store (isv-capabilities.md §12): drafts the developers
upload from the IDE (the control API plays that part), turned into templates by addtotemplate,
listed and deleted with the component_access_token. Accounts commit templates (releases.py).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from suite_server.sandbox.errors import ApiError
from suite_server.sandbox.releases import OK, book, whole
from suite_server.sandbox.state import SandboxState

TEMPLATE_TYPES = (0, 1)  # 0 ordinary library, 1 standard library
LIBRARY_SIZE = 200  # templates per library (the platform's template library page)


@dataclass
class Draft:
    draft_id: int
    user_version: str
    user_desc: str
    create_time: int
    source_miniprogram_appid: str
    source_miniprogram: str
    developer: str


@dataclass
class Template:
    template_id: int
    draft_id: int
    user_version: str
    user_desc: str
    create_time: int
    template_type: int
    source_miniprogram_appid: str
    source_miniprogram: str
    developer: str


def add_draft(state: SandboxState, app_id: str, **fields: str) -> Draft:
    """A developer uploads code from the IDE: a draft in the component's draft box."""
    with state.lock:
        store = book(state)
        draft = Draft(
            draft_id=store.next_draft,
            user_version=fields.get("user_version", ""),
            user_desc=fields.get("user_desc", ""),
            create_time=int(state.now()),
            source_miniprogram_appid=fields.get("source_miniprogram_appid") or "wxdevsandbox0001",
            source_miniprogram=fields.get("source_miniprogram") or "sandbox dev mini program",
            developer=fields.get("developer") or "sandbox-developer",
        )
        store.next_draft += 1
        store.drafts.setdefault(app_id, {})[draft.draft_id] = draft
        return draft


def draft_list(state: SandboxState, app_id: str) -> dict[str, Any]:
    with state.lock:
        drafts = book(state).drafts.get(app_id, {}).values()
        return {**OK, "draft_list": [asdict(d) for d in drafts]}


def add_to_template(state: SandboxState, app_id: str, body: dict[str, Any]) -> dict[str, Any]:
    draft_id = whole(body.get("draft_id"), 85064) if body.get("draft_id") is not None else None
    template_type = whole(body.get("template_type", 0), 47001)
    if template_type not in TEMPLATE_TYPES:
        raise ApiError(40097)
    with state.lock:
        store = book(state)
        draft = store.drafts.get(app_id, {}).get(draft_id or 0)
        if draft is None:
            raise ApiError(85064)  # template (or draft) not found
        library = store.templates.setdefault(app_id, {})
        if sum(1 for t in library.values() if t.template_type == template_type) >= LIBRARY_SIZE:
            raise ApiError(85065)
        template = Template(
            template_id=store.next_template,
            draft_id=draft.draft_id,
            user_version=draft.user_version,
            user_desc=draft.user_desc,
            create_time=int(state.now()),
            template_type=template_type,
            source_miniprogram_appid=draft.source_miniprogram_appid,
            source_miniprogram=draft.source_miniprogram,
            developer=draft.developer,
        )
        store.next_template += 1
        library[template.template_id] = template
        return dict(OK)


def template_list(state: SandboxState, app_id: str, template_type: str | None) -> dict[str, Any]:
    wanted = None
    if template_type not in (None, ""):
        wanted = whole(template_type, 40097)
    with state.lock:
        templates = book(state).templates.get(app_id, {}).values()
        rows = [asdict(t) for t in templates if wanted is None or t.template_type == wanted]
        return {**OK, "template_list": rows}


def delete_template(state: SandboxState, app_id: str, body: dict[str, Any]) -> dict[str, Any]:
    template_id = whole(body.get("template_id"), 85064) if "template_id" in body else 0
    with state.lock:
        if book(state).templates.get(app_id, {}).pop(template_id, None) is None:
            raise ApiError(85064)
        return dict(OK)
