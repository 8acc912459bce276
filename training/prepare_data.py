#!/usr/bin/env python3
"""Build the LimitNet training photo set from packages reachable offline.

Run from the repository root:

    python training/prepare_data.py --out data

Sources (see training/DATA.md): gcompris-qt-data (photos packed in Qt .rcc
resource files), desktop wallpaper packages, opencv-doc sample photos,
scikit-image and scikit-learn bundled sample photos, and the photo-only folders of
cimg-doc, tuxtype-data and tuxpaint-data.

Steps: `apt-get download` the Debian packages into OUT/.pkgs and unpack them
with `dpkg-deb -x` (no root needed), select the real photographs, drop images
whose short side is < 160 px, downscale so the short side is <= 768 px
(Lanczos), save RGB PNGs as OUT/photos/<source>__<name>.png, remove
near-duplicates with a 64-bit dHash, and write a deterministic train/val/test
split (grouped by source photo) to OUT/split.json.

Idempotent: downloaded/unpacked packages and already written photos are
reused (OUT/photos/manifest.json records what was seen).
"""
import argparse
import glob
import hashlib
import io
import json
import os
import re
import struct
import subprocess
import sys
import zlib
from collections import Counter, defaultdict

import numpy as np
from PIL import Image

MIN_SHORT = 160
MAX_SHORT = 768
DUP_HAMMING = 6      # dHash bits: <= this (and similar colours) -> same photo, dropped
DUP_COLOUR = 16.0    # mean abs difference of 8x8 RGB thumbnails (0..255)
GROUP_HAMMING = 8    # dHash bits: <= this -> kept but forced into the same split
SPLIT_SEED = "limitnet-split-v1"

DEBS = [
    "gcompris-qt-data",
    "mate-backgrounds",
    "lomiri-wallpapers-16.04",
    "lxqt-themes",
    "plasma-workspace-wallpapers",
    "palapeli-data",
    "opencv-doc",
    "cimg-doc",
    "tuxtype-data",
    "tuxpaint-data",
]

# ---------------------------------------------------------------- selection
# gcompris: folders (inside the .rcc trees) holding real photographs.
GCOMPRIS_RCC = {
    "categorization": ["categorization/resource/images/fishes/",
                       "categorization/resource/images/monuments/",
                       "categorization/resource/images/others/",
                       "categorization/resource/images/renewable/",
                       "categorization/resource/images/tools/"],
    "erase": ["erase/resource/"],
    "explore_monuments": ["explore_monuments/resource/"],
    "explore_world_animals": ["explore_world_animals/resource/animals/"],
    "explore_farm_animals": ["explore_farm_animals/resource/animals/"],
    "explore_world_music": ["explore_world_music/resource/music/"],
    "details": ["details/resource/image/"],
}
# details: only the *_background.webp photos, not the Van Gogh paintings.
DETAILS_SKIP = re.compile(r"(gogh|tanguy|auvers)", re.I)

# wallpapers: hand-checked lists of real photographs (the rest are
# illustrations, vector art, logos or textures).
WALLPAPERS = {
    "mate": ("mate-backgrounds", "usr/share/backgrounds/mate/nature",
             None),  # all of nature/ are photos; abstract/ and desktop/ are not
    "lomiri": ("lomiri-wallpapers-16.04", "usr/share/backgrounds",
               {"Bridge_by_Sander_Klootwijk", "Dragonfly_by_Bolly",
                "Picture_0B_by_freespace", "Picture_1A_by_freespace",
                "Wine_by_Jakkub_Mede", "aitzgorri_by_Aitzol_Berasategi",
                "analogpattern_by_Peter_Nerlich", "free_by_Peter_Nerlich",
                "friends_by_Aitzol_Berasategi", "greentock_by_Peter_Nerlich",
                "life_by_Aitzol_Berasategi", "picosdeeuropa_by_Aitzol_Berasategi",
                "seeding_by_Clements_Engelhardt", "sunset_by_Aitzol_Berasategi"}),
    "lxqt": ("lxqt-themes", "usr/share/lxqt/wallpapers",
             {"Butterfly-Kenneth-Wimer", "Valendas", "after-the-rain",
              "appleflower", "beam", "butterfly", "cloud", "drop", "flowers",
              "fog", "this-is-not-windows"}),
    "palapeli": ("palapeli-data", "usr/share/palapeli/collection", None),
}
PLASMA_PHOTOS = {"BytheWater", "ColdRipple", "ColorfulCups", "DarkestHour",
                 "EveningGlow", "FallenLeaf", "Grey", "Kite", "OneStandsOut",
                 "Path", "Volna", "summer_1am"}

