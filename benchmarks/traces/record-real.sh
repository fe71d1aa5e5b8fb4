#!/bin/bash
# Records PEBS-like traces of real Debian programs with valgrind's lackey
# tool and tiervm-trace-record (lackey_sampler.h):
#   record-real.sh TRACE_RECORD_BIN OUT_DIR short|full [redis|sqlite|xz|python|bzip2 ...]
# Writes OUT_DIR/rec_<program>.tvmt and rec_<program>.stats.json (the
# recorder's counts).  Lackey slows a program ~100-300x and prints every
# access as text, so the workloads are small: "short" (CI) records a few
# seconds of each, "full" about a minute.  A program that is not installed
# is skipped with a message (exit status still 0 for the others).
set -euo pipefail
REC=$1; OUT=$2; MODE=$3; shift 3
PROGS=("$@"); [ ${#PROGS[@]} -eq 0 ] && PROGS=(redis sqlite xz python bzip2)
case "$MODE" in short|full) ;; *) echo "mode must be short or full" >&2; exit 2;; esac
mkdir -p "$OUT"
# Sampler settings: 1 MiB cache model (an L2-sized per-core share; the
# sampled event is "missed the modelled cache"), every 31st miss.
SAMPLER=(--period=31 --llc-kib=1024)
LACKEY=(valgrind --tool=lackey --trace-mem=yes --log-fd=3)

record() {  # name, then the command
  local name=$1; shift
  "${LACKEY[@]}" "$@" 3>&1 1>/dev/null 2>/dev/null \
    | "$REC" --out="$OUT/rec_$name.tvmt" "${SAMPLER[@]}" 2>"$OUT/rec_$name.stats.json"
}

gen_text() {  # file, KiB, seed: deterministic, partly compressible words
  python3 - "$@" <<'PY'
import random, sys
random.seed(int(sys.argv[3]))
words = ["".join(random.choice("abcdefghijklmnop") for _ in range(random.randint(2, 9))) for _ in range(3000)]
out, n = [], int(sys.argv[2]) * 1024
size = 0
while size < n:
    w = random.choice(words) if random.random() < 0.9 else "%x" % random.getrandbits(32)
    out.append(w); size += len(w) + 1
open(sys.argv[1], "w").write(" ".join(out)[:n])
PY
}

rec_redis() {
  command -v redis-server >/dev/null && command -v redis-benchmark >/dev/null || {
    echo "redis-server/redis-benchmark not installed: skipped" >&2; return 0; }
  local n=3000 keys=20000
  [ "$MODE" = full ] && n=20000 && keys=100000
  local port=$((20000 + RANDOM % 20000))
  ( "${LACKEY[@]}" redis-server --port "$port" --save "" --appendonly no --bind 127.0.0.1 \
      3>&1 1>/dev/null 2>/dev/null \
    | "$REC" --out="$OUT/rec_redis.tvmt" "${SAMPLER[@]}" 2>"$OUT/rec_redis.stats.json" ) &
  local pipe=$!
  for _ in $(seq 600); do redis-cli -p "$port" ping 2>/dev/null | grep -q PONG && break; sleep 0.2; done
  # SET then GET of 1 KiB values over a random keyspace (redis-benchmark -r).
  redis-benchmark -p "$port" -n "$n" -r "$keys" -d 1024 -t set,get -c 4 -q >"$OUT/rec_redis.bench.txt" 2>&1 || true
  redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true
  wait "$pipe"
}

rec_sqlite() {
  command -v sqlite3 >/dev/null || { echo "sqlite3 not installed: skipped" >&2; return 0; }
  local rows=20000 lookups=3000
  [ "$MODE" = full ] && rows=100000 && lookups=20000
  local sql="$OUT/rec_sqlite.sql"
  cat >"$sql" <<SQL
PRAGMA cache_size=-65536;
CREATE TABLE kv(id INTEGER PRIMARY KEY, k TEXT, v BLOB);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < $rows)
  INSERT INTO kv SELECT i, printf('key%08d', (i * 7919) % $rows), randomblob(200) FROM n;
CREATE INDEX kv_k ON kv(k);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < $lookups)
  SELECT sum(length(v)) FROM n JOIN kv ON kv.k = printf('key%08d', abs(random()) % ($rows / 10));
SELECT count(*), avg(length(v)) FROM kv WHERE id % 3 = 0;
SQL
  record sqlite sqlite3 :memory: ".read $sql"
}

rec_xz() {
  command -v xz >/dev/null || { echo "xz not installed: skipped" >&2; return 0; }
  local kib=256
  [ "$MODE" = full ] && kib=2048
  gen_text "$OUT/rec_xz.input" "$kib" 5
  record xz xz -3 -T1 -c "$OUT/rec_xz.input"
}

rec_python() {
  # Debian's interpreter, not a user's pyenv shim (a shell script).
  local py=/usr/bin/python3
  [ -x "$py" ] || { echo "/usr/bin/python3 not installed: skipped" >&2; return 0; }
  local n=4000 lookups=12000
  [ "$MODE" = full ] && n=40000 && lookups=120000
  # A heap of small objects (dicts of str/int/float, as an ORM or JSON
  # layer holds) looked up by skewed keys, with a share of inserts and
  # deletes: the interpreter's allocator scatters hot objects over pages.
  cat >"$OUT/rec_python.py" <<'PY'
import random, sys
random.seed(11)
n, lookups = int(sys.argv[1]), int(sys.argv[2])
table = {}
for i in range(n):
    table["user:%07d" % i] = {"id": i, "name": "n%x" % random.getrandbits(40),
                             "score": random.random(), "tags": [i % 7, i % 11]}
keys = list(table)
total = 0.0
for j in range(lookups):
    k = keys[min(int(random.paretovariate(1.2)) - 1, n - 1) * 7919 % n]
    rec = table.get(k)
    if rec is not None:
        total += rec["score"]
        rec["tags"].append(j)
        if len(rec["tags"]) > 8:
            del rec["tags"][:4]
    if j % 16 == 0:
        victim = keys[random.randrange(n)]
        table.pop(victim, None)
        table[victim] = {"id": j, "name": "r%x" % j, "score": 0.5, "tags": []}
print(total)
PY
  record python "$py" "$OUT/rec_python.py" "$n" "$lookups"
}

rec_bzip2() {
  command -v bzip2 >/dev/null || { echo "bzip2 not installed: skipped" >&2; return 0; }
  local kib=256
  [ "$MODE" = full ] && kib=2048
  # The block-sorting compressor: suffix sorting over a 900 kB block
  # jumps across its arrays, unlike xz's sliding window.  Same kind of
  # input as rec_xz, another seed.
  gen_text "$OUT/rec_bzip2.input" "$kib" 7
  record bzip2 bzip2 -9 -c "$OUT/rec_bzip2.input"
}

for p in "${PROGS[@]}"; do
  echo "recording $p ($MODE) ..." >&2
  start=$(date +%s)
  "rec_$p"
  echo "  $p: $(($(date +%s) - start)) s, $(cat "$OUT/rec_$p.stats.json" 2>/dev/null)" >&2
done
