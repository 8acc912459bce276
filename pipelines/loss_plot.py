"""The loss experiment's plot (docs/loss.png): mean PSNR and EfficientNet-Lite0 top-1 agreement
against packet loss, for each way of sending, at 51- and 222-byte payloads.

    training/.venv/bin/python pipelines/loss_plot.py OUT [docs/loss.png]

Reads OUT/results.csv (examples/loss_experiment.rs) and OUT/agreement.csv
(pipelines/loss_agreement.py, seed 0 images).
"""

import csv
import sys
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

LOSSES = ["bern00", "bern05", "bern10", "bern20", "bern30"]
X = [0, 5, 10, 20, 30]
WAYS = [
    ("packets", "packets (interleave=1)"),
    ("interleaved", "packets (interleave=8)"),
    ("protected", "packets, first 1024 B sent twice (protect=1024)"),
    ("zeros", "packets, lost values zero"),
    ("prefix", "one-prefix frame"),
    ("rtpjpeg", "RTP JPEG, same bytes"),
]
EFFNET = "EfficientNet-Lite0 (never used in training)"


def main():
    out = sys.argv[1]
    target = sys.argv[2] if len(sys.argv) > 2 else "docs/loss.png"
    psnr = defaultdict(list)
    for r in csv.DictReader(open(f"{out}/results.csv")):
        psnr[(r["way"], int(r["payload"]), r["loss"])].append(float(r["psnr"]))
    # The summary's first line: "... loss-free frame cut at 1024 bytes: 21.22 dB."
    summary = open(f"{out}/summary.md").readline()
    cut1024 = float(summary.rsplit(":", 1)[1].split()[0])
    agree = {}
    for r in csv.DictReader(open(f"{out}/agreement.csv")):
        if r["classifier"] == EFFNET:
            agree[r["condition"]] = float(r["agree1"])
    fig, axes = plt.subplots(2, 2, figsize=(11, 8))
    for col, payload in enumerate([51, 222]):
        for way, label in WAYS:
            ys = [sum(v) / len(v) if (v := psnr.get((way, payload, loss))) else None for loss in LOSSES]
            if any(y is not None for y in ys):
                axes[0][col].plot(X, ys, marker="o", label=label)
            # Lost RTP JPEG frames have no image: loss_agreement.py counts them as disagreeing.
            ys = [agree.get(f"{way}_{payload}_{loss}") for loss in LOSSES]
            if any(y is not None for y in ys):
                axes[1][col].plot(X, ys, marker="o", label=label)
        axes[0][col].set_title(f"{payload}-byte payloads")
        axes[0][col].set_ylabel("mean PSNR (dB)")
        axes[1][col].set_ylabel("EfficientNet-Lite0 top-1 agreement")
        axes[1][col].set_xlabel("packets lost at random (%)")
        for ax in axes[:, col]:
            ax.grid(alpha=0.3)
    for ax in axes[0]:
        ax.axhline(cut1024, color="grey", linestyle="--", label="no loss, frame cut at 1024 bytes")
    axes[0][1].legend(fontsize=8)
    fig.suptitle("LimitNet (limitnet-lite) under packet loss: 20 held-out photos + 20 clip frames")
    fig.tight_layout()
    fig.savefig(target, dpi=90)
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
