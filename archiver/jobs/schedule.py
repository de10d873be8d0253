"""Cron and systemd lines that run a job on a schedule.

No ``flock`` wrapper is needed: ``archiver run`` locks the job itself and a
run that finds the previous one still going exits 4 at once.
"""
from __future__ import annotations

import re
import shlex
import shutil
import sys
from pathlib import Path

from archiver.errors import UsageError

_AT = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")
_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def archiver_command() -> list[str]:
    """Absolute command of the running archiver (its console script, or python -m archiver)."""
    script = Path(sys.executable).parent / "archiver"
    if script.is_file():
        return [str(script.absolute())]
    found = shutil.which("archiver")
    if found:
        return [str(Path(found).absolute())]
    return [str(Path(sys.executable).absolute()), "-m", "archiver"]


def schedule_text(manifest_path: Path | str, name: str, out_dir: Path | str, *, at: str = "02:30", weekday: str | None = None) -> str:
    """A crontab line and a systemd service + timer pair for one job."""
    match = _AT.fullmatch(at)
    if not match:
        raise UsageError(f"--at: expected HH:MM, got {at!r}")
    if weekday is not None and weekday.lower()[:3] not in _WEEKDAYS:
        raise UsageError(f"--weekday: expected one of {', '.join(_WEEKDAYS)}, got {weekday!r}")
    hour, minute = int(match.group(1)), int(match.group(2))
    day = weekday.lower()[:3] if weekday else None
    argv = [*archiver_command(), "run", "--quiet", "--out", str(Path(out_dir).absolute()), str(Path(manifest_path).absolute())]
    cron_cmd = " ".join(shlex.quote(a) for a in argv).replace("%", r"\%")  # % is a newline to cron
    cron_day = str(_WEEKDAYS.index(day) + 1 if day != "sun" else 0) if day else "*"
    systemd_cmd = " ".join(_systemd_quote(a) for a in argv)
    calendar = f"{day.capitalize() + ' ' if day else ''}*-*-* {hour:02d}:{minute:02d}:00"
    unit = f"archiver-{name}"
    when = f"{'every ' + day.capitalize() if day else 'daily'} at {hour:02d}:{minute:02d}"
    return f"""\
# archiver job {name!r}, {when}.
# Exit status: 0 ok, 1 failure, 2 bad manifest, options or unreachable seeds, 3 audit under fail_under,
# 4 another run still holds the lock. --quiet prints one summary line (cron mails it).

# --- crontab (crontab -e) ---
{minute} {hour} * * {cron_day} {cron_cmd}

# --- systemd: ~/.config/systemd/user/{unit}.service ---
[Unit]
Description=archiver job {name}
After=network-online.target
Wants=network-online.target

[Service]
Type=oneshot
ExecStart={systemd_cmd}
Nice=10

# --- systemd: ~/.config/systemd/user/{unit}.timer ---
[Unit]
Description=Run archiver job {name} {when}

[Timer]
OnCalendar={calendar}
Persistent=true
RandomizedDelaySec=10min

[Install]
WantedBy=timers.target

# enable with: systemctl --user daemon-reload && systemctl --user enable --now {unit}.timer
"""


def _systemd_quote(arg: str) -> str:
    if re.fullmatch(r"[A-Za-z0-9_./:=+,@-]+", arg):
        return arg.replace("%", "%%")
    escaped = arg.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%").replace("$", "$$")
    return f'"{escaped}"'
