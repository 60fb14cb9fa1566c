"""Reading a multipart upload as it streams in, with the size limit enforced while reading.

Starlette's form parser spools any file to disk before the route sees it, whatever its size;
here the body is counted chunk by chunk and the request is stopped at the limit (413).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from python_multipart import MultipartParser
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import parse_options_header

FIELD_LIMIT = 1024  # bytes of a plain form field (carrier, format)
PART_LIMIT = 8  # parts in one request
OVERHEAD = 64 * 1024  # boundaries, part headers and small fields on top of the file


class TooLarge(Exception):
    pass


class BadForm(Exception):
    pass


@dataclass
class UploadedFile:
    field_name: str
    file_name: str
    data: bytes


@dataclass
class UploadForm:
    files: dict[str, UploadedFile] = field(default_factory=dict)
    fields: dict[str, str] = field(default_factory=dict)


@dataclass
class _Part:
    headers: dict[str, str] = field(default_factory=dict)
    name: str = ""
    file_name: str | None = None
    data: bytearray = field(default_factory=bytearray)


def boundary_of(content_type: str | None) -> bytes:
    kind, options = parse_options_header(content_type or "")
    boundary = options.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise BadForm("send the file as multipart/form-data in the field `file`")
    return boundary


async def read_form(
    chunks: AsyncIterator[bytes], *, content_type: str | None, max_file_bytes: int
) -> UploadForm:
    """The form's fields and files; TooLarge as soon as a file passes `max_file_bytes`."""
    boundary = boundary_of(content_type)
    form = UploadForm()
    parts: list[_Part] = []
    header_field = bytearray()
    header_value = bytearray()

    def part_begin() -> None:
        if len(parts) >= PART_LIMIT:
            raise BadForm("too many form parts")
        parts.append(_Part())

    def header_field_data(data: bytes, start: int, end: int) -> None:
        header_field.extend(data[start:end])

    def header_value_data(data: bytes, start: int, end: int) -> None:
        header_value.extend(data[start:end])

    def header_end() -> None:
        name = header_field.decode("latin-1").strip().lower()
        parts[-1].headers[name] = header_value.decode("utf-8", "replace")
        header_field.clear()
        header_value.clear()

    def headers_finished() -> None:
        part = parts[-1]
        _, options = parse_options_header(part.headers.get("content-disposition", ""))
        part.name = options.get(b"name", b"").decode("utf-8", "replace")
        raw_name = options.get(b"filename")
        part.file_name = None if raw_name is None else raw_name.decode("utf-8", "replace")

    def part_data(data: bytes, start: int, end: int) -> None:
        part = parts[-1]
        part.data.extend(data[start:end])
        limit = max_file_bytes if part.file_name is not None else FIELD_LIMIT
        if len(part.data) > limit:
            if part.file_name is None:
                raise BadForm(f"form field {part.name!r} is too long")
            raise TooLarge()

    def part_end() -> None:
        part = parts[-1]
        if part.file_name is not None:
            form.files.setdefault(
                part.name, UploadedFile(part.name, part.file_name, bytes(part.data))
            )
        else:
            form.fields.setdefault(part.name, part.data.decode("utf-8", "replace").strip())
        part.data = bytearray()

    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": part_begin,
            "on_header_field": header_field_data,
            "on_header_value": header_value_data,
            "on_header_end": header_end,
            "on_headers_finished": headers_finished,
            "on_part_data": part_data,
            "on_part_end": part_end,
        },
    )
    total = 0
    try:
        async for chunk in chunks:
            total += len(chunk)
            if total > max_file_bytes + OVERHEAD:
                raise TooLarge()
            if chunk:
                parser.write(chunk)
        parser.finalize()
    except MultipartParseError as error:
        raise BadForm("the multipart body could not be read") from error
    return form
