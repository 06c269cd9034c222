"""PNG plots for the report (matplotlib, Agg backend: no display needed)."""
import os

os.environ.setdefault("MPLCONFIGDIR", "/tmp/tcpscale-mpl")

try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:  # reported by available(); the report says so
    plt = None

CPU_COLORS = {"usr": "#4c72b0", "sys": "#dd8452", "softirq": "#c44e52",
              "irq": "#8172b3", "idle": "#e5e5e5"}


def available():
    return plt is not None


def throughput_vs_cores(rows, title, unit, path, fits=None):
    """Median rate vs cores per stack, min-max bars, ideal linear scaling,
    and the USL curve of each stack that has a fit (fits: {stack: result})."""
    from . import usl
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=100)
    for stack in sorted(set(r["stack"] for r in rows)):
        pts = sorted((r["cores"], r["rate"]) for r in rows
                     if r["stack"] == stack and r["rate"]["n"])
        if not pts:
            continue
        xs = [p[0] for p in pts]
        med = [p[1]["median"] for p in pts]
        lo = [p[1]["median"] - p[1]["min"] for p in pts]
        hi = [p[1]["max"] - p[1]["median"] for p in pts]
        bars = ax.errorbar(xs, med, yerr=[lo, hi], marker="o", capsize=4,
                           label=f"{stack} (median, min-max)")
        fit = (fits or {}).get(stack)
        if fit and fit.get("ok"):
            cx, cy = usl.curve(fit, max(xs) * 1.25)
            ax.plot(cx, cy, color=bars[0].get_color(), linewidth=1,
                    label=f"{stack} USL fit")
        if xs[0] == 1 and len(xs) > 1:
            ax.plot(xs, [med[0] * x for x in xs], linestyle="--",
                    color="grey", linewidth=1, label=f"{stack} linear")
    ax.set_xlabel("server cores")
    ax.set_ylabel(unit)
    ax.set_title(title)
    ax.set_ylim(bottom=0)
    all_x = sorted(set(r["cores"] for r in rows))
    ax.set_xticks(all_x)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def cpu_per_core(per_core, title, path):
    """Stacked bars of usr/sys/softirq/irq/idle % per core."""
    fig, ax = plt.subplots(figsize=(6.4, 3.6), dpi=100)
    cores = sorted(per_core)
    bottom = [0.0] * len(cores)
    for field, color in CPU_COLORS.items():
        vals = [per_core[c].get(field, 0.0) for c in cores]
        if not any(vals):
            continue
        ax.bar([str(c) for c in cores], vals, bottom=bottom, color=color,
               label=field, edgecolor="white", linewidth=0.5)
        bottom = [b + v for b, v in zip(bottom, vals)]
    ax.set_xlabel("core")
    ax.set_ylabel("% of the measured window")
    ax.set_ylim(0, 105)
    ax.set_title(title)
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def gain_bars(groups, title, path):
    """Gain over refstack:base per feature set, grouped by core count, with
    95% CI error bars.  groups: {cores: [(label, ratio, (lo, hi) or None)]}."""
    labels = []
    for items in groups.values():
        for label, _, _ in items:
            if label not in labels:
                labels.append(label)
    fig, ax = plt.subplots(figsize=(6.4, 3.8), dpi=100)
    width = 0.8 / max(1, len(groups))
    for gi, (cores, items) in enumerate(sorted(groups.items())):
        by = {label: (r, ci) for label, r, ci in items}
        xs, ys, err = [], [], [[], []]
        for li, label in enumerate(labels):
            if label not in by or by[label][0] is None:
                continue
            r, ci = by[label]
            xs.append(li + gi * width)
            ys.append(r)
            err[0].append(r - ci[0] if ci else 0)
            err[1].append(ci[1] - r if ci else 0)
        ax.bar(xs, ys, width=width, yerr=err, capsize=3, label=f"{cores} core(s)")
    ax.axhline(1.0, color="grey", linewidth=1, linestyle="--")
    ax.set_xticks([i + width * (len(groups) - 1) / 2 for i in range(len(labels))])
    ax.set_xticklabels(labels, rotation=20, ha="right", fontsize="small")
    ax.set_ylabel("rate / refstack:base")
    ax.set_title(title)
    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
