"""`bot schedule`, `bot interviews`, `bot interviews show|cancel` over a SQLite file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.__main__ import main
from tests.cli.test_calls_cli import ENV_UNSET


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ENV_UNSET:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'bot.db'}")
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "bot.db"


SCHEDULE = [
    "schedule",
    "--name",
    "Ada Lovelace",
    "--phone",
    "+33612345678",
    "--profile",
    "practice",
    "--at",
    "2027-03-02T10:00",
    "--timezone",
    "Europe/Paris",
]


def test_schedule_list_show_cancel(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*SCHEDULE, "--json"]) == 0
    made = json.loads(capsys.readouterr().out)
    assert made["scheduled_at"] == "2027-03-02T09:00:00+00:00"  # 10:00 in Paris (CET)
    assert made["status"] == "scheduled" and made["timezone"] == "Europe/Paris"
    later = ["--at", "2027-03-02T11:00:00+01:00", "--window", "08:00-12:00"]
    assert main([*SCHEDULE[:-4], *later, "--timezone", "Europe/Paris"]) == 0
    assert capsys.readouterr().out.startswith("scheduled iv_")

    assert main(["interviews"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:4] == ["id", "code", "status", "scheduled"]
    assert len(lines) == 3
    first = lines[1].split()
    assert first[0] == made["id"] and first[1] == made["code"] and first[2] == "scheduled"
    assert first[3:5] == ["2027-03-02", "10:00"] and "+33*****5678" in lines[1]
    assert "+33612345678" not in "\n".join(lines)  # tables mask numbers

    assert main(["interviews", "show", made["id"]]) == 0
    assert "(none yet)" in capsys.readouterr().out
    assert main(["interviews", "cancel", made["id"]]) == 0
    assert capsys.readouterr().out.strip() == f"cancelled {made['id']}"
    assert main(["interviews", "--status", "cancelled", "--json"]) == 0
    assert [json.loads(x)["id"] for x in capsys.readouterr().out.splitlines()] == [made["id"]]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (["--phone", "0612345678"], "phone"),
        (["--at", "next tuesday"], "scheduled_at"),
        (["--at", "2027-03-02T23:00"], "scheduled_at"),  # outside the window
        (["--timezone", "Paris"], "timezone"),
        (["--window", "21:00-08:00"], "window_end"),
    ],
)
def test_schedule_bad_input_exits_2_naming_the_field(
    db: Path, capsys: pytest.CaptureFixture[str], change: list[str], field: str
) -> None:
    args = list(SCHEDULE)
    flag = change[0]
    if flag in args:
        at = args.index(flag)
        args[at : at + 2] = change
    else:
        args += change
    assert main(args) == 2
    assert capsys.readouterr().err.startswith(f"bot schedule: {field}: ")
    assert main(["interviews"]) == 0
    assert capsys.readouterr().out.strip() == "no interviews"


def test_unknown_id(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["interviews", "cancel", "iv_0000000000000000"]) == 1
    assert "no interview iv_0000000000000000" in capsys.readouterr().err


def test_erase(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*SCHEDULE, "--json"]) == 0
    made = json.loads(capsys.readouterr().out)
    assert main(["interviews", "erase", made["id"]]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"erased {made['id']} (er_") and "0 transcript turns" in out
    assert main(["interviews", "show", made["id"], "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["candidate_name"] == "[erased]" and shown["phone"] == "+33*****5678"
    assert main(["interviews", "erase", made["id"]]) == 0
    assert "already erased" in capsys.readouterr().out
    assert main(["interviews", "erase", "iv_0000000000000000"]) == 1
    assert "no interview iv_0000000000000000" in capsys.readouterr().err
