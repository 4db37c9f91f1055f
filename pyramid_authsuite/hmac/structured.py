"""``Signature-Input`` and ``Signature`` (RFC 9421 sections 4.1, 4.2), RFC 8941 structured fields.

Two parsers of the same headers, side by side:

* the general one, :func:`_parse_full`: ``http_sf`` (RFC 8941 section 4.2,
  Dictionaries of Inner Lists and Byte Sequences) after bounds checked in C,
  then our checks (sections 2 and 2.3: lowercase sf-string identifiers,
  typed parameters, no duplicates);
* the fast one, :func:`_parse_fast`: bounded regular expressions for the
  shapes signers send, returning the same structures, or None (declining)
  for anything else, which then goes to the general one.

:func:`_parse` tries the fast one first.  ``tests/hmac/test_structured.py``
holds the two to "same result, or the fast one declines", over hand-picked
tables and generated headers.  :func:`_fast_signatures` also reads the usual
``Content-Digest`` (RFC 9530 section 2), a Dictionary of the same shape.
"""
from __future__ import annotations

import base64
import binascii
import re
from typing import Any, Mapping, Sequence

import http_sf

from pyramid_authsuite.hmac.errors import SignatureParseError
from pyramid_authsuite.hmac.model import Component, ParsedSignature, _parsed_signature

__all__ = ["MAX_COMPONENTS", "MAX_KEYID_LENGTH", "parse_signature_headers"]

MAX_KEYID_LENGTH = 256
#: Covered components per signature; far more than any real profile needs.
MAX_COMPONENTS = 32
# Separators (";", ",", " ", "(") per signature a header may hold before
# http_sf parses it (about 1.5 µs each): MAX_COMPONENTS items with every
# component parameter RFC 9421 defines, and the signature's own, fit.
_SEPARATORS_PER_SIGNATURE = 8 * MAX_COMPONENTS + 32
_INTEGER_PARAMETERS = frozenset({"created", "expires"})
_STRING_PARAMETERS = frozenset({"nonce", "alg", "keyid", "tag"})


def _reject_duplicate(key: str, context: str) -> None:
    raise SignatureParseError(f"duplicate {context} key in a signature header")


def _parse_dictionary(value: str, header: str, max_length: int, max_members: int) -> dict[str, Any]:
    if len(value) > max_length:
        raise SignatureParseError(f"{header} is longer than {max_length} characters")
    try:
        data = value.encode("ascii")
    except UnicodeEncodeError:
        raise SignatureParseError(f"{header} is not ASCII") from None
    # Counted in C before the pure-Python parser sees it: a header that is
    # all separators would cost milliseconds before any signature is checked.
    separators = data.count(b";") + data.count(b",") + data.count(b" ") + data.count(b"(")
    if separators > max_members * _SEPARATORS_PER_SIGNATURE:
        raise SignatureParseError(f"{header} has too many items or parameters")
    try:
        parsed = http_sf.parse(data, tltype="dictionary", on_duplicate_key=_reject_duplicate)
    except (ValueError, TypeError, KeyError):
        # http_sf's messages quote offsets, not content; still, say nothing.
        raise SignatureParseError(f"{header} is not a structured-field dictionary") from None
    if not isinstance(parsed, dict) or not parsed:
        raise SignatureParseError(f"{header} has no signature")
    if len(parsed) > max_members:
        raise SignatureParseError(f"{header} has more than {max_members} signatures")
    return parsed


def _parse_component(member: Any) -> Component:
    value, params = member
    # RFC 9421 section 2: identifiers are sf-strings (not tokens), lowercase.
    if type(value) is not str or not value or value != value.lower():
        raise SignatureParseError("a component identifier is not a lowercase string")
    if value == "@signature-params":
        raise SignatureParseError("@signature-params cannot be a covered component")
    return Component(value, tuple(params.items()))


def _check_param_types(params: Mapping[str, Any]) -> None:
    """RFC 9421 section 2.3: ``created``/``expires`` Integers, the others Strings."""
    for name, value in params.items():
        if name in _STRING_PARAMETERS:
            if type(value) is not str:
                raise SignatureParseError(f"the {name} parameter is not a string")
        elif name in _INTEGER_PARAMETERS and type(value) is not int:
            raise SignatureParseError(f"the {name} parameter is not an integer")
    if "keyid" in params and not 0 < len(params["keyid"]) <= MAX_KEYID_LENGTH:
        raise SignatureParseError("the keyid parameter is empty or too long")


