#!/usr/bin/python3
"""Interleaved A/B of two dStore builds or settings, on the loads of bench/run.py.

This machine's speed moves by +-25% from minute to minute with nothing else on
it, so two `make bench` runs one after the other cannot tell a 5% change from
the weather. This starts both servers, loads both the same way (run.prepare),
then alternates short wrk runs between them, A B B A A B ..., so that a slow
minute hits both. It prints, per load, each round's ops/s, the medians of
ops/s, of server CPU µs per op and of p99 latency, and in how many rounds B was
faster.

    bench/ab.py --loads get-4k-uniform,query-10 --a /tmp/old/dstore --b build/dstore
    bench/ab.py --loads put-4k-uniform --b-args "--cache-size 2G"
    bench/ab.py --loads get-100-uniform --a-env GLIBC_TUNABLES=glibc.malloc.arena_max=1
    bench/ab.py --loads scan,scan-4seg --a /tmp/old/dstore     (items/s; each run pages once untimed first)

A and B default to build/dstore; --a-args / --b-args are extra `dstore serve`
arguments, --a-env / --b-env NAME=VALUE variables for that server only.
--full loads run.py's full-mode data (1.3M items; a minute per server) instead
of quick mode's. Needs what `make bench-quick` installs (wrk, botocore).
"""

import argparse
import os
import shlex
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402  (bench/run.py)


def start(binary, args, env, mode):
    """A prepared dstore serve: tables created and loaded, server idle."""
    saved = dict(os.environ)
    os.environ["DSTORE_BIN"] = os.path.abspath(binary)
    os.environ.update(env)
    try:
        s = run.Dstore(tempfile.mkdtemp(prefix="dstore-ab-"), args)
        s.start()  # the server takes its environment here
    finally:
        os.environ.clear()
        os.environ.update(saved)
    run.prepare(s, mode)
    return s


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--loads", required=True, help="comma-separated loads of bench/run.py")
    default_bin = os.path.join(run.ROOT, "build", "dstore")
    for side in ("a", "b"):
        ap.add_argument("--" + side, default=default_bin, help="dstore binary of " + side.upper())
        ap.add_argument("--%s-args" % side, default="", help="extra `dstore serve` arguments")
        ap.add_argument("--%s-env" % side, action="append", default=[], metavar="NAME=VALUE")
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--seconds", type=int, default=3, help="per wrk run (after 1 s of warm-up)")
    ap.add_argument("--full", action="store_true", help="full mode's data sizes")
    a = ap.parse_args()
    loads = a.loads.split(",")
    names = [n for n, _ in run.LOADS]
    for load in loads:
        if load not in names:
            ap.error("%s: not a load of bench/run.py" % load)
    mode_name = "full" if a.full else "quick"
    mode = dict(run.MODES[mode_name], duration=a.seconds, warmup=1)
    sides = []
    signed = tempfile.TemporaryDirectory(prefix="dstore-ab-req-")
    try:
        for side in ("a", "b"):
            env = dict(kv.split("=", 1) for kv in getattr(a, side + "_env"))
            sides.append(start(getattr(a, side), shlex.split(getattr(a, side + "_args")), env, mode))
        reqs = run.Requests(signed.name, mode_name)
        for load in loads:
            if not load.startswith(("rest-", "scan")):
                reqs.path(load)  # signed before the rounds, not during them
            res = ([], [])
            for r in range(a.rounds):
                for i in ((0, 1) if r % 2 == 0 else (1, 0)):
                    if load.startswith("scan"):  # each run repeats its untimed first pass
                        x = run.measure_scan(sides[i], load, mode, sides[i].tmp)
                    else:
                        x = run.measure(sides[i], load, reqs, mode, sides[i].tmp)
                    res[i].append((x["ops"], x["cpu_us"] or 0.0, x["p99"]))
            med = [[statistics.median(r[k] for r in rr) for k in range(3)] for rr in res]
            wins = sum(1 for x, y in zip(*res) if y[0] > x[0])
            print("%-16s A %7.0f ops/s %5.1f us/op p99 %.1f ms (%s) | B %7.0f ops/s %5.1f us/op p99 %.1f ms (%s) "
                  "| B/A %.3f, B faster in %d/%d"
                  % (load, med[0][0], med[0][1], med[0][2], "/".join("%.1f" % (r[0] / 1000) for r in res[0]),
                     med[1][0], med[1][1], med[1][2], "/".join("%.1f" % (r[0] / 1000) for r in res[1]),
                     med[1][0] / med[0][0] if med[0][0] else 0, wins, a.rounds), flush=True)
    finally:
        for s in sides:
            s.stop()
        signed.cleanup()


if __name__ == "__main__":
    main()
