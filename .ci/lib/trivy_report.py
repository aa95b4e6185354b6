"""Summarise a Trivy JSON report of the secret and misconfiguration scanners for the CI log; exit 1 on any
finding. Findings accepted in the ignore file never reach the report, so they are listed from it instead,
each with its reason.

    python3 .ci/lib/trivy_report.py REPORT.json LABEL [IGNOREFILE]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml


def main(report_path: str, label: str, ignorefile: str | None = None) -> int:
    report = json.loads(Path(report_path).read_text())
    results = report.get("Results") or []
    passed = sum((r.get("MisconfSummary") or {}).get("Successes", 0) for r in results)
    configs = [r["Target"] for r in results if r.get("Class") == "config"]
    findings = [
        f"  {m.get('Severity')} {m.get('ID')} {r['Target']}: {m.get('Title')}"
        for r in results
        for m in r.get("Misconfigurations") or []
    ] + [
        f"  {s.get('Severity')} secret {s.get('RuleID')} {r['Target']}:{s.get('StartLine')}: {s.get('Title')}"
        for r in results
        for s in r.get("Secrets") or []
    ]
    print(
        f"{label}: {len(findings)} findings; {passed} misconfiguration checks passed on "
        f"{len(configs)} configurations ({', '.join(configs) or 'none'})"
    )
    for line in findings:
        print(line)
    accepted = yaml.safe_load(Path(ignorefile).read_text()) if ignorefile else {}
    for kind, entries in accepted.items():
        for entry in entries or []:
            where = ", ".join(entry.get("paths", [])) or "everywhere"
            print(f"  accepted ({kind}) {entry['id']} in {where}: {' '.join(entry['statement'].split())}")
    return 1 if findings else 0


if __name__ == "__main__":
    if len(sys.argv) not in (3, 4):
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(*sys.argv[1:]))