def _components(inner: list) -> tuple[Component, ...]:
    if len(inner) > MAX_COMPONENTS:
        raise SignatureParseError(f"a signature covers more than {MAX_COMPONENTS} components")
    components = tuple(_parse_component(item) for item in inner)
    # RFC 9421 section 2.5: an identifier appears at most once (parameter
    # order is not significant, hence the frozenset).
    identities = {(c.name, frozenset(c.params)) for c in components}
    if len(identities) != len(components):
        raise SignatureParseError("a component is covered twice")
    return components


def _check_signature_value(sig_value: Any, sig_params: Any) -> None:
    if type(sig_value) is not bytes or not sig_value or sig_params:
        raise SignatureParseError("a Signature member is not a byte sequence")


def _parse_input_member(label: str, member: Any, signature: Any) -> ParsedSignature:
    inner, params = member
    if not isinstance(inner, list):
        raise SignatureParseError("a Signature-Input member is not an inner list")
    components = _components(inner)
    _check_param_types(params)
    sig_value, sig_params = signature
    _check_signature_value(sig_value, sig_params)
    return ParsedSignature(label, components, dict(params), sig_value)


def _parse_full(signature_input: str, signature: str, max_header_length: int, max_signatures: int):
    """The general parser: ``http_sf`` (RFC 8941) for both headers, then our checks."""
    inputs = _parse_dictionary(signature_input, "Signature-Input", max_header_length, max_signatures)
    signatures = _parse_dictionary(signature, "Signature", max_header_length, max_signatures)
    if set(inputs) != set(signatures):
        raise SignatureParseError("Signature-Input and Signature have different labels")
    return {label: _parse_input_member(label, inputs[label], signatures[label]) for label in inputs}


# The fast parser.  It accepts a strict subset of what http_sf accepts, the
# shapes signers send, and returns the same structures; for anything else it
# returns None and _parse_full decides (tests/hmac/test_structured.py holds
# the two to that).  The subset: no leading or trailing whitespace; members
# separated by a comma with optional SP/HTAB around it; each member of
# Signature-Input an inner list of sf-strings without escapes, each with
# parameters; parameters whose values are such strings, Integers or the
# bare key (true); each member of Signature a byte sequence without
# parameters.  Every part ends at a character it cannot contain, so what
# backtracking there is stays linear in the input (no nested ambiguity; see
# test_fast_expressions_run_in_linear_time); inputs are bounded by
# max_header_length before any matching.
_SF_KEY = r"[a-z*][a-z0-9_.*-]*"
_SF_STRING_CHARS = r"[\x20\x21\x23-\x5b\x5d-\x7e]*"  # printable ASCII but '"' and '\'
_SF_STRING = f'"{_SF_STRING_CHARS}"'
_SF_PARAMS = rf"(?:; *{_SF_KEY}(?:=(?:{_SF_STRING}|-?[0-9]{{1,15}}))?)*"
_SF_ITEM = _SF_STRING + _SF_PARAMS
_SF_INNER_LIST = rf"\( *(?:{_SF_ITEM}(?: +{_SF_ITEM})*)? *\)"
# The signature parameters in the order the library's HTTPMessageSigner
# writes them (ours, requests-http-signature's), Integers without a leading
# zero: so written, they are their own serialisation, and their types are
# known.  Other orders take the general parameter expression.
_SF_CANONICAL_INTEGER = r"(?:0|-?[1-9][0-9]{0,14})"
_SIGNER_PARAMS = (
    rf'(;created=({_SF_CANONICAL_INTEGER});keyid="({_SF_STRING_CHARS})"(?:;alg="({_SF_STRING_CHARS})")?'
    rf'(?:;expires=({_SF_CANONICAL_INTEGER}))?(?:;nonce="({_SF_STRING_CHARS})")?(?:;tag="({_SF_STRING_CHARS})")?)'
)
# Groups: label, inner list, then either the signer's parameters (the whole,
# created, keyid, alg, expires, nonce, tag) if the member ends there, or any
# parameters.
_FAST_INPUT_MEMBER_RE = re.compile(
    rf"({_SF_KEY})=({_SF_INNER_LIST})(?:{_SIGNER_PARAMS}(?=[ \t]*,|\Z)|({_SF_PARAMS}))"
)
_FAST_SIGNATURE_MEMBER_RE = re.compile(rf"({_SF_KEY})=:([A-Za-z0-9+/]+)={{0,2}}:")
_FAST_SEPARATOR_RE = re.compile(r"[ \t]*,[ \t]*")
# On text those have matched already: one parameter, and one component with its parameters.
_FAST_PARAM_RE = re.compile(rf'; *({_SF_KEY})(?:=("[^"]*"|-?[0-9]+))?')
_FAST_ITEM_RE = re.compile(rf'"([^"]*)"({_SF_PARAMS})')


