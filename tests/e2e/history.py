"""A history checker for a register per key (no stale read, nothing acknowledged lost),
shared by the single-server e2e test (tests/e2e/test_history.py) and the cluster test
(tests/cluster/test_cluster.py): concurrent PUTs and GETs on a few keys, each recorded with
when it was invoked and completed and what it returned."""

import threading
import time

from botocore.exceptions import BotoCoreError, ClientError


def history_violations(ops):
    """Reads that saw a value no correct register could give: ops are (kind "w"/"r", key,
    value or None for a 404, invoked, completed or inf, ok)."""
    writes = {(o[1], o[2]): o for o in ops if o[0] == "w"}
    acked = [o for o in ops if o[0] == "w" and o[5]]
    violations = []
    for (_, key, value, r_inv, r_comp, _) in (o for o in ops if o[0] == "r" and o[5]):
        done_before = [w for w in acked if w[1] == key and w[4] < r_inv]
        if value is None:
            if done_before:
                violations.append(f"{key}: 404 at {r_inv:.3f} after {done_before[0][2]} completed")
            continue
        w = writes.get((key, value))
        if w is None:
            violations.append(f"{key}: read {value}, never written")
            continue
        if w[3] > r_comp:
            violations.append(f"{key}: read {value} before its write began")
        newer = [w2 for w2 in done_before if w2[3] > w[4]]
        if newer:
            violations.append(f"{key}: read {value} at {r_inv:.3f}, stale: {newer[0][2]} completed "
                              f"at {newer[0][4]:.3f} after it")
    return violations


def check_history_checker():
    # The checker itself finds each kind of violation, and passes a correct history.
    inf = float("inf")
    good = [("w", "k", "a", 0, 1, True), ("w", "k", "b", 2, 3, True), ("r", "k", "b", 4, 5, True),
            ("w", "k", "c", 6, inf, False), ("r", "k", "c", 7, 8, True), ("r", "k", "b", 2.5, 9, True)]
    assert history_violations(good) == [], history_violations(good)
    for bad in (("r", "k", "a", 4, 5, True), ("r", "k", "z", 4, 5, True),
                ("r", "k", None, 4, 5, True), ("r", "k", "b", 0.1, 0.2, True)):
        assert len(history_violations(good + [bad])) == 1, bad


def check_history(nodes, seconds=6.0, keys=3, threads=6, bucket="history", fault=None):
    # `nodes` holds one function per node (or one for a single server) that makes a new S3
    # client for it; each thread gets its own. Returns (acknowledged writes, reads).
    # A history checker: concurrent clients on a few keys, spread over every node, record when
    # each PUT and GET was invoked and completed and what it returned; then every read must
    # have seen the latest write completed before it began, or one concurrent with it (no
    # stale read, no read of a value never written or not yet written), and at the end every
    # node must serve the same value per key, one no acknowledged write superseded (nothing
    # acknowledged lost). A write that failed has an unknown outcome: it may be seen, never
    # required. Every fourth value is over the inline limit (a data file with copies).
    nodes[0]().create_bucket(Bucket=bucket)
    names = [f"h{k}" for k in range(keys)]
    INF = float("inf")
    ops = []  # (kind, key, value or None, invoked, completed or INF, ok)
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def body(value, n):
        return (value + "|").encode() + (b"x" * 90000 if n % 4 == 0 else b"")

    def run(tid):
        import random
        rnd = random.Random(tid)
        c = nodes[tid % len(nodes)]()
        n = 0
        while time.monotonic() < stop_at:
            key = rnd.choice(names)
            if rnd.random() < 0.5:
                n += 1
                value = f"t{tid}-{n}"
                t0 = time.monotonic()
                try:
                    c.put_object(Bucket=bucket, Key=key, Body=body(value, n))
                    rec = ("w", key, value, t0, time.monotonic(), True)
                except (ClientError, BotoCoreError):
                    rec = ("w", key, value, t0, INF, False)
            else:
                t0 = time.monotonic()
                try:
                    got = c.get_object(Bucket=bucket, Key=key)["Body"].read()
                    value = got.split(b"|", 1)[0].decode()
                    assert got == body(value, int(value.split("-")[1])), f"{key}: torn body"
                    rec = ("r", key, value, t0, time.monotonic(), True)
                except ClientError as e:
                    if (e.response.get("Error", {}).get("Code"),
                            e.response["ResponseMetadata"]["HTTPStatusCode"]) == ("NoSuchKey", 404):
                        rec = ("r", key, None, t0, time.monotonic(), True)
                    else:
                        rec = ("r", key, None, t0, INF, False)
                except BotoCoreError:
                    rec = ("r", key, None, t0, INF, False)
            with lock:
                ops.append(rec)

    ts = [threading.Thread(target=run, args=(t,), daemon=True) for t in range(threads)]
    for t in ts:
        t.start()
    fault_note = ""
    if fault is not None:
        time.sleep(seconds / 3)
        fault_note = fault(bucket)
    for t in ts:
        t.join(seconds + 60)
    violations = history_violations(ops)
    writes = {(o[1], o[2]): o for o in ops if o[0] == "w"}
    acked = [o for o in ops if o[0] == "w" and o[5]]
    reads = [o for o in ops if o[0] == "r" and o[5]]
    for key in names:
        seen = set()
        for make in nodes:
            got = make().get_object(Bucket=bucket, Key=key)["Body"].read()
            seen.add(got.split(b"|", 1)[0].decode())
        assert len(seen) == 1, f"{key}: nodes disagree: {seen}"
        final = seen.pop()
        w = writes.get((key, final))
        assert w is not None, f"{key}: final value {final} never written"
        lost = [w2 for w2 in acked if w2[1] == key and w2[3] > w[4]]
        assert not lost, f"{key}: final {final}, but acknowledged {lost[0][2]} began after it ended"
    assert not violations, f"{len(violations)} violations: {violations[:5]}"
    assert len(acked) >= 20 and len(reads) >= 20, (len(acked), len(reads))
    print(f"ok: history of {len(acked)} acknowledged writes and {len(reads)} reads on {keys} keys "
          f"over {len(nodes)} node(s){fault_note}: no stale read, nothing acknowledged lost")
    return len(acked), len(reads)
