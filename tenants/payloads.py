"""Reading the Kit payloads tolerantly (protocol §4.5): V1 JSON strings and V2 arrays in either
generation (U10, U31), V1's nested `extension` or flat members (U34), allOrgSync's `orgInfo`
string with `name` or `orgInfoList` array with `orgName`, member names in any letter case,
and a lenient parser for the string shape that has been seen with unquoted keys (§4.5.5).

Tolerant of shape, strict about content (§2.8: a mandatory field missing → 000002): every Kit call
needs `testFlag` 0/1 and a valid `timeStamp` (`call_stamp`); an add or modify needs every
mandatory member of what it stores (`complete=True`: a user's name, orgCode, role and enable; a
department's name), while a delete or cancel needs only the members that identify its rows.

Everything here only validates and reshapes; nothing touches the database.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from marketplace_isv import fields, strict_json
from marketplace_isv.envelope import ParamError
from marketplace_isv.fields import key_fit

# --- members in any letter case -------------------------------------------------------------------


def member(obj: dict[str, Any], *names: str) -> Any:
    """The first of `names` present in `obj`, compared case-insensitively (exact names first)."""
    for name in names:
        if name in obj:
            return obj[name]
    lowered = {k.lower(): v for k, v in obj.items() if isinstance(k, str)}
    for name in names:
        if name.lower() in lowered:
            return lowered[name.lower()]
    return None


def text_of(value: Any, *, limit: int | None = 255) -> str:
    if value is None or isinstance(value, (dict, list)):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value).strip()[:limit]


def key_of(value: Any, name: str) -> str:
    """A key (userName, orgCode and the orgCodes that refer to one): fitted to its 255-character
    column with a digest of the whole (fields.key_fit), so long keys never merge and a reference
    finds what it refers to. Text or a number (§4.0); anything else is refused, never read as
    "true" or as empty (a parentCode of [] would make a department top-level)."""
    return key_fit(strict_text(value, name, limit=None))


def lenient_key(value: Any) -> str:
    """A key a delete does not need: read as text where it can be, never refused."""
    return key_fit(text_of(value, limit=None))


def strict_text(value: Any, name: str, *, limit: int | None = 255) -> str:
    """`text_of` for a member that names or identifies something: true/false, an object or an
    array is refused with the member's name (000002)."""
    if isinstance(value, (bool, dict, list)):
        raise ParamError(f"{name} must be text")
    return text_of(value, limit=limit)


# --- flags, testFlag, stamps, domains ------------------------------------------------------------


def flag(payload: dict[str, Any], allowed: tuple[int, ...]) -> int:
    raw = text_of(member(payload, "flag"))
    if not raw:
        raise ParamError("flag is required")
    value = fields.integer({"flag": raw}, "flag")  # plain digits, an optional `.0` tail
    if value not in allowed:
        raise ParamError(f"flag {value} is not one of {', '.join(map(str, allowed))}")
    return value


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def is_test_traffic(payload: dict[str, Any]) -> bool:
    """`testFlag` is mandatory on every Kit call and is 0 or 1 (§4.5), as a JSON string or number
    (§4.0); True means debug traffic."""
    value = member(payload, "testFlag")
    if _blank(value):
        raise ParamError("testFlag is required")
    raw = value.strip() if isinstance(value, str) else value
    if isinstance(raw, bool) or str(raw) not in ("0", "1"):  # a JSON true is no 1; 1.0 and "01" are refused
        raise ParamError("testFlag must be 0 or 1")
    return str(raw) == "1"


def kit_time(payload: dict[str, Any], name: str) -> int:
    """A mandatory Kit time (`timeStamp`, `currentSyncTime`; §4.5) as an ordering integer."""
    if _blank(member(payload, name)):
        raise ParamError(f"{name} is required")
    stamp = kit_stamp(payload, name)
    if stamp is None:
        raise ParamError(f"{name} must be a UTC+8 time yyyyMMddHHmmssSSS (or yyyyMMddHHmmss)")
    return stamp


def call_stamp(payload: dict[str, Any], *, ordered_by: str = "timeStamp") -> int:
    """The body `timeStamp`, mandatory on every Kit call, is checked; the stamp that orders the
    change is `ordered_by` (authSync: its own mandatory `currentSyncTime`, §4.5.3)."""
    stamp = kit_time(payload, "timeStamp")
    return stamp if ordered_by == "timeStamp" else kit_time(payload, ordered_by)


def kit_stamp(payload: dict[str, Any], *names: str) -> int | None:
    """A Kit time (UTC+8 yyyyMMddHHmmssSSS, or 14 digits) as an integer that orders correctly;
    the first of `names` that holds one, None when none does."""
    for name in names:
        raw = text_of(member(payload, name))
        if raw.isascii() and raw.isdigit() and len(raw) in (14, 17):
            try:
                datetime.strptime(raw[:14], "%Y%m%d%H%M%S")
            except ValueError:
                continue
            return int(raw if len(raw) == 17 else raw + "000")
    return None


