"""``archiver schedule`` prints working cron and systemd lines."""
import shlex
from pathlib import Path

from archiver.cli import main

ROOT = Path(__file__).resolve().parent.parent


def test_schedule_prints_crontab_and_systemd_with_absolute_paths(capsys, tmp_path):
    manifest = ROOT / "manifests" / "example-mnz.toml"
    assert main(["schedule", str(manifest), "--out", str(tmp_path / "out dir%"), "--at", "03:07"]) == 0
    text = capsys.readouterr().out
    cron = next(line for line in text.splitlines() if line and not line.startswith("#") and line[0].isdigit())
    fields = cron.split(" ", 5)
    assert fields[:5] == ["7", "3", "*", "*", "*"]
    argv = shlex.split(fields[5].replace(r"\%", "%"))
    assert Path(argv[0]).is_absolute() and argv[argv.index("run") - 1].endswith("archiver")
    assert argv[-1] == str(manifest) and str(tmp_path / "out dir%") in argv and "--quiet" in argv
    assert "\\%" in fields[5]  # a bare % would end the cron command
    assert "OnCalendar=*-*-* 03:07:00" in text and "Type=oneshot" in text and "Persistent=true" in text
    exec_start = next(line for line in text.splitlines() if line.startswith("ExecStart="))
    assert str(manifest) in exec_start and '"' + str(tmp_path / "out dir%%") + '"' in exec_start


def test_schedule_weekly_and_bad_values(capsys):
    manifest = str(ROOT / "manifests" / "example-mnz.toml")
    assert main(["schedule", manifest, "--weekday", "sunday"]) == 0
    out = capsys.readouterr().out
    assert "OnCalendar=Sun *-*-* 02:30:00" in out and "\n30 2 * * 0 " in out
    assert main(["schedule", manifest, "--at", "25:00"]) == 2
    assert "--at: expected HH:MM" in capsys.readouterr().err
    assert main(["schedule", manifest, "--weekday", "someday"]) == 2
