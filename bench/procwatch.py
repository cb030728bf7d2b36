#!/usr/bin/python3
"""CPU, RSS and threads of named processes over a window, from /proc.

    procwatch.py OUT_FILE [--interval S] NAME=PID | NAME=tree:PID ...

Takes a snapshot at start (then writes OUT_FILE.ready), samples VmRSS and
Threads of every plain NAME=PID every --interval seconds (default 0.1), and
on SIGTERM/SIGINT takes the end snapshot and writes OUT_FILE as key=value
lines:

    elapsed_ms=...                 wall time of the window
    cpu_ms.NAME=...                utime+stime spent in the window
    cpu_ms.machine=...             non-idle CPU time of the whole machine
                                   (user+nice+system+irq+softirq+steal, all cores)
    rss_peak_kb.NAME=...           highest sampled VmRSS (plain PIDs only)
    rss_end_kb.NAME=...  threads_peak.NAME=...  threads_end.NAME=...

NAME=tree:PID counts PID and its children (PostgreSQL's postmaster and its
backends): PID's own time plus what it reaped (cutime+cstime) plus the
children alive at each snapshot, so backends that exit in the window count.

    procwatch.py smaps PID [N]

Prints the N (default 10) largest contributors to PID's RSS from
/proc/PID/smaps on one line, `name:kB,...`: each file by its base name (all
its mappings summed), `[heap]`, `[stack]`, and `[anon]` for the other
anonymous mappings (thread stacks, malloc arenas, librdkafka's buffers).
"""
import os
import signal
import sys
import time

TICK_MS = 1000.0 / os.sysconf("SC_CLK_TCK")


def stat_fields(pid):
    """Fields of /proc/PID/stat after the command name (index 0 = state)."""
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()


def own_ticks(pid, reaped=False):
    f = stat_fields(pid)
    ticks = int(f[11]) + int(f[12])  # utime, stime
    if reaped:
        ticks += int(f[13]) + int(f[14])  # cutime, cstime
    return ticks


def children(pid):
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if int(stat_fields(entry)[1]) == pid:
                    out.append(int(entry))
            except (OSError, IndexError):
                pass
    return out


def ticks_of(spec):
    tree, pid = spec
    try:
        total = own_ticks(pid, reaped=tree)
    except OSError:
        return None
    if tree:
        for child in children(pid):
            try:
                total += own_ticks(child)
            except OSError:
                pass  # exited between listing and reading: reaped into cutime
    return total


def machine_ticks():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal (guest is inside user)
    return v[0] + v[1] + v[2] + v[5] + v[6] + (v[7] if len(v) > 7 else 0)


def status_of(pid):
    rss = threads = None
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
                elif line.startswith("Threads:"):
                    threads = int(line.split()[1])
    except OSError:
        pass
    return rss, threads


def smaps(pid, n):
    """The n largest RSS contributors of pid, as one `name:kB,...` line."""
    totals = {}
    name = None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            first = line.split(None, 1)[0]
            if not first.endswith(":"):  # a mapping's header line
                fields = line.split()
                path = fields[5] if len(fields) > 5 else ""
                if path.startswith("/"):
                    name = os.path.basename(path)
                elif path.startswith("["):
                    name = path if path in ("[heap]", "[stack]") else "[other]"
                else:
                    name = "[anon]"
            elif first == "Rss:":
                totals[name] = totals.get(name, 0) + int(line.split()[1])
    ranked = sorted(totals.items(), key=lambda kv: -kv[1])[:n]
    print(",".join(f"{k}:{v}" for k, v in ranked))


def main():
    args = sys.argv[1:]
    if not args:
        sys.exit(__doc__)
    if args[0] == "smaps":
        smaps(int(args[1]), int(args[2]) if len(args) > 2 else 10)
        return
    out = args.pop(0)
    interval = 0.1
    if args and args[0] == "--interval":
        interval = float(args[1])
        args = args[2:]
    specs = {}
    for arg in args:
        name, _, value = arg.partition("=")
        tree = value.startswith("tree:")
        specs[name] = (tree, int(value[5:] if tree else value))

    start = {name: ticks_of(spec) for name, spec in specs.items()}
    machine_start = machine_ticks()
    t0 = time.monotonic()
    peak_rss, peak_threads = {}, {}
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
    signal.signal(signal.SIGINT, lambda *_: stopping.append(1))
    with open(out + ".ready", "w") as f:
        f.write("ready\n")

    def sample():
        for name, (tree, pid) in specs.items():
            if tree:
                continue
            rss, threads = status_of(pid)
            if rss is not None:
                peak_rss[name] = max(peak_rss.get(name, 0), rss)
            if threads is not None:
                peak_threads[name] = max(peak_threads.get(name, 0), threads)

    while not stopping:
        sample()
        time.sleep(interval)
    sample()
    elapsed_ms = (time.monotonic() - t0) * 1000.0
    machine_ms = (machine_ticks() - machine_start) * TICK_MS
    lines = [f"elapsed_ms={elapsed_ms:.1f}", f"cpu_ms.machine={machine_ms:.0f}"]
    for name, spec in specs.items():
        end = ticks_of(spec)
        if start[name] is not None and end is not None:
            lines.append(f"cpu_ms.{name}={(end - start[name]) * TICK_MS:.0f}")
        if not spec[0]:
            rss, threads = status_of(spec[1])
            if name in peak_rss:
                lines.append(f"rss_peak_kb.{name}={peak_rss[name]}")
            if rss is not None:
                lines.append(f"rss_end_kb.{name}={rss}")
            if name in peak_threads:
                lines.append(f"threads_peak.{name}={peak_threads[name]}")
            if threads is not None:
                lines.append(f"threads_end.{name}={threads}")
    with open(out + ".tmp", "w") as f:
        f.write("\n".join(lines) + "\n")
    os.rename(out + ".tmp", out)


if __name__ == "__main__":
    main()
