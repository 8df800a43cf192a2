"""Handlers routed only in the protocol-layer tests, to exercise the pipeline on its own."""

from marketplace_isv.envelope import ParamError, Result
from marketplace_isv.models import SeenNonce


def echo(payload, caller):
    return Result.ok(echo=payload.get("echo", ""), scheme=caller.scheme, key=caller.key.name)


def explode(payload, caller):
    raise RuntimeError("secret internals must not leak")


def write_then_refuse(payload, caller):
    # A write followed by a refusal: the transaction must roll the write back.
    SeenNonce.objects.create(key=f"probe:{payload['probe']}", seen_at="2020-01-01T00:00:00Z")
    raise ParamError("refused after writing")