OPENCV_PHOTOS = ["aero1.jpg", "aero3.jpg", "aloeL.jpg", "apple.jpg",
                 "baboon.jpg", "basketball1.png", "board.jpg",
                 "box_in_scene.png", "building.jpg", "butterfly.jpg",
                 "chicky_512.png", "ela_original.jpg", "fruits.jpg",
                 "graf1.png", "home.jpg", "left.jpg", "leuvenA.jpg",
                 "messi5.jpg", "orange.jpg", "rubberwhale1.png",
                 "squirrel_cls.jpg", "stuff.jpg"]
OPENCV_DATA = "usr/share/doc/opencv-doc/examples/data"

# Photo-only folders (every file a real photograph, checked on contact sheets; the
# verified list is ../shared/data-sources.md "More real photographs").
PHOTO_GLOBS = {
    "cimg": ("cimg-doc", "usr/share/doc/cimg-dev/html/img/postcard*.jpg"),
    "tuxtype": ("tuxtype-data", "usr/share/tuxtype/images/kcas*.jpg"),
    "tuxtype-theme": ("tuxtype-data", "usr/share/tuxtype/themes/*/images/photo.png"),
    "tuxpaint": ("tuxpaint-data", "usr/share/tuxpaint/templates/*.jpg"),
}
SKIMAGE_PHOTOS = ["astronaut", "coffee", "chelsea", "rocket", "camera"]


# ---------------------------------------------------------------- helpers
def log(*a):
    print(*a, flush=True)


def fetch_debs(pkgdir):
    os.makedirs(pkgdir, exist_ok=True)
    missing = [p for p in DEBS if not glob.glob(os.path.join(pkgdir, p + "_*.deb"))]
    if missing:
        log("apt-get download", *missing)
        subprocess.run(["apt-get", "download", *missing], cwd=pkgdir, check=True)
    roots = {}
    for p in DEBS:
        deb = sorted(glob.glob(os.path.join(pkgdir, p + "_*.deb")))[-1]
        dst = os.path.join(pkgdir, "x", p)
        marker = os.path.join(dst, ".extracted")
        if not os.path.exists(marker):
            log("dpkg-deb -x", os.path.basename(deb))
            os.makedirs(dst, exist_ok=True)
            subprocess.run(["dpkg-deb", "-x", deb, dst], check=True)
            open(marker, "w").write(os.path.basename(deb) + "\n")
        roots[p] = dst
    return roots


def rcc_files(path):
    """Yield (path, bytes) for every file in a Qt binary resource (.rcc)."""
    b = open(path, "rb").read()
    if b[:4] != b"qres":
        raise ValueError("not a qres file: " + path)
    ver, tree, data, names = struct.unpack(">IIII", b[4:20])
    node = 22 if ver >= 2 else 14

    def name(off):
        n, = struct.unpack(">H", b[names + off:names + off + 2])
        return b[names + off + 6:names + off + 6 + 2 * n].decode("utf-16-be")

    stack = [(0, "")]
    while stack:
        idx, prefix = stack.pop()
        o = tree + idx * node
        noff, flags = struct.unpack(">IH", b[o:o + 6])
        p = prefix + "/" + name(noff) if idx else ""
        if flags & 2:  # directory
            cnt, first = struct.unpack(">II", b[o + 6:o + 14])
            stack.extend((c, p) for c in range(first, first + cnt))
        else:
            doff, = struct.unpack(">I", b[o + 10:o + 14])
            ln, = struct.unpack(">I", b[data + doff:data + doff + 4])
            raw = b[data + doff + 4:data + doff + 4 + ln]
            if flags & 1:  # zlib, 4-byte big-endian uncompressed length first
                raw = zlib.decompress(raw[4:])
            elif flags & 4:
                raise ValueError("zstd-compressed rcc entry not supported: " + p)
            yield p, raw


