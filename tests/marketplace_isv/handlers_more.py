"""More handlers routed only in protocol-layer tests."""

from marketplace_isv.envelope import Result


def with_password(payload, caller):
    return Result.ok(info=[{"instanceId": "i-1", "appInfo": {"frontEndUrl": "https://x", "password": "S3cret!pw"}}])
