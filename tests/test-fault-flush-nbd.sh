#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# NBD FLUSH semantics through aoe-nbd, proven from the wire: a libnbd
# python client issues rounds of asynchronous writes, waits for them all,
# then sends NBD_CMD_FLUSH, and logs (CLOCK_REALTIME) when each write was
# acknowledged and when the flush was sent and acknowledged; aoe-nbd's
# --trace pcap shows what went to vblade.  In every round the ATA FLUSH
# CACHE request must leave after the responses to every write frame of the
# writes acknowledged before the flush was sent, and the NBD flush reply
# must come after the FLUSH CACHE response.  Once on a clean LAN, once with
# 5 % loss at every hook.  The data written is read back and compared.
nbd_test_timeout=85
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/nbd-functions.sh"
. "$(dirname "$0")/fault-functions.sh"
requires_root
requires_nbdsh
requires aoe-nbd nft truncate

setup_lan 1500
truncate -s 16M "$tmpdir/disk.img"
start_vblade 1 0 "$tmpdir/disk.img" -b 64

# The client: ROUNDS rounds of 4..12 writes (512 B .. 256 KiB, sector
# aligned, never overlapping within a round), then one flush.  Event lines:
# "TIME write_submit ROUND I OFF LEN", "TIME write_ack ROUND I ERR",
# "TIME flush_submit ROUND", "TIME flush_ack ROUND ERR".
cat >"$tmpdir/client.py" <<'EOF'
import random, sys, time
import nbd

uri, seed, rounds, logf = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), \
    sys.argv[4]
rng = random.Random(seed)
log = open(logf, "w")

def now():
    return time.clock_gettime(time.CLOCK_REALTIME)

def ev(*a):
    log.write("%.6f %s\n" % (now(), " ".join(str(x) for x in a)))

h = nbd.NBD()
h.connect_uri(uri)
size = h.get_size()
assert h.can_flush(), "the export does not advertise flush"
shadow = bytearray(size)
for off in range(0, size, 1 << 22):
    shadow[off:off + (1 << 22)] = h.pread(min(1 << 22, size - off), off)

