"""The raw inbound call, as bytes and text, before anything trusts or parses it (house style 1)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, unquote_plus

from . import strict_json
from .envelope import ParamError


@dataclass
class Inbound:
    method: str
    path: str
    raw_query: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    remote_addr: str = ""
    _json: Any = field(default=None, repr=False)
    _json_error: str | None = field(default=None, repr=False)
    _json_parsed: bool = field(default=False, repr=False)

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def query_pairs(self, *, form: bool = False) -> list[tuple[str, str]]:
        """Split the raw query string ourselves (§2.1): `%XX` decoding with `+` kept, or the form
        way (`+` → space) when `form` is set. Never Django's request.GET."""
        decode = unquote_plus if form else unquote
        pairs = []
        for piece in self.raw_query.split("&"):
            if not piece:
                continue
            name, _, value = piece.partition("=")
            pairs.append((decode(name), decode(value)))
        return pairs

    def query(self, *, form: bool = False) -> dict[str, str]:
        result: dict[str, str] = {}
        for name, value in self.query_pairs(form=form):
            result.setdefault(name, value)  # the first occurrence wins, as a servlet's getParameter
        return result

    def json_object(self) -> dict[str, Any]:
        """The body parsed as a JSON object, or ParamError (000002). Strict: no NaN/Infinity
        literals, no lone surrogates (no field of the protocol carries them, and they cannot be
        stored or re-encoded), and a nesting too deep to parse is "not JSON" too."""
        if not self._json_parsed:
            self._json_parsed = True
            try:
                value = strict_json.loads(self.body.decode("utf-8-sig"))
            except (UnicodeDecodeError, ValueError) as exc:
                self._json_error = f"body is not valid JSON: {str(exc)[:200]}"
            else:
                if not isinstance(value, dict):
                    self._json_error = "body is not a JSON object"
                else:
                    self._json = value
        if self._json_error:
            raise ParamError(self._json_error)
        return self._json

    def json_object_or_none(self) -> dict[str, Any] | None:
        try:
            return self.json_object()
        except ParamError:
            return None