def normalise_domain(value: str) -> str:
    """The tenant's authentication domain as a base URL: `https://` added when schemeless (U30),
    no trailing slash."""
    value = value.strip()
    if not value:
        return ""
    if not re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", value):
        value = "https://" + value.lstrip("/")
    return value.rstrip("/")


# --- lenient JSON ---------------------------------------------------------------------------------

_IDENT = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")


def _relaxed_to_json(text: str) -> str:
    """Quote bare keys, turn single-quoted strings into JSON strings, drop trailing commas."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in "\"'":
            j, chars = i + 1, []
            while j < n and text[j] != ch:
                if text[j] == "\\" and j + 1 < n:
                    chars.append("'" if text[j + 1] == "'" else text[j : j + 2])  # \' is no JSON escape
                    j += 2
                    continue
                chars.append('\\"' if text[j] == '"' else text[j])
                j += 1
            out.append('"' + "".join(chars) + '"')
            i = j + 1
            continue
        if ch == ",":
            k = i + 1
            while k < n and text[k].isspace():
                k += 1
            if k < n and text[k] in "}]":
                i += 1
                continue
        match = _IDENT.match(text, i) if (ch.isalpha() or ch in "_$") else None
        if match:
            word = match.group(0)
            k = match.end()
            while k < n and text[k].isspace():
                k += 1
            if k < n and text[k] == ":" and word not in ("true", "false", "null"):
                out.append(json.dumps(word))
            else:
                out.append(word)
            i = match.end()
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def lenient_json(text: str, *, name: str) -> Any:
    """JSON sent as a string, read by the body's own rules (marketplace_isv.strict_json), with the
    relaxed form (single quotes, bare keys, trailing commas) as a fallback."""
    try:
        value = strict_json.loads(text, refuse_nul=True)
    except ValueError:
        try:
            value = strict_json.loads(_relaxed_to_json(text), refuse_nul=True)
        except ValueError as exc:
            raise ParamError(f"{name} is not valid JSON: {exc}") from None
    if isinstance(value, str) and value.strip()[:1] in ("[", "{"):
        return lenient_json(value, name=name)  # a JSON string holding the JSON text
    return value


def entry_list(payload: dict[str, Any], name: str, *, entry_key: str) -> list[Any]:
    """A list member that may arrive as an array or as a string holding one (U10, U31). An object
    is one entry sent bare, or a wrapper holding the list (`{"list": [...]}`): an object that
    names an entry (`entry_key`: userName, orgCode) is that entry, whatever arrays it carries
    among its extra members (§4.0: extra members are ignored, never taken for the list)."""
    value = member(payload, name)
    if _blank(value):
        raise ParamError(f"{name} is required")
    if isinstance(value, str):
        value = lenient_json(value, name=name)
    if isinstance(value, dict):
        nested = [v for v in value.values() if isinstance(v, list)]
        value = nested[0] if len(nested) == 1 and member(value, entry_key) is None else [value]
    if not isinstance(value, list):
        raise ParamError(f"{name} is not a list")
    return value


# --- authSync userList ----------------------------------------------------------------------------

_USER_MEMBERS = {
    "username": "user_name",
    "name": "name",
    "orgcode": "org_code",
    "position": "position",
    "employeecode": "employee_code",
    "employeetype": "employee_type",
    "role": "role",
    "enable": "enabled",
    "enabled": "enabled",
    "mobile": "mobile",
    "email": "email",
}


@dataclass
class UserEntry:
    user_name: str
    name: str = ""
    org_code: str = ""
    position: str = ""
    employee_code: str = ""
    employee_type: int | None = None
    role: str = "user"
    enabled: bool = True
    mobile: str = ""
    email: str = ""
    extension: dict[str, Any] = field(default_factory=dict)


def _enabled(value: Any, where: str, *, complete: bool) -> bool:
    """`enable` is the string "true"/"false" (§4.5.3), in any letter case; a JSON boolean is
    tolerated. An add or modify must send it. A delete or cancel stores it only on a tombstone
    row (a user never seen before) and is not refused for it: absent counts as enabled there, and
    anything not recognisably true as disabled (the safe side for access)."""
    if isinstance(value, bool):
        return value
    text = text_of(value).lower()
    if complete:
        if not text:
            raise ParamError(f"{where}.enable is required")
        if text not in ("true", "false"):
            raise ParamError(f'{where}.enable must be "true" or "false"')
        return text == "true"
    if not text:
        return True
    return text in ("true", "1", "yes", "y", "on", "enable", "enabled")


def _role(value: Any, where: str, *, complete: bool) -> str | None:
    """`role` is admin or user (§4.5.3), in any letter case; None when a delete or cancel sent
    something else (kept in `extension`, stored as user)."""
    role = text_of(value).lower()
    if role in ("admin", "user"):
        return role
    if complete:
        raise ParamError(f"{where}.role must be admin or user" if role else f"{where}.role is required")
    return None


_SMALL_INTEGER = re.compile(r"-?[0-9]{1,9}")


def _employee_type(value: Any) -> int | None:
    raw = text_of(value)
    return int(raw) if _SMALL_INTEGER.fullmatch(raw) else None  # anything else stays in `extension`


def user_entry(raw: Any, index: int, *, complete: bool = True) -> UserEntry:
    """One user of `userList`. `complete`: an add or modify, which must send every mandatory
    member (§4.5.3); otherwise (delete, cancel) only userName is needed."""
    where = f"userList[{index}]"
    if not isinstance(raw, dict):
        raise ParamError(f"{where} is not an object")
    known: dict[str, Any] = {}
    extension: dict[str, Any] = {}
    nested = raw.get("extension", raw.get("Extension"))
    if isinstance(nested, str) and nested.strip():
        nested = lenient_json(nested, name=f"{where}.extension")
    for source in ((nested if isinstance(nested, dict) else {}), raw):  # flat members win (U34)
        for key, value in source.items():
            if not isinstance(key, str) or key.lower() == "extension":
                continue
            target = _USER_MEMBERS.get(key.lower())
            if target:
                known[target] = value
            else:
                extension[key] = value
    user_name = key_of(known.get("user_name"), f"{where}.userName")
    if not user_name:
        raise ParamError(f"{where}.userName is required")
    if complete:
        for member_name, target in (("name", "name"), ("orgCode", "org_code")):
            if not text_of(known.get(target)):
                raise ParamError(f"{where}.{member_name} is required")
    role = _role(known.get("role"), where, complete=complete)
    if role is None:
        if text_of(known.get("role")):
            extension["role"] = known.get("role")
        role = "user"
    enabled = _enabled(known.get("enabled"), where, complete=complete)
    employee_type = _employee_type(known.get("employee_type"))
    if employee_type is None and text_of(known.get("employee_type")):
        extension["employeeType"] = known.get("employee_type")
    return UserEntry(
        user_name=user_name,
        # Members a delete does not need are read leniently there: deletes always succeed (§4.5).
        name=strict_text(known.get("name"), f"{where}.name") if complete else text_of(known.get("name")),
        org_code=key_of(known.get("org_code"), f"{where}.orgCode") if complete else lenient_key(known.get("org_code")),
        position=text_of(known.get("position")),
        employee_code=text_of(known.get("employee_code")),
        employee_type=employee_type,
        role=role,
        enabled=enabled,
        mobile=text_of(known.get("mobile"), limit=64),
        email=text_of(known.get("email")),
        extension=extension,
    )


def user_entries(payload: dict[str, Any], *, complete: bool) -> list[UserEntry]:
    return [
        user_entry(raw, i, complete=complete)
        for i, raw in enumerate(entry_list(payload, "userList", entry_key="userName"))
    ]


# --- org entries ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class OrgEntry:
    org_code: str
    name: str
    parent_code: str


def org_entry(raw: Any, where: str = "", *, complete: bool = True, name_member: str = "orgName") -> OrgEntry:
    """One department. `complete`: an add, a modify or a snapshot entry, which must name it
    (`orgName`, or `name`); a delete needs only orgCode. parentCode is always optional."""
    if not isinstance(raw, dict):
        raise ParamError(f"{where} is not an object")
    prefix = f"{where}." if where else ""
    org_code = key_of(member(raw, "orgCode"), f"{prefix}orgCode")
    if not org_code:
        raise ParamError(f"{prefix}orgCode is required")
    raw_name = member(raw, "orgName", "name")
    name = strict_text(raw_name, f"{prefix}{name_member}", limit=512) if complete else text_of(raw_name, limit=512)
    if complete and not name:
        raise ParamError(f"{prefix}{name_member} is required")
    return OrgEntry(
        org_code=org_code,
        name=name,
        parent_code=(
            key_of(member(raw, "parentCode", "parentOrgCode"), f"{prefix}parentCode")
            if complete
            else lenient_key(member(raw, "parentCode", "parentOrgCode"))
        ),
    )


def org_entries(payload: dict[str, Any]) -> list[OrgEntry]:
    """allOrgSync's snapshot: V2 `orgInfoList` or V1 `orgInfo`, whichever is present (§4.5.5)."""
    if member(payload, "orgInfoList") is None and member(payload, "orgInfo") is None:
        raise ParamError("orgInfoList (Kit V1: orgInfo) is required")
    name = "orgInfoList" if member(payload, "orgInfoList") is not None else "orgInfo"
    name_member = "orgName" if name == "orgInfoList" else "name"  # each shape's own spelling (§4.5.5)
    entries = entry_list(payload, name, entry_key="orgCode")
    return [org_entry(raw, f"{name}[{i}]", name_member=name_member) for i, raw in enumerate(entries)]
