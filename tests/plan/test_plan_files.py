"""A file that is not a sane CSV is refused with a row and a reason, never a traceback."""

from __future__ import annotations

import codecs
from pathlib import Path

import pytest
from plan_helpers import EXAMPLES, NOW

from vmshift.plan import validate_plan

EXAMPLE = (EXAMPLES / "waves.csv").read_bytes()


def validate_bytes(tmp_path: Path, data: bytes):
    path = tmp_path / "plan.csv"
    path.write_bytes(data)
    return validate_plan(path, now=NOW)


@pytest.mark.parametrize(
    ("data", "row", "words"),
    [
        (b"", 1, "empty"),
        (b"\n\n  \n", 1, "empty"),
        (codecs.BOM_UTF16_LE + EXAMPLE.decode().encode("utf-16-le"), 1, "UTF-16"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", 1, "binary"),
        (EXAMPLE.replace(b"win-iis-03", "win-iis-\xe9".encode("latin-1")), 5, "not UTF-8"),
        (EXAMPLE.replace(b",", b";"), 1, "separated by ';'"),
        (EXAMPLE + b'wave-2,"unterminated\n', 6, "CSV"),
    ],
)
def test_unreadable_files_are_refused_with_a_row(tmp_path, data, row, words):
    result = validate_bytes(tmp_path, data)

    assert not result.ok and result.plan is None
    assert any(error.row == row and words in error.message for error in result.errors), result.errors


def test_utf8_with_bom_as_excel_saves_it_is_read(tmp_path):
    assert validate_bytes(tmp_path, codecs.BOM_UTF8 + EXAMPLE).ok


def test_header_only_has_no_vm(tmp_path):
    result = validate_bytes(tmp_path, EXAMPLE.splitlines(keepends=True)[0])

    assert [(e.row, e.message) for e in result.errors] == [(2, "the plan has no VM: add a row under the header")]


def test_a_row_with_more_cells_than_the_header(tmp_path):
    lines = EXAMPLE.splitlines(keepends=True)
    lines[2] = lines[2].rstrip(b"\r\n") + b",surplus\n"

    result = validate_bytes(tmp_path, b"".join(lines))

    assert (3, None) in {(e.row, e.column) for e in result.errors}


def test_a_huge_cell_is_refused_without_echoing_it(tmp_path):
    huge = b"x" * 200_000
    result = validate_bytes(tmp_path, EXAMPLE.replace(b"env=prod;app=web", huge))

    assert not result.ok
    assert all(len(error.message) < 500 for error in result.errors)


def test_a_long_but_readable_cell_is_quoted_short(tmp_path):
    result = validate_bytes(tmp_path, EXAMPLE.replace(b"snet-app:10.20.1.20", b"y" * 5000))

    assert (3, "nics") in {(e.row, e.column) for e in result.errors}
    assert all(len(error.message) < 500 for error in result.errors)


def test_a_formula_in_the_header_is_refused(tmp_path):
    result = validate_bytes(tmp_path, EXAMPLE.replace(b"vm_tags", b"=HYPERLINK(\"http://x\")", 1))

    assert any(error.row == 1 and "formula" in error.message for error in result.errors)


def test_a_missing_file_is_an_error_not_a_traceback(tmp_path):
    result = validate_plan(tmp_path / "nope.csv")

    assert result.errors[0].row == 1 and "cannot read" in result.errors[0].message


def test_a_directory_is_an_error_not_a_traceback(tmp_path):
    assert not validate_plan(tmp_path).ok


def test_column_names_are_read_like_a_person_writes_them(tmp_path):
    lines = EXAMPLE.splitlines(keepends=True)
    lines[0] = lines[0].replace(b"source_vm", b"Source VM").replace(b"target_vnet", b"Target-VNet")

    assert validate_bytes(tmp_path, b"".join(lines)).ok
