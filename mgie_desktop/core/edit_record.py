"""The edit record an exported photo carries: the whole chain of edits from the opened photo to
the exported step (instructions, MGIE's expressive instructions, settings, the models used), as
JSON inside an XMP packet, where photo tools look for it. It never touches the photo's own EXIF
(its caption in ImageDescription stays the photographer's). PNG also gets it as a text chunk.
"""

from __future__ import annotations

import json
import re
from html import unescape
from typing import TYPE_CHECKING, Any

from mgie_desktop import __version__

if TYPE_CHECKING:
    from mgie_desktop.core.history import History

FORMAT, VERSION = "mgie-edit", 1
PNG_KEY = "mgie:edit"  # the PNG text chunk holding the same JSON
NAMESPACE = "https://github.com/apple/ml-mgie/ns/edit/1.0/"


def escape(text: str) -> str:
    """``xml.sax.saxutils.escape``, the same three replacements, without importing it: it imports
    urllib.request (ssl, http.client, email: 60-120 ms here), and the window imports this module
    at start-up."""
    return text.replace("&", "&amp;").replace(">", "&gt;").replace("<", "&lt;")


_RECORD = re.compile(r"<mgie:EditRecord>(.*?)</mgie:EditRecord>", re.S)


def edit_record(
    history: History, step_id: int | None = None, models: dict[str, Any] | None = None
) -> dict[str, Any] | None:
    """The chain of edits that made ``step_id`` (the current step by default); None for the
    photo as opened."""
    if step_id is None:
        current = history.current
        assert current is not None, "a started history"
        step_id = current.id
    steps = [s for s in history.lineage(step_id) if not s.is_root]
    if not steps:
        return None
    return {
        "format": FORMAT,
        "version": VERSION,
        "app": f"mgie-desktop {__version__}",
        "models": models or {},
        "steps": [
            {
                "instruction": s.instruction,
                "expressive_instruction": s.expressive_instruction,
                **({"steered_instruction": s.steered_instruction} if s.steered_instruction else {}),
                **({"masked": True} if s.mask else {}),
                "settings": s.params.to_json(),
            }
            for s in steps
        ],
    }


def record_json(record: dict[str, Any]) -> str:
    return json.dumps(record, ensure_ascii=False, sort_keys=True)


def xmp_packet(record: dict[str, Any]) -> bytes:
    """An XMP packet holding the record (XML-escaped JSON in one property)."""
    body = escape(record_json(record))
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        f'<rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmlns:mgie="{NAMESPACE}" '
        f'xmp:CreatorTool="MGIE Desktop {escape(__version__)}">'
        f"<mgie:EditRecord>{body}</mgie:EditRecord>"
        '</rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end="w"?>'
    ).encode()


def record_from_xmp(xmp: bytes | str | None) -> dict[str, Any] | None:
    """The record in an XMP packet written by ``xmp_packet``, or None."""
    if not xmp:
        return None
    text = xmp.decode("utf-8", "replace") if isinstance(xmp, bytes) else xmp
    found = _RECORD.search(text)
    return json.loads(unescape(found.group(1))) if found else None
