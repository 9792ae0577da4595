"""Split a newman report's failures into known deviations and unexpected failures.

usage: known_deviations.py NEWMAN_JSON KNOWN_LIST
prints "KNOWN UNEXPECTED"; lists each unexpected failure, and each known deviation that
no longer fails, on stderr.
"""
import json
import sys


def main() -> None:
    report, listing = sys.argv[1], sys.argv[2]
    with open(listing, encoding="utf-8") as f:
        known = {line.strip() for line in f if line.strip() and not line.startswith("#")}
    with open(report, encoding="utf-8") as f:
        failures = json.load(f)["run"]["failures"]
    seen = set()
    unexpected = 0
    for failure in failures:
        name = f"{failure['source']['name']} :: {failure['error'].get('test')}"
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
