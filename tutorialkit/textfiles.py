"""Reading text files line by line, with errors that say where and what.

Every reader of the package (CoNLL, People's Daily, CSV/TSV) reads its file as bytes and
decodes it one line at a time with :func:`decode_lines`, so that a byte that is not
valid in the expected encoding is reported with its line number; a malformed line raises
:class:`DataFormatError` with the file, the line, what was expected and what was found.
Line numbers count ``\\n`` characters, as ``grep -n`` and ``sed -n`` do, and start at 1.
"""

from __future__ import annotations

import codecs
from pathlib import Path

BAD_BYTES_POLICIES = ("error", "replace")


class DataFormatError(ValueError):
    """A data file does not have the expected format.

    The message starts with ``"path:line: "`` (line counted from 1) when the line is
    known, else with ``"path: "``, then says what was expected and what was found.
    """


def format_error(path: str | Path, line: int | None, problem: str) -> DataFormatError:
    """Build a DataFormatError whose message starts with "path:line: " (or "path: ")."""
    where = f"{path}:{line}" if line is not None else f"{path}"
    return DataFormatError(f"{where}: {problem}")


def check_ascii_compatible(encoding: str) -> None:
    """Refuse encodings such as UTF-16 in which a newline is not the single byte
    b"\\n"."""
    encoder = codecs.getincrementalencoder(encoding)()
    encoder.encode("a")  # past the start, where utf-8-sig writes its byte order mark
    if encoder.encode("\n") != b"\n":
        raise ValueError(
            f"encoding {encoding!r} is not supported: the readers split lines at the "
            "byte "
            "b'\\n', so the encoding must be ASCII-compatible (utf-8, latin-1, gbk, "
            "...); "
            f"convert the file to UTF-8 first, e.g. iconv -f {encoding} -t utf-8"
        )


def decode_lines(
    path: str | Path,
    encoding: str,
    *,
    replace_bad_bytes: bool = False,
    advice: str = "",
) -> tuple[list[str], set[int]]:
    """Read a file and decode it one line at a time, keeping the line endings.

    Returns the lines and the numbers of the lines whose bad bytes were replaced by
    U+FFFD. Without ``replace_bad_bytes`` the first bad line raises DataFormatError,
    which ends with ``advice``. A UTF-8 byte order mark at the start of the file is
    removed.
    """
    check_ascii_compatible(encoding)
    lines: list[str] = []
    replaced: set[int] = set()
    with open(path, "rb") as file:
        for number, raw_line in enumerate(file, start=1):
            try:
                lines.append(raw_line.decode(encoding))
            except UnicodeDecodeError as error:
                if not replace_bad_bytes:
                    raise bad_bytes_error(
                        path, number, encoding, error, advice
                    ) from error
                lines.append(raw_line.decode(encoding, errors="replace"))
                replaced.add(number)
    if lines:
        lines[0] = lines[0].removeprefix("\ufeff")
    return lines, replaced


def bad_bytes_error(
    path: str | Path, line: int, encoding: str, error: UnicodeDecodeError, advice: str
) -> DataFormatError:
    """Describe a byte that is not valid in the expected encoding."""
    bad = error.object[error.start : error.end]
    return format_error(
        path,
        line,
        f"expected {encoding} text, found {bad!r} (byte {error.start + 1} of the "
        "line), "
        f"which is not valid {encoding}: if the file uses another encoding, pass it "
        "with "
        f"encoding= (for example encoding='latin-1'){advice}",
    )
