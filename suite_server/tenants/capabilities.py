"""What a tenant may do, read from its stored auth info (isv-capabilities §13): an Open account's
granted permission sets (`func_info`), its account status, service and verify types, and the
sets its app needs but it did not grant; a WeCom corp's agent privilege and auth mode. And what
changed between two auth infos, for the tenant's history.

Read only: authorization/capabilities.py keeps the auth info fresh."""

from __future__ import annotations

from typing import Any

# open-platform.md §4.6: authorizer_info.account_status.
ACCOUNT_STATES = {1: "normal", 14: "deregistered", 16: "banned", 18: "warned", 19: "frozen"}
AT_RISK_STATES = (14, 16, 19)  # a warned account still works
WECOM_AUTH_MODES = {0: "admin", 1: "member"}  # auth_info.agent[].auth_mode


def granted(func_info: Any) -> list[int]:
    """The permission set ids of a func_info list: [{"funcscope_category": {"id": 1}}, ...]."""
    ids = set()
    for item in func_info if isinstance(func_info, list) else []:
        scope = item.get("funcscope_category") if isinstance(item, dict) else None
        value = scope.get("id") if isinstance(scope, dict) else None
        if isinstance(value, int) and not isinstance(value, bool):
            ids.add(value)
    return sorted(ids)


def _number(value: Any) -> int | None:
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def of_open(authorizer_info: Any, func_info: Any, required: Any) -> dict[str, Any]:
    info = authorizer_info if isinstance(authorizer_info, dict) else {}
    sets = granted(func_info)
    needed = sorted({n for n in required or [] if isinstance(n, int)})
    status = _number(info.get("account_status"))
    return {
        "func_info": sets,
        "missing_func_info": [n for n in needed if n not in sets],
        "account_status": status,
        "account_state": ACCOUNT_STATES.get(status, "unknown") if status is not None else None,
        "service_type": _number(info.get("service_type_info")),
        "verify_type": _number(info.get("verify_type_info")),
    }


def of_wecom(auth_info: Any) -> dict[str, Any]:
    agents = auth_info.get("agent") if isinstance(auth_info, dict) else None
    agent = agents[0] if isinstance(agents, list) and agents and isinstance(agents[0], dict) else {}
    privilege = agent.get("privilege") if isinstance(agent.get("privilege"), dict) else {}
    mode = _number(agent.get("auth_mode"))
    return {
        "agentid": agent.get("agentid"),
        "auth_mode": WECOM_AUTH_MODES.get(mode) if mode is not None else None,
        "privilege_level": privilege.get("level"),
        "allow_party": privilege.get("allow_party") or [],
        "allow_user": privilege.get("allow_user") or [],
        "allow_tag": privilege.get("allow_tag") or [],
    }


def of(platform: str, auth_info: Any, required: Any = None) -> dict[str, Any] | None:
    """The capabilities a tenant's whole auth info shows, or None when there is none."""
    if not isinstance(auth_info, dict):
        return None
    if platform == "open":
        return of_open(auth_info.get("authorizer_info"), auth_info.get("func_info"), required)
    return of_wecom(auth_info.get("auth_info"))


def changes(platform: str, before: Any, after: Any) -> dict[str, Any]:
    """What differs between two auth infos' capabilities: {field: {"from", "to"}}, and for
    permission sets {"func_info": {"added", "removed"}}; {} when nothing did."""
    old, new = of(platform, before) or {}, of(platform, after) or {}
    diff: dict[str, Any] = {}
    for name in sorted(set(old) | set(new)):
        if name == "missing_func_info" or old.get(name) == new.get(name):
            continue
        if name == "func_info":
            was, now = set(old.get(name) or []), set(new.get(name) or [])
            diff[name] = {"added": sorted(now - was), "removed": sorted(was - now)}
        else:
            diff[name] = {"from": old.get(name), "to": new.get(name)}
    return diff
