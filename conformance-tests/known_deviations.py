"""Split an external suite's failures into known deviations and unexpected failures.

usage: known_deviations.py newman NEWMAN_JSON KNOWN_LIST   (ms-postman)
       known_deviations.py scim2 SCIM2_LOG KNOWN_LIST      (scim2-tester)
prints "KNOWN UNEXPECTED"; lists each unexpected failure, and each known deviation that
no longer fails, on stderr. In KNOWN_LIST, ms-postman lines read "item :: assertion" and
scim2-tester lines "scim2-tester: check :: reason".
"""
import json
import re
import sys

SCIM2 = "scim2-tester: "


def newman_failures(report):
    with open(report, encoding="utf-8") as f:
        failures = json.load(f)["run"]["failures"]
    return [f"{x['source']['name']} :: {x['error'].get('test')}" for x in failures]


def scim2_failures(log):
    """Each ERROR or CRITICAL line of `scim2 test --verbose`, with the reason on the next line."""
    with open(log, encoding="utf-8", errors="replace") as f:
        lines = [re.sub(r"\x1b\[[0-9;]*m", "", line).rstrip("\n") for line in f]
    out = []
    for i, line in enumerate(lines):
        word, _, check = line.partition(" ")
        if word in ("ERROR", "CRITICAL"):
            reason = lines[i + 1].strip() if i + 1 < len(lines) else ""
            out.append(f"{SCIM2}{check.strip()} :: {reason}")
    return out


def main() -> None:
    kind, source, listing = sys.argv[1], sys.argv[2], sys.argv[3]
    with open(listing, encoding="utf-8") as f:
        lines = [line.strip() for line in f if line.strip() and not line.startswith("#")]
    if kind == "scim2":
        known = {line for line in lines if line.startswith(SCIM2)}
        failures = scim2_failures(source)
    else:
        known = {line for line in lines if not line.startswith(SCIM2)}
        failures = newman_failures(source)
    seen = set()
    unexpected = 0
    for name in failures:
        if name in known:
            seen.add(name)
        else:
            unexpected += 1
            print(f"unexpected failure: {name}", file=sys.stderr)
    for name in sorted(known - seen):
        print(f"known deviation now passes (remove it from the list): {name}", file=sys.stderr)
    print(len(failures) - unexpected, unexpected)


if __name__ == "__main__":
    main()
