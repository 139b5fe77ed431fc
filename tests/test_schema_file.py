"""The committed ``schema.graphql`` is the schema the code serves: a change to the GraphQL
surface shows up in review as a diff of that file."""

from __future__ import annotations

from pathlib import Path

import pytest

from logistics.schema import build_schema
from logistics.schema.__main__ import main

SCHEMA_FILE = Path(__file__).resolve().parent.parent / "schema.graphql"
HOW_TO_FIX = "schema.graphql is out of date; regenerate it with: python -m logistics.schema > schema.graphql"


def test_the_committed_schema_is_the_served_schema() -> None:
    assert SCHEMA_FILE.exists(), HOW_TO_FIX
    committed = SCHEMA_FILE.read_text()
    assert committed.rstrip("\n") == build_schema().as_str().rstrip("\n"), HOW_TO_FIX


def test_python_m_logistics_schema_prints_the_sdl(capsys: pytest.CaptureFixture[str]) -> None:
    main()
    printed = capsys.readouterr().out
    assert printed == build_schema().as_str() + "\n"
    assert "type Query {" in printed and "type Mutation {" in printed
