#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# FLUSH semantics, proven from the wire: aoe-rw --mode flush writes, flushes
# once half of the writes are acknowledged, writes more while the flush is
# in flight, and logs every submission and completion with its time; the
# --trace pcap shows what went out and came back.  Each FLUSH CACHE must go
# out only after every write acknowledged before the flush was submitted
# had all its responses, each write's completion must come after its
# responses, and the flush completion after the FLUSH response.  Once on a
# clean LAN, once with 5 % loss at every hook (retransmitted writes and
# flushes).
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/fault-functions.sh"
requires_root
requires nft python3 truncate aoe-rw

setup_lan 1500
truncate -s 16M "$tmpdir/disk.img"
start_vblade 1 0 "$tmpdir/disk.img" -b 64

# check_trace NAME: compare $tmpdir/NAME.log (aoe-rw's events) with
# $tmpdir/NAME.pcap (its trace).
check_trace()
{
	python3 - "$tmpdir/$1.pcap" "$tmpdir/$1.log" <<'EOF'
import os, sys
sys.path.insert(0, os.path.join(os.environ["top_srcdir"], "tests"))
from aoetrace import read_pcap, ata_frames

pcap, logf = sys.argv[1], sys.argv[2]

# --- the trace: (index, time in us, frame)
recs = read_pcap(pcap, nanosecond=False)

sends = {}      # tag -> [(index, kind, lba, scnt)] requests sent with it
frames = {}     # write frame (first LBA) -> {"tags", "scnt", "answered"}
flush_sends = []  # (index, us, tag)
rsp_of_tag = {}   # tag -> index of the first response
for idx, us, rsp, tag, aflags, scnt, cmd, lba in ata_frames(recs):
    if not rsp:
        if cmd in (0xe7, 0xea):
            flush_sends.append((idx, us, tag))
            sends.setdefault(tag, []).append((idx, "flush", 0, 0))
        elif aflags & 0x01:
            fr = frames.setdefault(lba, {"tags": [], "scnt": scnt,
                                         "answered": None})
            fr["tags"].append(tag)
            sends.setdefault(tag, []).append((idx, "write", lba, scnt))
    elif tag in sends and tag not in rsp_of_tag:
        rsp_of_tag[tag] = (idx, us)

for lba, fr in frames.items():
    got = [rsp_of_tag[t] for t in fr["tags"] if t in rsp_of_tag]
    fr["answered"] = min(got) if got else None

# --- the log: events in program order
events = []
for n, line in enumerate(open(logf)):
    w = line.split()
    sec, nsec = w[0].split(".")
    events.append((n, int(sec) * 1000000 + int(nsec) // 1000, w[1],
                   [int(x) for x in w[2:]]))

writes = {}   # id -> {"lba", "count", "submit", "done", "rc"}
flushes = {}  # id -> {"submit", "done", "rc", "line"}
for n, us, ev, a in events:
    if ev == "write_submit":
        writes[a[0]] = {"lba": a[1], "count": a[2], "submit": n,
                        "done": None, "done_us": None}
    elif ev == "write_done":
        writes[a[0]].update(done=n, done_us=us, rc=a[1])
    elif ev == "flush_submit":
        flushes[a[0]] = {"submit": n, "submit_us": us}
    elif ev == "flush_done":
        flushes[a[0]].update(done=n, done_us=us, rc=a[1])

bad = []
def check(cond, msg):
    if not cond:
        bad.append(msg)

# Every write: its frames cover it, each was answered, and the completion
# came after the last of those answers.
wlast = {}
for wid, w in writes.items():
    check(w["done"] is not None and w.get("rc") == 0,
          "write %d did not complete with success" % wid)
    covered, last = 0, None
    for lba in range(w["lba"], w["lba"] + w["count"]):
        fr = frames.get(lba)
        if fr is None:
            continue
        covered += fr["scnt"]
        if fr["answered"] is None:
            check(False, "write %d: frame at LBA %d never answered"
                  % (wid, lba))
            continue
        if last is None or fr["answered"] > last:
            last = fr["answered"]
    check(covered == w["count"], "write %d: frames cover %d of %d sectors"
          % (wid, covered, w["count"]))
    wlast[wid] = last
    if last is not None and w["done_us"] is not None:
        check(last[1] <= w["done_us"],
              "write %d completed (%d us) before its last response (%d us)"
              % (wid, w["done_us"], last[1]))

# Every flush: which FLUSH frames are its own (sent between its submission
# and completion), and the three orderings.
retx = sum(1 for fr in frames.values() if len(fr["tags"]) > 1)
not_waited = 0
for fid in sorted(flushes):
    fl = flushes[fid]
    check(fl.get("rc") == 0, "flush %d did not succeed" % fid)
    mine = [s for s in flush_sends
            if fl["submit_us"] <= s[1] <= fl["done_us"]]
    check(mine, "flush %d: no FLUSH frame in the trace" % fid)
    if not mine:
        continue
    first = mine[0]
    acked = [wid for wid, w in writes.items()
             if w["done"] is not None and w["done"] < fl["submit"]]
    pending = [wid for wid, w in writes.items()
               if w["submit"] < fl["submit"] and wid not in acked]
    for wid in acked:
        last = wlast.get(wid)
        check(last is not None and last[0] < first[0],
              "flush %d: FLUSH sent (record %d) before the last response "
              "of write %d acknowledged earlier (record %s)"
              % (fid, first[0], wid, last and last[0]))
    for wid in pending:
        last = wlast.get(wid)
        if last is not None and last[0] > first[0]:
            not_waited += 1
    answers = [rsp_of_tag[s[2]] for s in mine if s[2] in rsp_of_tag]
    check(answers, "flush %d: no FLUSH response in the trace" % fid)
    if answers:
        ans = min(answers)
        check(ans[1] <= fl["done_us"],
              "flush %d completed (%d us) before the FLUSH response (%d us)"
              % (fid, fl["done_us"], ans[1]))
    print("flush %d: %d writes acknowledged before it, all answered "
          "before the FLUSH went out; %d FLUSH frame(s) sent; %d writes "
          "in flight at its submission" % (fid, len(acked), len(mine),
                                            len(pending)))

print("trace: %d records, %d write frames (%d sent more than once), "
      "%d FLUSH frames; %d writes, %d flushes in the log"
      % (len(recs), len(frames), retx, len(flush_sends), len(writes),
         len(flushes)))
print("writes in flight at a flush answered after the FLUSH went out "
      "(allowed: not acknowledged yet): %d" % not_waited)
if bad:
    for m in bad[:20]:
        print("FLUSH ORDER VIOLATION:", m)
    sys.exit(1)
print("flush ordering: ok")
EOF
}

# run_flush NAME SEED: aoe-rw --mode flush with its log and trace, checked.
run_flush()
{
	local name=$1 seed=$2 st=0 t0
	t0=$SECONDS
	run_rw "$tmpdir/rw-$name.log" -I "$lan_if" --mode flush --rounds 12 \
	    --seed "$seed" --dead-timeout 30 --log "$tmpdir/$name.log" \
	    --trace "$tmpdir/$name.pcap" e1.0 || st=$?
	step "$name: aoe-rw exited with $st after $((SECONDS - t0)) s"
	[ "$st" = 0 ] || fail "$name: aoe-rw --mode flush failed (exit $st)"
	check_trace "$name" || fail "$name: flush ordering violated"
}

step "clean LAN"
run_flush clean 61

step "5 % loss at every hook"
fault_loss "" "$lan_if" 5
fault_loss "$lan_ns" "$lan_tif" 5
run_flush lossy 62
fault_counters ""
fault_counters "$lan_ns"
step "ok"
