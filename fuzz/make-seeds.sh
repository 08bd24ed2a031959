#!/usr/bin/env bash
# Regenerates the seeds of fuzz/corpus that come from a real redis-server: an RDB file with
# every type and encoding, the files of a multi-part AOF directory, and DUMP payloads.
# The hand-written seeds beside them are kept as they are. Needs redis-server and redis-cli.
set -euo pipefail
cd "$(dirname "$0")"
corpus=$PWD/corpus
work=$(mktemp -d)
port=$((20000 + RANDOM % 20000))
trap 'redis-cli -p $port shutdown nosave >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
redis-server --port "$port" --dir "$work" --save "" --appendonly yes \
    --aof-use-rdb-preamble no --daemonize no >"$work/log" 2>&1 &
for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
cli() { redis-cli -p "$port" "$@" >/dev/null; }
# Small and large forms of each type, so each encoding appears.
cli set s:int 12345
cli set s:emb hello
cli set s:raw "$(printf 'x%.0s' $(seq 100))"
cli set s:ttl v px 999999999
cli rpush l:small a b 1 2
cli rpush l:big $(seq 200)
cli hset h:small f1 v1 f2 2
cli hset h:big $(for i in $(seq 150); do echo "f$i v$i"; done)
cli sadd set:int 1 2 3 -5
cli sadd set:str a b c
cli sadd set:big $(seq 600)
cli zadd z:small 1 a 2.5 b -3 c
cli zadd z:big $(for i in $(seq 150); do echo "$i m$i"; done)
cli pfadd hll a b c d
cli xadd st '1-1' f v
cli xadd st '2-0' f2 v2 g 7
cli xgroup create st grp 0
cli xreadgroup group grp alice count 1 streams st '>'
cli select 3
cli set other:db 1
cli save
cp "$work/dump.rdb" "$corpus/rdb/redis-all-types.bin"
# The AOF directory's manifest and its command file (no RDB preamble).
cp "$work/appendonlydir/appendonly.aof.manifest" "$corpus/aof/redis-manifest.txt"
cp "$work"/appendonlydir/appendonly.aof.1.incr.aof "$corpus/aof/redis-incr.resp"
for k in s:int s:emb s:raw l:small l:big h:small h:big set:int set:str set:big z:small z:big hll st; do
    # redis-cli cannot print raw binary safely: read the payload over RESP with Python.
    python3 - "$port" "$k" "$corpus/restore/redis-${k//:/-}.bin" <<'PY'
import socket, sys
port, key, out = int(sys.argv[1]), sys.argv[2].encode(), sys.argv[3]
s = socket.create_connection(("127.0.0.1", port))
s.sendall(b"*2\r\n$4\r\nDUMP\r\n$%d\r\n%s\r\n" % (len(key), key))
buf = b""
while b"\r\n" not in buf:
    buf += s.recv(65536)
head, rest = buf.split(b"\r\n", 1)
n = int(head[1:])
while len(rest) < n + 2:
    rest += s.recv(65536)
open(out, "wb").write(rest[:n])
PY
done