def safe(s):
    s = re.sub(r"[^A-Za-z0-9._-]+", "_", s).strip("_.")
    return s[:100]


def dhash(im):
    g = im.convert("L").resize((9, 8), Image.LANCZOS)
    a = np.asarray(g, dtype=np.int16)
    bits = (a[:, 1:] > a[:, :-1]).flatten()
    return int("".join("1" if x else "0" for x in bits), 2)


def hamming(a, b):
    return bin(a ^ b).count("1")


def group_key(fname, info):
    """Normalised original file name, so that the same photo shipped in
    several folders/packages (or as crops such as X_background / X_3) shares
    one key and lands in one split."""
    stem = os.path.basename(info["origin"].split(":")[-1]).rsplit(".", 1)[0].lower()
    if info["source"] in ("skimage", "sklearn", "cimg", "tuxtype", "tuxpaint"):
        stem = fname.split("__", 1)[1].rsplit(".", 1)[0].lower()
    if info["source"] == "plasma":
        stem = os.path.basename(os.path.dirname(os.path.dirname(os.path.dirname(
            info["origin"])))).lower()
    stem = re.sub(r"_(background|\d+)$", "", stem)
    return re.sub(r"[^a-z0-9]", "", stem) or stem


def thumb(im):
    return np.asarray(im.resize((8, 8), Image.BOX), dtype=np.float32)


# ---------------------------------------------------------------- candidates
# Each candidate: (source, family, name, origin, loader) where loader()
# returns a PIL image.
def candidates(roots):
    # --- gcompris
    rccdir = os.path.join(roots["gcompris-qt-data"], "usr/share/gcompris-qt/rcc")
    for rcc, prefixes in GCOMPRIS_RCC.items():
        for p, raw in rcc_files(os.path.join(rccdir, rcc + ".rcc")):
            if not p.lower().endswith((".webp", ".jpg", ".jpeg", ".png")):
                continue
            rel = p.split("/src/activities/", 1)[-1]
            if not any(rel.startswith(x) for x in prefixes):
                continue
            base = os.path.basename(p)
            if rcc == "details" and ("_background" not in base or DETAILS_SKIP.search(base)):
                continue
            sub = rel.split("/")
            label = rcc if len(sub) <= 3 else rcc + "-" + sub[-2]
            name = safe(label + "-" + base.rsplit(".", 1)[0])
            yield ("gcompris", "gcompris", name, rcc + ".rcc:" + p,
                   (lambda r=raw: Image.open(io.BytesIO(r))))
    # --- wallpapers
    for src, (pkg, sub, allow) in WALLPAPERS.items():
        for f in sorted(glob.glob(os.path.join(roots[pkg], sub, "*"))):
            stem, ext = os.path.splitext(os.path.basename(f))
            if ext.lower() not in (".jpg", ".jpeg", ".png", ".webp"):
                continue
            if allow is not None and stem not in allow:
                continue
            yield (src, "wallpaper", safe(stem), f, (lambda f=f: Image.open(f)))
    pdir = os.path.join(roots["plasma-workspace-wallpapers"], "usr/share/wallpapers")
    for wp in sorted(PLASMA_PHOTOS):
        imgs = glob.glob(os.path.join(pdir, wp, "contents/images/*"))
        if not imgs:
            continue
        # largest landscape rendition only; the others are crops/rescales
        f = max(imgs, key=lambda x: tuple(int(v) for v in
                                          re.findall(r"\d+", os.path.basename(x))[:2]))
        yield ("plasma", "wallpaper", safe(wp), f, (lambda f=f: Image.open(f)))
    # --- opencv
    for n in OPENCV_PHOTOS:
        f = os.path.join(roots["opencv-doc"], OPENCV_DATA, n)
        if os.path.exists(f):
            yield ("opencv", "opencv", safe(os.path.splitext(n)[0]), f,
                   (lambda f=f: Image.open(f)))
    # --- photo-only folders of other packages
    for src, (pkg, pattern) in PHOTO_GLOBS.items():
        for f in sorted(glob.glob(os.path.join(roots[pkg], pattern))):
            rel = os.path.relpath(f, os.path.join(roots[pkg], pattern.split("*")[0].rsplit("/", 1)[0]))
            name = safe(os.path.splitext(rel)[0].replace("/", "-"))
            family = src.split("-")[0]
            yield (family, family, name, f, (lambda f=f: Image.open(f)))
    # --- scikit-image / scikit-learn bundled samples
    for n in SKIMAGE_PHOTOS:
        def load(n=n):
            import skimage.data
            return Image.fromarray(getattr(skimage.data, n)())
        yield ("skimage", "samples", n, "skimage.data." + n + "()", load)
    for n in ("china", "flower"):
        def load(n=n):
            from sklearn.datasets import load_sample_image
            return Image.fromarray(load_sample_image(n + ".jpg"))
        yield ("sklearn", "samples", n, "sklearn load_sample_image(%s.jpg)" % n, load)


