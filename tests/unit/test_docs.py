"""The README and .env.example are generated from the settings table; keep them true."""

from pathlib import Path

from touchpulse.settings import SETTINGS, env_example, settings_markdown

ROOT = Path(__file__).resolve().parents[2]


def test_readme_settings_table_is_current():
    readme = (ROOT / "README.md").read_text()
    table = readme.split("<!-- SETTINGS:BEGIN -->\n", 1)[1].split("\n<!-- SETTINGS:END -->", 1)[0]
    assert table == settings_markdown()


def test_env_example_is_current_and_names_every_setting():
    text = (ROOT / ".env.example").read_text()
    assert text == env_example()
    assert all(f"# {s.env}=" in text for s in SETTINGS)


def test_readme_names_every_view_the_cli_serves():
    from touchpulse.clickhouse.queries import VIEWS
    readme = (ROOT / "README.md").read_text()
    assert all(f"`{view}`" in readme for view in VIEWS)


def test_docs_never_point_at_the_shared_folder():
    for path in [ROOT / "README.md", *ROOT.glob("docs/*.md")]:
        assert "../shared" not in path.read_text(), path
