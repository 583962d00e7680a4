"""The if-condition language, variable substitution and Hygie's command line."""

from __future__ import annotations

import pytest

from hygie.respond.workflow import ConditionError, evaluate, split_hygie_command, substitute

VARS = {"$$severity$$": "critical", "$$ip$$": "", "$$count$$": "12", "$$user$$": "o'brien"}


@pytest.mark.parametrize("condition, expected", [
    ("$$severity$$ = 'critical'", True),
    ("$$severity$$ IN ('high', 'critical')", True),
    ("$$severity$$ IN ('low')", False),
    ("$$ip$$ != ''", False),
    ("$$ip$$", False),
    ("NOT $$ip$$", True),
    ("$$count$$ >= 3 AND $$count$$ < 20", True),
    ("$$count$$ > 100 OR $$severity$$ = 'critical'", True),
    ("$$count$$ > 100 OR $$severity$$ = 'low' AND $$ip$$ = ''", False),
    ("($$count$$ > 100 OR $$severity$$ = 'critical') AND $$ip$$ = ''", True),
    ("$$user$$ = 'o\\'brien'", True),
    ("$$missing$$ = ''", True),
])
def test_conditions(condition: str, expected: bool) -> None:
    assert evaluate(condition, VARS) is expected


@pytest.mark.parametrize("condition", ["$$a$$ LIKE 'x'", "$$a$$ =", "'x'", "($$a$$ = 'b'", "$$a$$ IN 'x'", "#"])
def test_bad_conditions(condition: str) -> None:
    with pytest.raises(ConditionError):
        evaluate(condition, VARS)


def test_substitution_and_commands() -> None:
    assert substitute("block $$ip$$ for $$severity$$", {**VARS, "$$ip$$": "1.2.3.4"}) == "block 1.2.3.4 for critical"
    with pytest.raises(KeyError):
        substitute("$$nope$$", VARS)
    action, args = split_hygie_command("email.send to=$$soc$$ subject='Ransomware on $$host$$' body=")
    assert action == "email.send" and args == {"to": "$$soc$$", "subject": "Ransomware on $$host$$", "body": ""}
    for bad in ("", "email.send loose", "email.send 'unclosed"):
        with pytest.raises(ValueError):
            split_hygie_command(bad)
