#!/usr/bin/env python3
"""Turns benchmarks/measure.sh's results into docs/perf-chart.svg and Markdown tables.

Usage: python3 benchmarks/chart.py [--results artifacts/perf/results.txt] [--output docs/perf-chart.svg] [--all]

Reads the last run in the results file (the lines after its last '# run' header; --all reads every line,
and a later line replaces an earlier one with the same row, label, size and connections). The chart shows
lock-step echo messages/s by payload size, one series per label, with the interop rows as single points.
The tables go to stdout, ready to paste into the README. Standard library only (no matplotlib here).
"""

import argparse
import math
import os
import sys
from xml.sax.saxutils import escape

SIZE_NAMES = {0: "0 B", 64: "64 B", 4096: "4 KiB", 65536: "64 KiB", 1048576: "1 MiB"}
COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf"]


def parse(path, everything):
    runs, current, header = [], [], None
    with open(path, encoding="utf-8") as f:
        for raw in f:
            line = raw.strip()
            if line.startswith("# run"):
                if current or header:
                    runs.append((header, current))
                header, current = line[2:], []
            elif line.startswith("RESULT "):
                fields = dict(part.split("=", 1) for part in line.split()[1:] if "=" in part)
                current.append(fields)
    runs.append((header, current))
    if not everything:
        return runs[-1]
    merged = {}
    for _, rows in runs:
        for r in rows:
            merged[(r.get("row"), r.get("label"), r.get("size"), r.get("connections"), r.get("pipelined"))] = r
    return (runs[-1][0], list(merged.values()))


def number(text):
    try:
        value = float(text)
    except (TypeError, ValueError):
        return math.nan
    return value


def size_name(size):
    size = int(size)
    if size in SIZE_NAMES:
        return SIZE_NAMES[size]
    if size >= 1 << 20:
        return f"{size / (1 << 20):.2f} MiB"
    return f"{size} B"


def fmt(value, decimals=0):
    if math.isnan(value):
        return "-"
    return f"{value:,.{decimals}f}"


def nice_log_ticks(low, high):
    ticks = []
    exponent = math.floor(math.log10(low))
    while 10 ** exponent <= high * 1.0001:
        for m in (1, 2, 5):
            v = m * 10 ** exponent
            if low <= v <= high:
                ticks.append(v)
        exponent += 1
    return ticks


def svg_chart(rows, header, output):
    echo = [r for r in rows if r.get("row") == "echo" and r.get("connections") == "1"]
    interop = [r for r in rows if r.get("row") == "interop"]
    sizes = sorted({int(r["size"]) for r in echo + interop})
    if not sizes:
        raise SystemExit("chart.py: no lock-step echo rows (row=echo) in the results")
    labels = []
    for r in echo + interop:
        if r["label"] not in labels:
            labels.append(r["label"])

    values = [number(r["msg_per_s"]) for r in echo + interop if number(r["msg_per_s"]) > 0]
    low = 10 ** math.floor(math.log10(min(values)))
    high = 10 ** math.ceil(math.log10(max(values)))

    width, height = 860, 520
    left, right, top, bottom = 90, 230, 60, 70
    plot_w, plot_h = width - left - right, height - top - bottom

    def x_of(size):
        i = sizes.index(size)
        return left + plot_w * (i + 0.5) / len(sizes)

    def y_of(value):
        return top + plot_h * (1 - (math.log10(value) - math.log10(low)) / (math.log10(high) - math.log10(low)))

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        'font-family="Helvetica, Arial, sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{left + plot_w / 2}" y="24" text-anchor="middle" font-size="16" font-weight="bold">'
        "Lock-step echo, one connection: round trips per second</text>",
        f'<text x="{left + plot_w / 2}" y="42" text-anchor="middle" fill="#555">{escape(header or "")}</text>',
    ]
    for tick in nice_log_ticks(low, high):
        y = y_of(tick)
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" stroke="#e5e5e5"/>')
        out.append(f'<text x="{left - 8}" y="{y + 4:.1f}" text-anchor="end">{fmt(tick)}</text>')
    out.append(f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#333"/>')
    for size in sizes:
        x = x_of(size)
        out.append(f'<line x1="{x:.1f}" y1="{top + plot_h}" x2="{x:.1f}" y2="{top + plot_h + 5}" stroke="#333"/>')
        out.append(f'<text x="{x:.1f}" y="{top + plot_h + 20}" text-anchor="middle">{size_name(size)}</text>')
    out.append(f'<text x="{left + plot_w / 2}" y="{height - 20}" text-anchor="middle">payload size (log scale, as categories)</text>')
    out.append(f'<text transform="translate(24 {top + plot_h / 2}) rotate(-90)" text-anchor="middle">'
               "messages/s (round trips, log scale)</text>")

    # Per size, the best series' label goes above its point and the others' below, so they never overlap.
    best = {}
    for r in echo:
        v = number(r["msg_per_s"])
        if v > best.get(int(r["size"]), (0, None))[0]:
            best[int(r["size"])] = (v, r["label"])

    singles = 0
    for i, label in enumerate(labels):
        color = COLORS[i % len(COLORS)]
        points = sorted((int(r["size"]), number(r["msg_per_s"])) for r in echo + interop if r["label"] == label)
        points = [(s, v) for s, v in points if v > 0]
        coords = [(x_of(s), y_of(v), v) for s, v in points]
        if len(coords) == 1:
            # Interop points share the 64 B column with the series: set them apart, left and right.
            shift = -26 if singles % 2 == 0 else 26
            singles += 1
            coords = [(x + shift, y, v) for x, y, v in coords]
        if len(coords) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y, _ in coords)
            out.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2"/>')
        for x, y, v in coords:
            shape = (f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{color}"/>' if len(coords) > 1 else
                     f'<rect x="{x - 4:.1f}" y="{y - 4:.1f}" width="8" height="8" fill="{color}"/>')
            out.append(shape)
            if len(coords) == 1:
                # Beside the point, on its outer side, clear of the series' own labels.
                left_side = singles % 2 == 1
                anchor, tx = ("end", x - 7) if left_side else ("start", x + 7)
                out.append(f'<text x="{tx:.1f}" y="{y + 4:.1f}" text-anchor="{anchor}" fill="{color}">{fmt(v)}</text>')
                continue
            size = next(sz for sz, val in points if x_of(sz) == x and val == v)
            dy = -9 if best.get(size, (0, None))[1] == label else 17
            out.append(f'<text x="{x:.1f}" y="{y + dy:.1f}" text-anchor="middle" fill="{color}">{fmt(v)}</text>')
        ly = top + 10 + i * 22
        out.append(f'<rect x="{left + plot_w + 20}" y="{ly}" width="14" height="14" fill="{color}"/>')
        out.append(f'<text x="{left + plot_w + 40}" y="{ly + 11}">{escape(label)}</text>')
    out.append(f'<text x="{left + plot_w + 20}" y="{top + 10 + len(labels) * 22 + 16}" fill="#555">'
               "squares: 64 B interop only</text>")
    out.append("</svg>")
    os.makedirs(os.path.dirname(output) or ".", exist_ok=True)
    with open(output, "w", encoding="utf-8") as f:
        f.write("\n".join(out) + "\n")


