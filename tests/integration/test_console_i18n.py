"""French and English: every text the templates mark has a French translation, and the
language follows the browser unless the user picked one."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.testclient import TestClient

from hygie.web.i18n import catalog
from tests.integration.console_util import PASSWORD, app_for, seed

TEMPLATES = Path(__file__).resolve().parents[2] / "src" / "hygie" / "web" / "templates"
MARKED = re.compile(r"""_\((["'])(.+?)\1\)""")


def test_every_marked_text_is_translated_to_french() -> None:
    french = catalog("fr")
    texts = {m.group(2) for path in TEMPLATES.glob("*.html") for m in MARKED.finditer(path.read_text())}
    assert len(texts) > 50
    missing = sorted(t for t in texts if french.gettext(t) == t and t not in {"Note", "Observables", "Source", "Pack", "Packs", "Actions", "Question", "Questions", "Score", "Scores", "Sites",
                                                                "Playbook", "Service", "notification", "Action"})
    assert not missing, missing


def test_the_language_follows_the_browser_then_the_choice(tmp_path) -> None:
    client = TestClient(app_for(seed(f"sqlite:///{tmp_path / 'state.db'}", tmp_path)))
    client.post("/login", data={"username": "analyst", "password": PASSWORD})
    french = client.get("/", headers={"Accept-Language": "fr-FR,fr;q=0.9,en;q=0.8"})
    assert "Vue d'ensemble" in french.text and 'lang="fr"' in french.text
    english = client.get("/", headers={"Accept-Language": "de-DE,en;q=0.5"})
    assert "Overview" in english.text and 'lang="en"' in english.text
    client.get("/lang/fr")
    chosen = client.get("/alerts", headers={"Accept-Language": "en"})
    assert "Gravité" in chosen.text
