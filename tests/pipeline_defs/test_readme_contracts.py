"""The README's data-contract table is generated from the contracts; it must not drift."""

from pathlib import Path

from pipeline_defs.contracts import docs_markdown

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_contract_table_matches_the_contracts():
    text = README.read_text()
    start = text.index("<!-- contracts:start -->") + len("<!-- contracts:start -->")
    end = text.index("<!-- contracts:end -->")
    assert text[start:end].strip() == docs_markdown().strip(), (
        "README contract table is stale: regenerate it with "
        "`python -c 'from pipeline_defs.contracts import docs_markdown; print(docs_markdown())'`")