SLOT = 1 << 18
nslots = size // SLOT
for r in range(rounds):
    n = rng.randint(4, 12)
    bufs = []
    for i, slot in enumerate(rng.sample(range(nslots), n)):
        nsec = rng.randint(1, SLOT // 512)
        off = slot * SLOT + rng.randint(0, SLOT // 512 - nsec) * 512
        data = bytearray(rng.randbytes(nsec * 512))
        shadow[off:off + len(data)] = data
        buf = nbd.Buffer.from_bytearray(data)
        bufs.append(buf)

        def done(err, r=r, i=i):
            ev("write_ack", r, i, err.value if hasattr(err, "value")
               else err)
            return 1
        ev("write_submit", r, i, off, len(data))
        h.aio_pwrite(buf, off, completion=done)
    while h.aio_in_flight() > 0:
        h.poll(-1)

    def fdone(err, r=r):
        ev("flush_ack", r, err.value if hasattr(err, "value") else err)
        return 1
    ev("flush_submit", r)
    h.aio_flush(completion=fdone)
    while h.aio_in_flight() > 0:
        h.poll(-1)
log.close()

back = bytearray()
for off in range(0, size, 1 << 22):
    back += h.pread(min(1 << 22, size - off), off)
h.shutdown()
if back != shadow:
    sys.exit("read-back differs from what was written")
print("client: %d rounds written, flushed and read back: ok" % rounds)
EOF

# The checker: the client's events against aoe-nbd's trace.
cat >"$tmpdir/check.py" <<'EOF'
import os, sys
sys.path.insert(0, os.path.join(os.environ["top_srcdir"], "tests"))
from aoetrace import read_pcap, ata_frames

pcap, logf = sys.argv[1], sys.argv[2]
recs = read_pcap(pcap)   # (index, time us, frame)

# Client events.
writes = {}     # (round, i) -> submit us, ack us, err
flushes = {}    # round -> submit us, ack us, err
for line in open(logf):
    w = line.split()
    us = int(round(float(w[0]) * 1e6))
    if w[1] == "write_submit":
        writes[(int(w[2]), int(w[3]))] = {"submit": us}
    elif w[1] == "write_ack":
        writes[(int(w[2]), int(w[3]))].update(ack=us, err=int(w[4]))
    elif w[1] == "flush_submit":
        flushes[int(w[2])] = {"submit": us}
    elif w[1] == "flush_ack":
        flushes[int(w[2])].update(ack=us, err=int(w[3]))

# Trace: ATA requests and the first response to each tag.
reqs = []       # (index, us, tag, kind)
rsp = {}        # tag -> (index, us)
for idx, us, is_rsp, tag, aflags, _, cmd, lba in ata_frames(recs):
    if is_rsp:
        rsp.setdefault(tag, (idx, us))
        continue
    if cmd in (0xe7, 0xea):
        reqs.append((idx, us, tag, "flush", 0))
    elif aflags & 0x01:
        reqs.append((idx, us, tag, "write", lba))

bad = []
def check(cond, msg):
    if not cond:
        bad.append(msg)

prev_end = 0
nwf = nff = retx_rounds = 0
for r in sorted(flushes):
    fl = flushes[r]
    check(fl.get("err") == 0, "round %d: flush failed" % r)
    acked = [k for k in writes if k[0] == r]
    for k in acked:
        w = writes[k]
        check(w.get("err") == 0, "round %d: write %d failed" % k)
        check(w["ack"] <= fl["submit"],
              "round %d: write %d acknowledged after the flush was sent"
              % k)
    # The round's frames: write requests sent between the end of the
    # previous round and the flush, FLUSH requests from the flush on.
    wf = [q for q in reqs
          if q[3] == "write" and prev_end <= q[1] <= fl["submit"]]
    ff = [q for q in reqs
          if q[3] == "flush" and fl["submit"] <= q[1] <= fl["ack"]]
    check(wf, "round %d: no write frame in the trace" % r)
    check(ff, "round %d: no FLUSH CACHE request in the trace" % r)
    stray = [q for q in reqs if q[3] == "write"
             and fl["submit"] < q[1] <= fl["ack"]]
    check(not stray, "round %d: %d write frames sent during the flush"
          % (r, len(stray)))
    if not wf or not ff:
        prev_end = fl["ack"]
        continue
    first_flush = ff[0]
    last_wrsp = None
    for q in wf:
        a = rsp.get(q[2])
        if a is None:
            continue    # unanswered: its retransmission counts
        if last_wrsp is None or a[0] > last_wrsp[0]:
            last_wrsp = a
    # Every write frame (by tag or by a retransmission of it) answered
    # before the FLUSH left: no write request may be unanswered either.
    unanswered = [q for q in wf if q[2] not in rsp]
    if unanswered:
        retx_rounds += 1
    byl = {}
    for q in wf:
        byl.setdefault(q[4], []).append(q[2])
    for lba, tags in byl.items():
        check(any(t in rsp and rsp[t][0] < first_flush[0] for t in tags),
              "round %d: write frame at LBA %d never answered before the "
              "FLUSH left" % (r, lba))
    check(last_wrsp is not None and last_wrsp[0] < first_flush[0],
          "round %d: FLUSH CACHE sent (record %d) before the last write "
          "response (record %s)" % (r, first_flush[0],
                                    last_wrsp and last_wrsp[0]))
    late = [q for q in wf if q[2] in rsp and rsp[q[2]][0] > first_flush[0]]
    check(not late, "round %d: %d write responses after the FLUSH left"
          % (r, len(late)))
    franswers = [rsp[q[2]] for q in ff if q[2] in rsp]
    check(franswers, "round %d: no FLUSH CACHE response" % r)
    if franswers:
        fa = min(franswers)
        check(fa[1] <= fl["ack"],
              "round %d: NBD flush reply (%d us) before the FLUSH CACHE "
              "response (%d us)" % (r, fl["ack"], fa[1]))
        check(first_flush[1] >= fl["submit"],
              "round %d: FLUSH CACHE before the NBD flush was sent" % r)
        print("round %2d: %2d writes acked, %4d write frames (%d "
              "unanswered, sent again), "
              "last write response rec %d < FLUSH CACHE rec %d (x%d); "
              "FLUSH response %+d us after it, NBD flush reply %+d us "
              "after the response"
              % (r, len(acked), len(wf), len(unanswered), last_wrsp[0],
                 first_flush[0], len(ff), fa[1] - first_flush[1],
                 fl["ack"] - fa[1]))
    nwf += len(wf)
    nff += len(ff)
    prev_end = fl["ack"]

print("trace: %d records; %d write frames, %d FLUSH CACHE frames in %d "
      "rounds (%d rounds with write frames sent again)"
      % (len(recs), nwf, nff, len(flushes), retx_rounds))
if bad:
    for m in bad[:20]:
        print("FLUSH ORDER VIOLATION:", m)
    sys.exit(1)
print("flush ordering: ok")
EOF

# run_flush NAME SEED: aoe-nbd with a trace, the client, the check.
run_flush()
{
	local name=$1 seed=$2 st=0 t0
	t0=$SECONDS
	start_aoe_nbd -I "$lan_if" -w 5 --dead-timeout 30 \
	    --trace "$tmpdir/$name.pcap" e1.0
	printf '+ %s client.py URI %s 12\n' "$nbd_python" "$seed"
	timeout -k 5 40 "$nbd_python" "$tmpdir/client.py" "$(nbd_uri)" \
	    "$seed" 12 "$tmpdir/$name.log" >"$tmpdir/client-$name.out" 2>&1 ||
	    st=$?
	sed 's/^/  | /' "$tmpdir/client-$name.out"
	[ "$st" = 0 ] || fail "$name: the client failed (exit $st)"
	# The trace is complete once aoe-nbd has exited.
	stop_aoe_nbd
	step "$name: client done in $((SECONDS - t0)) s; checking the trace"
	python3 "$tmpdir/check.py" "$tmpdir/$name.pcap" "$tmpdir/$name.log" ||
	    fail "$name: flush ordering violated"
}

step "clean LAN"
run_flush clean 71

step "5 % loss at every hook"
fault_loss "" "$lan_if" 5
fault_loss "$lan_ns" "$lan_tif" 5
run_flush lossy 72
fault_counters ""
fault_counters "$lan_ns"
[ "$(fault_matched "" "$lan_if" out)" -gt 0 ] ||
    fail "lossy: the rules lost nothing"
step "ok"
