"""Minimal text extraction for the PDFs this kit writes (Typst output), for the tests.

Not a general PDF reader: it handles what Typst emits (plain indirect objects, Flate
streams, Type0 fonts with a ToUnicode CMap, text shown with Tj/TJ) and nothing else,
which is all the kit needs to verify that a student's name, id and numbers are on every
page. Standard library only.
"""

from __future__ import annotations

import re
import zlib

_OBJECT = re.compile(rb"(\d+)\s+0\s+obj(.*?)endobj", re.S)
_REF = r"(\d+)\s+0\s+R"
LINE_GAP = 6.0  # points: sub- and superscripts move less, a new line moves more


def _objects(data: bytes) -> dict[int, bytes]:
    return {int(m.group(1)): m.group(2) for m in _OBJECT.finditer(data)}


def _dictionary(body: bytes) -> str:
    return body.split(b"stream", 1)[0].decode("latin-1")


def _stream(body: bytes) -> bytes:
    if b"stream" not in body:
        return b""
    head, raw = body.split(b"stream", 1)
    raw = raw[1:] if raw.startswith(b"\n") else raw[2:] if raw.startswith(b"\r\n") else raw
    length = re.search(r"/Length\s+(\d+)", head.decode("latin-1"))
    if length:
        raw = raw[: int(length.group(1))]
    if b"FlateDecode" in head:
        return zlib.decompressobj().decompress(raw)
    return raw


def _cmap(data: bytes) -> dict[int, str]:
    mapping: dict[int, str] = {}
    text = data.decode("latin-1")

    def unicode(hexstr: str) -> str:
        return bytes.fromhex(hexstr).decode("utf-16-be", errors="replace")

    for block in re.findall(r"beginbfchar(.*?)endbfchar", text, re.S):
        for src, dst in re.findall(r"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]*)>", block):
            mapping[int(src, 16)] = unicode(dst)
    for block in re.findall(r"beginbfrange(.*?)endbfrange", text, re.S):
        for lo, hi, dst in re.findall(r"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>", block):
            start = int(dst, 16)
            for offset, code in enumerate(range(int(lo, 16), int(hi, 16) + 1)):
                mapping[code] = chr(start + offset)
    return mapping


def _literal(content: bytes, i: int) -> tuple[bytes, int]:
    """A literal string starting after '(' at i; returns its bytes and the index after ')'."""
    out, depth = bytearray(), 1
    escapes = {ord("n"): 10, ord("r"): 13, ord("t"): 9, ord("b"): 8, ord("f"): 12}
    while i < len(content):
        c = content[i]
        if c == 0x5C:  # backslash
            nxt = content[i + 1]
            if 0x30 <= nxt <= 0x37:
                j = i + 1
                while j < i + 4 and j < len(content) and 0x30 <= content[j] <= 0x37:
                    j += 1
                out.append(int(content[i + 1:j], 8) & 0xFF)
                i = j
                continue
            out.append(escapes.get(nxt, nxt))
            i += 2
            continue
        if c == 0x28:
            depth += 1
        elif c == 0x29:
            depth -= 1
            if depth == 0:
                return bytes(out), i + 1
        out.append(c)
        i += 1
    return bytes(out), i


_TOKEN = re.compile(rb"\s*(\(|<[0-9A-Fa-f\s]*>|\[|\]|/[^\s/\[\]()<>]+|[-+]?\d*\.?\d+|[A-Za-z'\"*]+)")


