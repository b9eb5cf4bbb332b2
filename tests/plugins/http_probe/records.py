#!/usr/bin/env python3
"""Assertions over check records (JSON lines) for the http_probe tests.

  records.py FILE TARGET EXPR   exactly one record has target == TARGET and
                                EXPR holds with r bound to it
  records.py FILE --all EXPR    EXPR holds with rs bound to every record
Exits 0 if the assertion holds; else prints why on stderr and exits 1.
"""
import datetime
import json
import sys

FIELDS = {
    "check_id": str, "agent": str, "target": str, "url": str, "time": str, "success": bool,
    "result": str, "error": (str, type(None)), "status_code": int,
    "response_time_ms": (int, float), "dns_ms": (int, float, type(None)),
    "connect_ms": (int, float, type(None)), "tls_ms": (int, float, type(None)),
    "ttfb_ms": (int, float, type(None)), "pattern": (str, type(None)),
    "pattern_matched": (bool, type(None)), "body_bytes": int, "redirects": int,
    "http_version": str, "remote_ip": str, "tls_expires_at": (str, type(None)), "schema": int,
}


def epoch(ts):
    """RFC 3339 UTC time string → seconds since the epoch (float)."""
    return datetime.datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()


def well_formed(r):
    return list(r.keys()) == list(FIELDS) and all(
        isinstance(r[k], t) and not (t is int and isinstance(r[k], bool)) for k, t in FIELDS.items())


def main():
    path, sel, expr = sys.argv[1], sys.argv[2], sys.argv[3]
    rs = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                rs.append(json.loads(line))
    env = {"rs": rs, "epoch": epoch, "well_formed": well_formed, "FIELDS": FIELDS}
    if sel == "--all":
        what = "all %d records" % len(rs)
    else:
        mine = [r for r in rs if r.get("target") == sel]
        if len(mine) != 1:
            print("expected one record for target %r, got %d" % (sel, len(mine)), file=sys.stderr)
            return 1
        env["r"] = mine[0]
        what = json.dumps(mine[0])
    try:
        good = eval(expr, env)
    except Exception as e:  # a missing field or a wrong type fails the case
        good = False
        print("error evaluating %s: %r" % (expr, e), file=sys.stderr)
    if not good:
        print("assertion failed: %s\n  on %s" % (expr, what[:2000]), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
