"""Tables (markdown, also printed) and the chart of bench/run.py's results (not a benchmark)."""
import statistics

import cases

BASELINE = "tiled serial"
MIB = 2 ** 20


def _median(values):
    return statistics.median(values) if values else None


def _baseline(rows, row):
    for r in rows:
        if (r["mode"], r["case"], r.get("compression"), r["method"]) == \
                (row["mode"], row["case"], row.get("compression"), BASELINE) and r["seconds"]:
            return _median(r["seconds"])
    return None


def speedups(rows, mode, compression=None):
    """[(case, method, median s, speed-up vs tiled serial, row)] for ``mode``."""
    out = []
    for r in rows:
        if r["mode"] != mode or (compression and r.get("compression") != compression):
            continue
        t, base = _median(r["seconds"]), _baseline(rows, r)
        out.append((r["case"], r["method"], t, base / t if t and base else None, r))
    return out


def _fmt(v, spec, suffix=""):
    return "n/a" if v is None else f"{v:{spec}}{suffix}"


def _check(r):
    ok, text = r.get("check") or (None, "")
    return ("" if ok is None else "OK " if ok else "**DIFFERS** ") + text


def markdown(rows, info):
    n = info["repeat"]
    lines = [
        "# Tilewise benchmark",
        "",
        f"{info['date']}, {info['cpus']} CPUs, Python {info['python']}, inputs "
        f"{info['size']} x {info['size']} px, median of {n} run{'s' if n != 1 else ''} "
        f"(1-minute load average at the end: {info['load']:.2f}). Speed-up = time of the "
        f"best tiled serial run (the engine's own filters on tiles in one process, best of a "
        f"few tile sizes) / time of the method: > 1 is faster. Figures are ratios measured "
        f"side by side in one run; nothing is asserted.",
        "",
        "Cases: " + "; ".join(f"`{c.name}` {c.title} ({c.data})" for c in cases.CASES) + ".",
        "",
        "## Compute-only (data in memory)",
        "",
        "| case | method | median s | speed-up | check against the whole-image reference |",
        "|---|---|---:|---:|---|",
    ]
    for case, method, t, sp, r in speedups(rows, "compute"):
        label = method + (f" (tile {r['tile'] or 'auto'})" if method == BASELINE else "")
        lines.append(f"| {case} | {label} | {_fmt(t, '.3f')} | {_fmt(sp, '.2f', 'x')} | "
                     f"{_check(r)} |")
    sweeps = [(r["case"], r["sweep"]) for r in rows if r.get("sweep")]
    if sweeps:
        lines += ["", "Tiled serial, median s by tile size (auto = the engine's choice): " +
                  "; ".join(f"{c}: " + ", ".join(f"{t or 'auto'} {s:.3f}" for t, s in sw.items())
                            for c, sw in sweeps) + "."]
    compressions = list(dict.fromkeys(r["compression"] for r in rows if r["mode"] == "file"))
    for comp in compressions:
        lines += ["", f"## File to file, compression {comp}", "",
                  "Each method in its own process: read, compute, write. Peak memory: the "
                  "largest sum of PSS over the process tree (shared memory counted once).", "",
                  "| case | method | median s | speed-up | peak memory | input | output | check |",
                  "|---|---|---:|---:|---:|---:|---:|---|"]
        for case, method, t, sp, r in speedups(rows, "file", comp):
            peak = _median(r["peak"])
            lines.append(
                f"| {case} | {method} | {_fmt(t, '.2f')} | {_fmt(sp, '.2f', 'x')} | "
                f"{_fmt(peak and peak / MIB, '.0f', ' MiB')} | "
                f"{_fmt(r.get('in_bytes', 0) / MIB, '.0f', ' MiB')} | "
                f"{_fmt(r.get('out_bytes') and r['out_bytes'] / MIB, '.0f', ' MiB')} | "
                f"{_check(r)} |")
    if info["skipped"]:
        lines += ["", "Peers not run: " + "; ".join(info["skipped"]) + "."]
    return "\n".join(lines) + "\n"


def chart(rows, info, path):
    """Grouped bars of speed-ups vs tiled serial: compute-only, and file to file per compression."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    panels = [("compute-only", speedups(rows, "compute"))]
    for comp in dict.fromkeys(r["compression"] for r in rows if r["mode"] == "file"):
        panels.append((f"file to file, {comp}", speedups(rows, "file", comp)))
    panels = [p for p in panels if p[1]]
    fig, axes = plt.subplots(len(panels), 1, figsize=(11, 3.6 * len(panels)), squeeze=False)
    for ax, (title, data) in zip(axes[:, 0], panels):
        names = list(dict.fromkeys(d[0] for d in data))
        methods = [m for m in dict.fromkeys(d[1] for d in data) if m != BASELINE]
        width = 0.8 / max(1, len(methods))
        for j, m in enumerate(methods):
            xs, ys = [], []
            for i, c in enumerate(names):
                v = next((d[3] for d in data if d[0] == c and d[1] == m), None)
                if v:
                    xs.append(i + (j - (len(methods) - 1) / 2) * width)
                    ys.append(v)
            ax.bar(xs, ys, width, label=m)
        ax.axhline(1.0, color="black", linewidth=0.8)
        ax.set_xticks(range(len(names)), names)
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}x"))
        ax.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: f"{v:g}x" if v in (0.5, 2, 3, 5) else ""))
        ax.set_ylabel("speed-up vs tiled serial")
        ax.set_title(f"{title} ({info['size']} px, median of {info['repeat']}, {info['cpus']} CPUs)")
        ax.legend(fontsize=7, ncol=4)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
