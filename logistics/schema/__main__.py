"""``python -m logistics.schema > schema.graphql``: print the GraphQL schema (SDL).

The printed schema is committed at the repository root; ``tests/test_schema_file.py`` fails
when the code and the committed file drift apart.
"""

from __future__ import annotations

from logistics.schema import build_schema


def main() -> None:
    print(build_schema().as_str())


if __name__ == "__main__":
    main()