def _scan_members(value: str, member_re: re.Pattern, max_members: int) -> Sequence[re.Match] | None:
    match = member_re.fullmatch(value)  # one member, the usual case
    if match is not None:
        return (match,) if max_members >= 1 else None
    members = []
    position, end = 0, len(value)
    while True:
        match = member_re.match(value, position)
        if match is None:
            return None
        members.append(match)
        position = match.end()
        if position == end:
            return members if len(members) <= max_members else None
        separator = _FAST_SEPARATOR_RE.match(value, position)
        if separator is None or separator.end() == end or len(members) >= max_members:
            return None
        position = separator.end()


def _fast_params(text: str) -> dict[str, Any] | None:
    """Parameters as http_sf returns them; None for a duplicate key (http_sf's on_duplicate_key)."""
    params: dict[str, Any] = {}
    if text:
        for key, value in _FAST_PARAM_RE.findall(text):
            if key in params:
                return None
            if not value:
                params[key] = True
            elif value[0] == '"':
                params[key] = value[1:-1]
            else:
                params[key] = int(value)
    return params


def _fast_items(inner: str) -> list[tuple[str, dict[str, Any]]] | None:
    """An inner list's items, as http_sf returns them."""
    items = []
    for name, text in _FAST_ITEM_RE.findall(inner):
        params = _fast_params(text)
        if params is None:
            return None
        items.append((name, params))
    return items


class _Covered:
    """What verification derives from a component tuple, computed on first use.

    The fast parser keeps one per distinct inner list text (a bounded memo:
    signers send the same few), fully computed, so that a request pays for
    none of it; other parsed signatures get a fresh one.
    """

    __slots__ = ("components", "_identities", "_whole_digest", "_identifiers", "_inner", "_specs")

    def __init__(self, components: tuple[Component, ...]):
        self.components = components
        self._identities: frozenset | None = None
        self._whole_digest: bool | None = None
        self._identifiers: tuple[str, ...] | None = None
        self._inner: str | None = None
        self._specs: tuple[str, ...] | None = None

    def identities(self) -> frozenset:
        if self._identities is None:
            self._identities = frozenset((c.name, frozenset(c.params)) for c in self.components)
        return self._identities

    def whole_digest(self) -> bool:
        """A body needs ``content-digest`` covered bare or with ``;sf`` (a ``;key=`` member is not enough)."""
        if self._whole_digest is None:
            self._whole_digest = any(
                c.name == "content-digest" and set(dict(c.params)) <= {"sf"} for c in self.components
            )
        return self._whole_digest

    def identifiers(self) -> tuple[str, ...]:
        if self._identifiers is None:
            self._identifiers = tuple(c.identifier for c in self.components)
        return self._identifiers

    def inner_list(self) -> str:
        """RFC 8941 section 4.1.1.1: the identifiers separated by one space, in parentheses."""
        if self._inner is None:
            self._inner = f"({' '.join(self.identifiers())})"
        return self._inner

    def specs(self) -> tuple[str, ...]:
        """Each component as ``Component.spec``: the bare name, or the identifier when parameterised."""
        if self._specs is None:
            self._specs = tuple(
                identifier if c.params else c.name for c, identifier in zip(self.components, self.identifiers())
            )
        return self._specs


_COVERED: dict[str, _Covered] = {}
_COVERED_LIMIT = 256


