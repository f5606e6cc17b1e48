"""json.loads/json.dumps for the runtime's start-up path, on the C accelerator alone.

`import json` costs ~8 ms and ~1.3 MB of RSS per runtime process here: it
imports `re` (and `enum`, `functools`, `collections`) for the pure-Python
fallbacks and whitespace handling. The work itself is done by `_json`'s C
scanner and encoder, which this module drives directly with the same settings
`json.loads`/`json.dumps` give them, so the results are identical. Anything
unusual -- malformed input (for the exact JSONDecodeError text: the scanner
cannot raise it itself until `json.decoder` is imported), a BOM or a
UTF-16/32 document, `_json` missing -- goes to the `json` module itself.
"""

try:
    import _json
except ImportError:  # pragma: no cover - CPython always has it
    _json = None  # type: ignore[assignment]

_WS = " \t\n\r"


class _Context:
    """What `_json.make_scanner` reads from a JSONDecoder (its defaults)."""

    __slots__ = ("strict", "object_hook", "object_pairs_hook", "parse_float", "parse_int", "parse_constant", "memo")

    def __init__(self) -> None:
        self.strict = True
        self.object_hook = None
        self.object_pairs_hook = None
        self.parse_float = float
        self.parse_int = int
        self.parse_constant = _CONSTANTS.__getitem__
        self.memo: dict[str, str] = {}


_CONSTANTS = {"-Infinity": float("-inf"), "Infinity": float("inf"), "NaN": float("nan")}
_scanner = None
_encoder = None


def loads(data: str | bytes | bytearray) -> object:
    """json.loads(data), for str or UTF-8 bytes."""
    global _scanner
    if _json is None:
        import json

        return json.loads(data)
    try:
        if isinstance(data, (bytes, bytearray)):
            if data[:3] == b"\xef\xbb\xbf" or (len(data) >= 2 and (data[0] == 0 or data[1] == 0)):
                raise ValueError  # BOM, UTF-16/32: json.loads knows
            text = data.decode("utf-8", "surrogatepass")
        else:
            text = data
        if _scanner is None:
            _scanner = _json.make_scanner(_Context())  # type: ignore[arg-type]
        start = len(text) - len(text.lstrip(_WS))
        obj, end = _scanner(text, start)
        if text[end:].strip(_WS):
            raise ValueError  # extra data
        return obj
    except (ValueError, StopIteration, UnicodeDecodeError, RecursionError, SystemError):
        # SystemError: on malformed input inside a value the C scanner looks up
        # json.decoder.JSONDecodeError in sys.modules only; before `json` was
        # imported that lookup fails without an exception set
        import json

        return json.loads(data)  # raises the exact error (or decodes what we declined)


def _default(obj: object) -> object:
    raise TypeError(f"Object of type {obj.__class__.__name__} is not JSON serializable")


def dumps(obj: object, compact: bool = False) -> str:
    """json.dumps(obj) (ensure_ascii, no indent); compact: separators=(",", ":")."""
    global _encoder
    if _json is None:
        import json

        return json.dumps(obj, separators=(",", ":") if compact else None)
    key_sep, item_sep = (":", ",") if compact else (": ", ", ")
    enc = _json.make_encoder(
        {}, _default, _json.encode_basestring_ascii, None, key_sep, item_sep, False, False, True
    )
    return "".join(enc(obj, 0))