def open_rgb(loader):
    im = loader()
    if im.mode == "P" and "transparency" in im.info:
        im = im.convert("RGBA")
    if im.mode in ("RGBA", "LA"):
        bg = Image.new("RGB", im.size, (255, 255, 255))
        bg.paste(im.convert("RGBA"), mask=im.convert("RGBA").split()[-1])
        return bg
    return im.convert("RGB")


def resize_short(im, target):
    w, h = im.size
    s = min(w, h)
    if s <= target:
        return im
    if w <= h:
        nw, nh = target, round(h * target / w)
    else:
        nw, nh = round(w * target / h), target
    return im.resize((nw, nh), Image.LANCZOS)


# ---------------------------------------------------------------- split
def make_split(manifest):
    files = sorted(manifest)
    # union-find groups: same normalised name (within a source family) or
    # dHash close enough to be a variant of the same photo
    parent = {f: f for f in files}

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(a, b):
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)

    by_key = {}
    for f in files:
        k = (manifest[f]["family"], group_key(f, manifest[f]))
        if k in by_key:
            union(by_key[k], f)
        else:
            by_key[k] = f
    hs = [(f, int(manifest[f]["dhash"], 16)) for f in files]
    for i in range(len(hs)):
        for j in range(i + 1, len(hs)):
            if hamming(hs[i][1], hs[j][1]) <= GROUP_HAMMING:
                union(hs[i][0], hs[j][0])
    groups = defaultdict(list)
    for f in files:
        groups[find(f)].append(f)

    # stratified by source family: within each family, order groups by a
    # salted hash of the group's name and give ~10% to test, ~10% to val.
    def h(s):
        return hashlib.sha1((SPLIT_SEED + s).encode()).hexdigest()

    fam_groups = defaultdict(list)
    for root, members in groups.items():
        fam_groups[manifest[root]["family"]].append(root)
    split = {"train": [], "val": [], "test": []}
    for fam, roots in sorted(fam_groups.items()):
        roots.sort(key=lambda r: h(group_key(r, manifest[r])))
        n = len(roots)
        n_eval = max(1, round(0.1 * n)) if n >= 5 else 0
        for i, r in enumerate(roots):
            s = "test" if i < n_eval else "val" if i < 2 * n_eval else "train"
            split[s].extend(groups[r])
    for s in split:
        split[s].sort()
    return split, len(groups)


