"""The signature base (RFC 9421 section 2.5): the bytes a signature is computed over.

One line ``<identifier>: <value>`` per covered component, in the order of
the ``Signature-Input`` inner list, then ``"@signature-params"`` with the
inner list and its parameters serialised (section 2.3, RFC 8941 section
4.1.1.1); lines joined by LF, no trailing LF.  Assembled here rather than
by the library, so that it uses the parameters exactly as received and
fails with our error codes.
"""
from __future__ import annotations

from typing import Any, Mapping

from http_sf.parameters import ser_params

from pyramid_authsuite.hmac.components import _UNRESOLVABLE, _EnvironMessage, _message, _ViewMessage
from pyramid_authsuite.hmac.errors import BadSignature
from pyramid_authsuite.hmac.model import _SIGNATURE_PARAMETERS, Component, ParsedSignature
from pyramid_authsuite.hmac.structured import _Covered

__all__ = ["MAX_STRUCTURED_FIELD_LENGTH", "signature_base"]

#: Longest covered field parsed as a structured field (the ``sf`` and ``key``
#: component parameters, RFC 9421 section 2.1.1-2.1.2). The parse runs before
#: the signature can be checked, and costs about 1 µs a byte.
MAX_STRUCTURED_FIELD_LENGTH = 8192


# What ser_params produces for these parameters when their values are True,
# an in-range Integer or a printable ASCII string; anything else goes to it.
_PLAIN_PARAMETER_KEYS = _SIGNATURE_PARAMETERS
_MAX_SF_INTEGER = 999_999_999_999_999


def _ser_signature_params(params: Mapping[str, Any]) -> str:
    serialised = ""
    for key, value in params.items():
        if key.__class__ is not str or key not in _PLAIN_PARAMETER_KEYS:
            return ser_params(dict(params))
        if value is True:
            serialised += ";" + key
        elif value.__class__ is int and -_MAX_SF_INTEGER <= value <= _MAX_SF_INTEGER:
            serialised += f";{key}={value}"
        elif value.__class__ is str and value.isascii() and value.isprintable():
            serialised += f';{key}="' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
        else:
            return ser_params(dict(params))
    return serialised


def _parses_field(component: Component) -> bool:
    """Whether resolving ``component`` parses its field as a structured field (``sf``, ``key``)."""
    return any(key == "sf" or key == "key" for key, _ in component.params)


def _base(
    message: _ViewMessage | _EnvironMessage,
    parsed: ParsedSignature,
    covered: _Covered,
    serialised_params: str | None = None,
) -> bytes:
    message.open()
    lines = []
    for identifier, component in zip(covered.identifiers(), parsed.components):
        if component.params and _parses_field(component):
            field = message.header(component.name)
            if field is not None and len(field) > MAX_STRUCTURED_FIELD_LENGTH:
                raise BadSignature(_UNRESOLVABLE)
        value = message.value(component)
        # A newline would let one line of the base pose as two.
        if not isinstance(value, str) or "\n" in value or "\r" in value:
            raise BadSignature("a covered component has a value that cannot be signed")
        lines.append(f"{identifier}: {value}")
    # RFC 9421 section 2.3: @signature-params is the serialised inner list
    # (RFC 8941 section 4.1.1.1: items separated by one space, then parameters).
    if serialised_params is None:
        serialised_params = _ser_signature_params(parsed.params)
    lines.append(f'"@signature-params": {covered.inner_list()}{serialised_params}')
    base = "\n".join(lines)
    if not base.isascii():
        raise BadSignature("the signature base is not ASCII")
    return base.encode("ascii")


def signature_base(request: Any, parsed: ParsedSignature) -> bytes:
    """The signature base of one parsed signature over a request (RFC 9421 section 2.5).

    One line ``<identifier>: <value>`` per covered component, in order, then
    ``"@signature-params": <inner list>``; lines joined by LF, no trailing LF.
    """
    return _base(_message(request), parsed, _Covered(parsed.components))