def tables(rows, header):
    print(f"<!-- {header} -->")
    print()
    echo = {(r["label"], int(r["size"])): r for r in rows if r.get("row") == "echo" and r.get("connections") == "1"}
    sizes = sorted({size for _, size in echo})
    if sizes:
        print("| lock-step echo, 1 connection | ours msg/s | rawpeer msg/s | ours / rawpeer | ours MB/s | rawpeer MB/s | ours p50 µs | ours p99 µs |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for size in sizes:
            o, c = echo.get(("ours", size), {}), echo.get(("rawpeer", size), {})
            ratio = number(o.get("msg_per_s")) / number(c.get("msg_per_s")) if c and o else math.nan
            print(f"| {size_name(size)} | {fmt(number(o.get('msg_per_s')))} | {fmt(number(c.get('msg_per_s')))} | "
                  f"{fmt(ratio * 100)}% | {fmt(number(o.get('mb_per_s')), 1)} | {fmt(number(c.get('mb_per_s')), 1)} | "
                  f"{fmt(number(o.get('p50_us')), 1)} | {fmt(number(o.get('p99_us')), 1)} |")
        print()

    print("| row | label | mode | size | conns | pipelined | msg/s | MB/s | p50 µs | p99 µs | notes |")
    print("|---|---|---|---:|---:|---|---:|---:|---:|---:|---|")
    standard = {"label", "row", "mode", "size", "connections", "pipelined", "messages", "seconds",
                "msg_per_s", "mb_per_s", "p50_us", "p99_us"}
    for r in rows:
        notes = ", ".join(f"{k}={v}" for k, v in r.items() if k not in standard)
        print(f"| {r.get('row', '')} | {r.get('label', '')} | {r.get('mode', '')} | {size_name(r.get('size', 0))} | "
              f"{r.get('connections', '')} | {r.get('pipelined', '')} | {fmt(number(r.get('msg_per_s')))} | "
              f"{fmt(number(r.get('mb_per_s')), 1)} | {fmt(number(r.get('p50_us')), 1)} | "
              f"{fmt(number(r.get('p99_us')), 1)} | {notes} |")


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", default=os.path.join(root, "artifacts", "perf", "results.txt"))
    parser.add_argument("--output", default=os.path.join(root, "docs", "perf-chart.svg"))
    parser.add_argument("--all", action="store_true", help="merge every run in the file, later lines winning")
    args = parser.parse_args()
    if not os.path.exists(args.results):
        sys.exit(f"chart.py: {args.results} not found; run benchmarks/measure.sh first")
    header, rows = parse(args.results, args.all)
    if not rows:
        sys.exit(f"chart.py: no RESULT lines in the last run of {args.results}")
    svg_chart(rows, header, args.output)
    tables(rows, header)
    print(f"\nwrote {os.path.relpath(args.output)}", file=sys.stderr)


if __name__ == "__main__":
    main()