# ---------------------------------------------------------------- main
def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="data")
    args = ap.parse_args()
    out = args.out
    photos = os.path.join(out, "photos")
    os.makedirs(photos, exist_ok=True)
    mpath = os.path.join(photos, "manifest.json")
    state = json.load(open(mpath)) if os.path.exists(mpath) else {}
    kept = state.get("kept", {})        # filename -> info
    rejected = state.get("rejected", {})  # filename -> reason

    roots = fetch_debs(os.path.join(out, ".pkgs"))
    vtest = os.path.join(roots["opencv-doc"], OPENCV_DATA, "vtest.avi")

    n_new = 0
    kept = {f: v for f, v in kept.items() if os.path.exists(os.path.join(photos, f))}
    hashes = [(f, int(v["dhash"], 16)) for f, v in kept.items()]
    # duplicates are re-checked on every run (cheap); size/readability cached
    rejected = {f: r for f, r in rejected.items() if not r.startswith("duplicate")}
    for source, family, name, origin, loader in candidates(roots):
        fname = "%s__%s.png" % (source, name)
        if fname in kept or fname in rejected:
            continue
        try:
            im = open_rgb(loader)
        except Exception as e:  # noqa: BLE001
            log("  cannot read %s: %s" % (origin, e))
            rejected[fname] = "unreadable: %s" % e
            continue
        w, h = im.size
        if min(w, h) < MIN_SHORT:
            rejected[fname] = "too small %dx%d" % (w, h)
            continue
        im = resize_short(im, MAX_SHORT)
        dh = dhash(im)
        dup = None
        for f, x in hashes:
            if hamming(x, dh) <= DUP_HAMMING:
                other = Image.open(os.path.join(photos, f)).convert("RGB")
                diff = float(np.abs(thumb(other) - thumb(im)).mean())
                if diff <= DUP_COLOUR:
                    dup = f
                    break
                log("  similar but kept: %s ~ %s (colour diff %.1f)" % (fname, f, diff))
        if dup:
            rejected[fname] = "duplicate of " + dup
            log("  duplicate dropped: %s ~ %s (colour diff %.1f)" % (fname, dup, diff))
            continue
        im.save(os.path.join(photos, fname), optimize=False, compress_level=6)
        kept[fname] = {"source": source, "family": family, "origin": origin,
                       "orig_size": [w, h], "size": list(im.size),
                       "dhash": "%016x" % dh}
        hashes.append((fname, dh))
        n_new += 1
        if n_new % 25 == 0:
            log("  %d new photos..." % n_new)
            json.dump({"kept": kept, "rejected": rejected}, open(mpath, "w"), indent=1)
    json.dump({"kept": kept, "rejected": rejected}, open(mpath, "w"), indent=1, sort_keys=True)

    split, ngroups = make_split(kept)
    json.dump(split, open(os.path.join(out, "split.json"), "w"), indent=1)

    # ---- report
    log("\nnew photos this run: %d; total kept: %d (%d source-photo groups)"
        % (n_new, len(kept), ngroups))
    rc = Counter(r.split(" ")[0] for r in rejected.values())
    log("rejected: " + ", ".join("%s %d" % kv for kv in sorted(rc.items())))
    where = {f: s for s, fs in split.items() for f in fs}
    per = defaultdict(Counter)
    for f, v in kept.items():
        per[v["source"]][where[f]] += 1
    log("\n%-10s %6s %6s %6s %6s" % ("source", "train", "val", "test", "total"))
    for src in sorted(per):
        c = per[src]
        log("%-10s %6d %6d %6d %6d" % (src, c["train"], c["val"], c["test"], sum(c.values())))
    log("%-10s %6d %6d %6d %6d" % ("all", len(split["train"]), len(split["val"]),
                                   len(split["test"]), len(kept)))
    log("\nphotos: %s\nsplit: %s" % (photos, os.path.join(out, "split.json")))
    log("video (not converted): %s%s" % (vtest, "" if os.path.exists(vtest) else " (missing!)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