def _fast_inputs(value: str, max_members: int) -> dict[str, tuple] | None:
    """Signature-Input as ``{label: (inner list text, _Covered or the items, parameters,
    their serialisation or None, whether their types are known)}``, or None."""
    if "  " in value:
        # Runs of spaces are never in the canonical serialisation signers
        # write, and the inner-list expression's optional spaces on both
        # sides of its items backtrack over them in quadratic time
        # ("sig1=(" + 8000 spaces: 85 ms): the general parser takes those.
        return None
    members = _scan_members(value, _FAST_INPUT_MEMBER_RE, max_members)
    if members is None:
        return None
    inputs = {}
    for match in members:
        label, inner, signer, created, keyid, alg, expires, nonce, tag, text = match.groups()
        if label in inputs:
            return None
        if signer is not None:
            params: dict[str, Any] | None = {"created": int(created), "keyid": keyid}
            if alg is not None:
                params["alg"] = alg
            if expires is not None:
                params["expires"] = int(expires)
            if nonce is not None:
                params["nonce"] = nonce
            if tag is not None:
                params["tag"] = tag
            serialised = signer
        else:
            params = _fast_params(text)
            if params is None:
                return None
            # Received parameters are their serialisation when each ";" is
            # followed by the key and no Integer has a leading zero (the
            # grammar leaves no other way to write these values).
            serialised = text if "; " not in text and "=0" not in text and "=-0" not in text else None
        covered: Any = _COVERED.get(inner)
        if covered is None:
            # Parsed now, so that a duplicate parameter defers to http_sf
            # before any later check, as the general parser would fail.
            covered = _fast_items(inner)
            if covered is None:
                return None
        inputs[label] = (inner, covered, params, serialised, signer is not None)
    return inputs


def _fast_signatures(value: str, max_members: int) -> dict[str, bytes] | None:
    members = _scan_members(value, _FAST_SIGNATURE_MEMBER_RE, max_members)
    if members is None:
        return None
    signatures = {}
    for match in members:
        label, data = match.groups()
        if label in signatures:
            return None
        # As http_sf: padding dropped, then what base64 needs put back.
        try:
            signatures[label] = base64.b64decode(data + "=" * (-len(data) % 4), validate=True)
        except (binascii.Error, ValueError):
            return None
    return signatures


def _parse_fast(signature_input: str, signature: str, max_header_length: int, max_signatures: int):
    """_parse's result for the common shapes; None for anything else."""
    if signature_input.__class__ is not str or signature.__class__ is not str:
        return None
    if len(signature_input) > max_header_length or len(signature) > max_header_length:
        return None
    inputs = _fast_inputs(signature_input, max_signatures)
    if inputs is None:
        return None
    signatures = _fast_signatures(signature, max_signatures)
    if signatures is None or inputs.keys() != signatures.keys():
        return None
    # From here on the structures are those http_sf would have returned, so
    # the checks (and the errors) are _parse_input_member's, in its order.
    parsed = {}
    extras = {}
    for label, (inner, covered, params, serialised, typed) in inputs.items():
        if covered.__class__ is not _Covered:
            covered = _Covered(_components(covered))
            covered.specs()
            covered.inner_list()
            covered.identities()
            covered.whole_digest()
            if len(_COVERED) >= _COVERED_LIMIT:
                _COVERED.clear()
            _COVERED[inner] = covered
        if not typed:
            _check_param_types(params)
        elif not 0 < len(params["keyid"]) <= MAX_KEYID_LENGTH:  # the rest of _check_param_types
            raise SignatureParseError("the keyid parameter is empty or too long")
        sig_value = signatures[label]
        if not sig_value:  # the rest of _check_signature_value holds: bytes, no parameters
            raise SignatureParseError("a Signature member is not a byte sequence")
        parsed[label] = _parsed_signature(label, covered.components, params, sig_value)
        extras[label] = (covered, serialised)
    return parsed, extras


def _parse(
    signature_input: str, signature: str, max_header_length: int, max_signatures: int
) -> tuple[dict[str, ParsedSignature], dict[str, tuple[_Covered, str | None]] | None]:
    """The parsed signatures and, when the fast parser read them, each label's
    _Covered and serialised parameters (or None where they must be serialised)."""
    fast = _parse_fast(signature_input, signature, max_header_length, max_signatures)
    if fast is not None:
        return fast
    return _parse_full(signature_input, signature, max_header_length, max_signatures), None


def parse_signature_headers(
    signature_input: str,
    signature: str,
    *,
    max_header_length: int = 8192,
    max_signatures: int = 8,
) -> dict[str, ParsedSignature]:
    """Parse both headers into labelled signatures, in header order.

    RFC 9421 sections 4.1 and 4.2: each is an RFC 8941 Dictionary, the first
    of inner lists of component identifiers with parameters, the second of
    byte sequences, keyed by the same labels.  Every length is bounded before
    parsing; anything off raises :class:`SignatureParseError`.
    """
    return _parse(signature_input, signature, max_header_length, max_signatures)[0]


def _identity(spec: str) -> tuple[str, frozenset]:
    """A component spec (``"date"`` or ``'"@query-param";name="a"'``) as a comparable identity."""
    if spec.startswith('"'):
        value, params = http_sf.parse(spec.encode("ascii"), tltype="item")
        return str(value), frozenset(params.items())
    return spec, frozenset()
