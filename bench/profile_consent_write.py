"""Profile consent writes in-process: N writes through the Flask test client on SQLite.

    .venv/bin/python -m bench.profile_consent_write [--writes 2000] [--out FILE]
        [--database-url URL]

Prints (and with --out saves) the top 25 functions by cumulative CPU time, with the mean
wall and CPU time of one write. CPU time, because the machine is shared: waits for the
disk (a durable commit) and for other processes vary from run to run, the work does not.
The same body as bench/consent_writes.py, so the two agree.
"""

from __future__ import annotations

import argparse

from bench.consent_writes import consent_write
from bench.inprocess import measure, report, service


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--writes", type=int, default=2000)
    parser.add_argument("--out", default=None)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--no-profile", action="store_true",
                        help="no cProfile: the times (and the lock held) as served")
    args = parser.parse_args()

    app, url, headers = service(args.database_url)
    client = app.test_client()

    def write(i: int) -> None:
        method, path, body, h = consent_write(headers, 0, i)
        r = client.open(path, method=method, data=body, headers=h)
        assert r.status_code == 200, r.get_data(as_text=True)

    run = measure(app, write, args.writes, warm_up=200, profile=not args.no_profile)
    report(f"{args.writes} consent writes (PUT /consents, 2 choices, evidence) through "
           f"the Flask test client on {url.split(':')[0]}{run.mode}: "
           f"{1000 * run.elapsed / args.writes:.2f} ms wall, "
           f"{1000 * run.cpu / args.writes:.2f} ms CPU a write", run, args.out)


if __name__ == "__main__":
    main()