def _page_text(content: bytes, fonts: dict[str, dict[int, str]]) -> str:
    pieces: list[str] = []
    stack: list = []
    cmap: dict[int, str] = {}
    last_y = None
    i = 0

    def show(raw: bytes) -> str:
        return "".join(cmap.get(int.from_bytes(raw[k:k + 2], "big"), "") for k in range(0, len(raw) - 1, 2))

    while i < len(content):
        m = _TOKEN.match(content, i)
        if not m:
            i += 1
            continue
        token = m.group(1)
        i = m.end()
        if token == b"(":
            raw, i = _literal(content, i)
            stack.append(raw)
        elif token.startswith(b"<"):
            stack.append(bytes.fromhex(token[1:-1].decode().replace(" ", "")))
        elif token == b"[":
            stack.append("[")
        elif token == b"]":
            items = []
            while stack and stack[-1] != "[":
                items.append(stack.pop())
            if stack:
                stack.pop()
            stack.append(list(reversed(items)))
        elif token.startswith(b"/"):
            stack.append(token[1:].decode("latin-1"))
        elif re.fullmatch(rb"[-+]?\d*\.?\d+", token):
            stack.append(float(token))
        else:
            op = token.decode("latin-1")
            if op == "Tf" and len(stack) >= 2:
                cmap = fonts.get(str(stack[-2]), {})
            elif op == "Tj" and stack and isinstance(stack[-1], bytes):
                pieces.append(show(stack[-1]))
            elif op == "TJ" and stack and isinstance(stack[-1], list):
                for item in stack[-1]:
                    if isinstance(item, bytes):
                        pieces.append(show(item))
                    elif isinstance(item, float) and item < -200:  # a wide gap reads as a space
                        pieces.append(" ")
            elif op == "cm" and len(stack) >= 6:
                # Typst places every run with its own matrix: a new baseline is a new line.
                y = stack[-1]
                if isinstance(y, float):
                    if last_y is not None and abs(y - last_y) > LINE_GAP:
                        pieces.append("\n")
                    last_y = y
            stack.clear()
    return re.sub(r"[ \t]+", " ", "".join(pieces))


def pages_text(data: bytes) -> list[str]:
    """The text of each page, in page order."""
    objects = _objects(data)
    cmaps: dict[int, dict[int, str]] = {}

    def font_cmaps(resources: str) -> dict[str, dict[int, str]]:
        ref = re.fullmatch(r"\s*" + _REF + r"\s*", resources)
        if ref:
            resources = _dictionary(objects[int(ref.group(1))])
        found = {}
        fonts = re.search(r"/Font\s*<<(.*?)>>", resources, re.S)
        if fonts:
            for name, number in re.findall(r"/([^\s/<>]+)\s+" + _REF, fonts.group(1)):
                font = _dictionary(objects[int(number)])
                to_unicode = re.search(r"/ToUnicode\s+" + _REF, font)
                if to_unicode:
                    key = int(to_unicode.group(1))
                    if key not in cmaps:
                        cmaps[key] = _cmap(_stream(objects[key]))
                    found[name] = cmaps[key]
        return found

    def kids_in_order(number: int) -> list[int]:
        node = _dictionary(objects[number])
        if re.search(r"/Type\s*/Page(?![s\w])", node):
            return [number]
        kids = re.search(r"/Kids\s*\[(.*?)\]", node, re.S)
        pages = []
        for kid in re.findall(_REF, kids.group(1) if kids else ""):
            pages.extend(kids_in_order(int(kid)))
        return pages

    catalog = next(n for n, body in objects.items() if re.search(r"/Type\s*/Catalog", _dictionary(body)))
    root = int(re.search(r"/Pages\s+" + _REF, _dictionary(objects[catalog])).group(1))
    texts = []
    for number in kids_in_order(root):
        page = _dictionary(objects[number])
        resources = re.search(r"/Resources\s*(" + _REF + r"|<<.*>>)", page, re.S)
        fonts = font_cmaps(resources.group(1)) if resources else {}
        contents = re.search(r"/Contents\s*(\[.*?\]|" + _REF + ")", page, re.S)
        streams = re.findall(_REF, contents.group(1)) if contents else []
        texts.append("".join(_page_text(_stream(objects[int(s)]), fonts) for s in streams))
    return texts


def compile_pdf(source: str) -> bytes:
    """One Typst document as PDF bytes, in memory (the kit itself writes files: render_pdf)."""
    import typst

    return typst.compile(source.encode("utf-8"), ignore_system_fonts=True)
