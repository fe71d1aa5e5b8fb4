"""SQL script of the sqlite workload (run as `sqlite3 :memory: < script`).

The script builds table t(id INTEGER PRIMARY KEY, v BLOB) with `rows`
random blobs of `row_bytes` each in an in-memory database (its pages live
in sqlite3's heap), and a table `hot` of 4096 range starts drawn on the
host from a Zipf(theta) distribution over range ranks, each rank mapped to
a scattered start (rank * prime mod number of ranges), so the hot ranges
are spread over the heap.  It prints {"placed":true}, then runs ticks: each
tick sums the rows of 100 ranges (`range_rows` rows each) picked at random
from `hot` and prints {"tick":K,"epoch_s":S}; the harness turns successive
ticks into range queries per second.  The harness kills sqlite3 at the end
of the run.
"""

import random

RANGES_PER_TICK = 100
HOT_SAMPLES = 4096


def zipf_ranks(n, theta, count, rng):
    """`count` ranks in [0, n) with P(rank r) proportional to (r+1)^-theta
    (inverse CDF over the exact weights)."""
    weights = [(r + 1) ** -theta for r in range(n)]
    total = sum(weights)
    cdf, acc = [], 0.0
    for w in weights:
        acc += w / total
        cdf.append(acc)
    out = []
    for _ in range(count):
        u = rng.random()
        lo, hi = 0, n - 1
        while lo < hi:
            mid = (lo + hi) // 2
            if cdf[mid] < u:
                lo = mid + 1
            else:
                hi = mid
        out.append(lo)
    return out


def script(wl):
    rows, rb, rr = wl["rows"], wl["row_bytes"], wl["range_rows"]
    nranges = max(1, rows // rr)
    rng = random.Random(wl["seed"])
    prime = 2654435761
    starts = [1 + ((r * prime) % nranges) * rr
              for r in zipf_ranks(nranges, wl["theta"], HOT_SAMPLES, rng)]
    lines = [
        "CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB);",
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
        "WHERE x < %d) INSERT INTO t SELECT x, randomblob(%d) FROM c;"
        % (rows, rb),
        "CREATE TABLE hot(i INTEGER PRIMARY KEY, start INTEGER);",
    ]
    for i in range(0, HOT_SAMPLES, 512):
        lines.append("INSERT INTO hot VALUES %s;" % ",".join(
            "(%d,%d)" % (j, starts[j]) for j in range(i, min(HOT_SAMPLES,
                                                            i + 512))))
    lines.append("SELECT '{\"placed\":true}';")
    ticks = max(1, wl["queries"] // RANGES_PER_TICK)
    for k in range(ticks):
        lines.append(
            "SELECT printf('{\"tick\":%d,\"epoch_s\":%%.3f,\"sum\":%%d}', "
            "(julianday('now') - 2440587.5) * 86400.0, (SELECT "
            "sum(length(t.v)) FROM (SELECT start FROM hot ORDER BY random() "
            "LIMIT %d) r JOIN t ON t.id BETWEEN r.start AND r.start + %d));"
            % (k, RANGES_PER_TICK, rr - 1))
    return "\n".join(lines) + "\n"
