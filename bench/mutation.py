"""Mutation testing of the safety rules, with mutmut: which deliberate bugs would the tests miss?

    .venv/bin/python bench/mutation.py             # every rule below (about 20-40 minutes on 2 cores)
    .venv/bin/python bench/mutation.py robots      # one group
    .venv/bin/python bench/mutation.py --list      # the groups and their mutant name patterns

mutmut (a test extra) copies the package into ``mutants/`` with every
mutation of the files listed under ``[tool.mutmut]`` in pyproject.toml
built in, runs the selected tests once to learn which test reaches which
function, then runs, for each mutant of the functions chosen here, the tests
that reach it. A mutant the tests do not fail on "survives". The groups are
the rules issue 16 names: robots and scope in capture, threshold and margin
in mapping, escaping in export, the completeness ratio in audit; and the
crawler's politeness (per-host limits, delays, rests, standbys). Survivors
are printed with their diff and written to ``bench/results/mutation.json``;
tests/README.md lists the ones argued equivalent. Not part of ``make test``.
"""
from __future__ import annotations

import argparse
import fnmatch
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

GROUPS = {
    "robots": ["archiver.capture.robots.*"],
    "scope": ["archiver.capture.scope.*"],
    "politeness": ["archiver.capture.politeness.*"],
    "mapping": ["archiver.mapping.content.x_verdict__mutmut_*",
                "archiver.mapping.build.xǁ_Builderǁ_one_to_one__mutmut_*"],
    "escaping": ["archiver.export.nginx.x_quote__mutmut_*", "archiver.export.nginx.x_string_key__mutmut_*",
                 "archiver.export.nginx.x_regex_key__mutmut_*", "archiver.export.nginx.x_value__mutmut_*",
                 "archiver.export.apache.x_substitution__mutmut_*", "archiver.export.netlify.x_from_path__mutmut_*",
                 "archiver.export.netlify.x_query_params__mutmut_*", "archiver.export.tables.x__cell__mutmut_*",
                 "archiver.export.urls.*"],
    "completeness": ["archiver.audit.x_completeness_ratio__mutmut_*"],
}


def mutmut(*args: str, capture: bool = False) -> subprocess.CompletedProcess:
    return subprocess.run([common.venv_bin("mutmut"), *args], cwd=common.REPO_DIR, text=True,
                          capture_output=capture)


def statuses() -> dict[str, str]:
    """{mutant name: status} of every mutant mutmut knows."""
    out = mutmut("results", "--all", "true", capture=True).stdout
    found = {}
    for line in out.splitlines():
        name, sep, status = line.strip().rpartition(": ")
        if sep and name.startswith("archiver."):
            found[name] = status.strip()
    return found


def diff(name: str) -> str:
    shown = mutmut("show", name, capture=True).stdout
    return "\n".join(line for line in shown.splitlines() if line.startswith(("-", "+")) and not line.startswith(("---", "+++")))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("groups", nargs="*", metavar="GROUP", help=f"groups to run: {', '.join(GROUPS)} (default: all)")
    parser.add_argument("--list", action="store_true", help="print the groups and their patterns")
    parser.add_argument("--fresh", action="store_true", help="delete mutants/ first (after editing tests or code)")
    args = parser.parse_args()
    unknown = [g for g in args.groups if g not in GROUPS]
    if unknown:
        parser.error(f"unknown group {unknown[0]!r} (known: {', '.join(GROUPS)})")
    if args.list:
        for group, patterns in GROUPS.items():
            print(f"{group}: {' '.join(patterns)}")
        return 0
    if not Path(common.venv_bin("mutmut")).exists() and not shutil.which("mutmut"):
        sys.exit("mutmut is not installed: pip install -e '.[test]'")
    if args.fresh:
        shutil.rmtree(common.REPO_DIR / "mutants", ignore_errors=True)
    chosen = args.groups or list(GROUPS)
    patterns = [p for group in chosen for p in GROUPS[group]]
    if mutmut("run", *patterns).returncode:
        print("mutmut run failed (see above): the figures below count only what it checked")
    known = statuses()
    summary, details = [], {}
    for group in chosen:
        names = sorted(n for n in known if any(fnmatch.fnmatchcase(n, p) for p in GROUPS[group]))
        # a mutant that loops forever is caught by the timeout: killed too
        survivors = [n for n in names if known[n] in ("survived", "no tests")]
        unchecked = [n for n in names if known[n] not in ("killed", "timeout", "survived", "no tests")]
        details[group] = {"mutants": len(names), "survivors": {n: diff(n) for n in survivors},
                          "other": {n: known[n] for n in unchecked}}
        summary.append(common.row(f"{group}: surviving mutants of {len(names)}",
                                  f"{len(survivors)}" + (f" ({len(unchecked)} not run)" if unchecked else ""),
                                  "0 (or argued equivalent in tests/README.md)", bool(names) and not survivors
                                  and not unchecked))
        for name in survivors:
            print(f"\nsurvived: {name}\n{details[group]['survivors'][name]}")
        for name, status in details[group]["other"].items():
            print(f"{status}: {name}")
    print("\n" + common.format_table(summary, "mutation testing"))
    common.write_results("mutation", summary, details)
    return 0


if __name__ == "__main__":
    sys.exit(main())
