"""``mimi precompute``: fill the store of precomputed dashboard results (:mod:`mimi.core.store`).

It drives the real pages, so that what it stores has exactly the keys a visitor's request has: each page of
:data:`PAGES` runs through Streamlit's AppTest with the gallery image, models A and B and the attack protocol in
its URL, everything else at its default, with ``MIMI_PRECOMPUTE_RECORD=1`` (every result computed is written to
the store) and no confirmation step. Results already in the store are read, not computed, so a run that stopped
resumes where it was. Per-image pages run for every image, model pair and protocol; gallery-level pages once per
model pair and protocol.
"""

from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path

from mimi.cli import CommandError
from mimi.cli.common import add_out_dir, add_zoo_dir, resolve_zoo_dir
from mimi.core import store
from mimi.core.store import STORE_DIR
from mimi.models import zoo
from mimi.models.cards import ZOO_DIR_ENV
from mimi.models.zoo import default_models

ROOT = Path(__file__).resolve().parents[2]
#: The pages whose defaults compute (url path -> "image": per gallery image, "gallery": over gallery images).
#: A page that is not here and not in :data:`NOT_PRECOMPUTED` makes the command warn; a listed page whose
#: script does not exist (yet) is skipped.
PAGES = {"attack": "image", "interactions": "image", "pairs": "image", "detection": "image", "recovery": "image",
         "lesson": "image", "disentanglement": "gallery", "defenses": "gallery"}
#: Pages that compute nothing per image at their defaults (they read shipped files, or only cards).
NOT_PRECOMPUTED = ("", "study", "models")
PROTOCOLS = ("strength", "eps")
DEFAULT_IMAGES = "0,10,20,30,40,50,60,70,80,90"


def register(sub) -> None:
    p = sub.add_parser("precompute", help="fill the store of precomputed dashboard results (assets/precomputed)",
                       description="Run the dashboard's pages at their defaults for the chosen gallery images, model "
                                   "pairs and attack protocols, and store every result they compute, so that the "
                                   "dashboard answers these requests at once. Resumable: stored results are reused.")
    p.add_argument("--images", default=DEFAULT_IMAGES,
                   help="gallery indices and ranges, e.g. 0-9 or 0,10,20 (default: the first image of each class, "
                        "%(default)s)")
    p.add_argument("--models", default="all",
                   help="comma-separated zoo models, paired in turn as models A and B (the default pair first), "
                        "or 'all' (default): every model of the shipped zoo")
    p.add_argument("--protocols", default=",".join(PROTOCOLS), help="attack protocols (default %(default)s)")
    p.add_argument("--pages", default=",".join(PAGES), help="pages by URL path (default: %(default)s; a page "
                                                           "without a script yet is skipped)")
    add_out_dir(p, STORE_DIR, "store folder")
    p.add_argument("--query", default="", metavar="KEY=VALUE,...",
                   help="other settings as URL parameters, e.g. grid=4x4,samples=8 (default: none, every page at "
                        "its defaults)")
    p.add_argument("--timeout", type=float, default=3600, help="seconds one page run may take (default %(default)s)")
    add_zoo_dir(p)
    p.set_defaults(run=run)


def parse_indices(text: str, total: int = 100) -> list[int]:
    """Gallery indices from ``0-9``, ``0,10,20`` or ``0-4,10-14``, in the order given."""
    indices: list[int] = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        low, _, high = part.partition("-")
        if not low.isdigit() or (high and not high.isdigit()):
            raise CommandError(f"--images takes indices and ranges such as 0-9 or 0,10,20; got {text!r}")
        indices.extend(range(int(low), int(high or low) + 1))
    if not indices or any(i >= total for i in indices) or len(set(indices)) != len(indices):
        raise CommandError(f"--images {text!r}: give distinct indices in 0..{total - 1}")
    return indices


def parse_query(text: str) -> dict[str, str]:
    """``grid=4x4,samples=8`` as a dict; the image, models and protocol are the command's own options."""
    query = {}
    for part in (p.strip() for p in text.split(",") if p.strip()):
        key, sep, value = part.partition("=")
        if not sep or not key.strip() or key.strip() in ("img", "a", "b", "protocol"):
            raise CommandError(f"--query takes KEY=VALUE pairs other than img, a, b and protocol; got {part!r}")
        query[key.strip()] = value.strip()
    return query


def pairs(names: list[str]) -> list[tuple[str, str]]:
    """Models A and B in turn so that each model is A or B once: the dashboard's default pair first; an odd
    model out is paired with the first model (whose results are then read from the store)."""
    first = [n for n in default_models(names) if n is not None]
    order = first + [n for n in names if n not in first]
    if len(order) < 2:
        raise CommandError("--models: give at least two models (models A and B)")
    if len(order) % 2:
        order.append(order[0])
    return list(zip(order[0::2], order[1::2]))


def app_pages() -> list[str]:
    """The url paths of app.py's pages (the home page as "")."""
    text = (ROOT / "app.py").read_text()
    paths = [match.group(1) for match in re.finditer(r'url_path="([^"]*)"', text)]
    return [""] + paths if "default=True" in text else paths


def run_page(path: str, query: dict[str, str], timeout: float) -> tuple[float, list[str]]:
    """(seconds, problems) of one AppTest run of page ``views/<path>.py`` with ``query`` in its URL."""
    from streamlit.testing.v1 import AppTest  # deferred: Streamlit loads only when this command runs

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=timeout)
    for key, value in query.items():
        at.query_params[key] = value
    start = time.perf_counter()
    at.switch_page(f"views/{path}.py")
    at.run()
    seconds = time.perf_counter() - start
    problems = [str(e.value)[:300] for e in at.exception] + [str(e.value)[:300] for e in at.error]
    problems += [f"waits for a button: {b.label}" for b in at.button if b.label.startswith("Run it")]
    return seconds, problems


def store_size(folder: Path) -> tuple[int, int]:
    """(files, bytes) of a store folder."""
    files = list(folder.glob("*/*.json.gz"))
    return len(files), sum(p.stat().st_size for p in files)


def run(args) -> int:
    zoo_dir = resolve_zoo_dir(args)
    available = zoo.names(zoo_dir, registered=False)
    names = available if args.models.strip() == "all" else [n.strip() for n in args.models.split(",") if n.strip()]
    unknown = [n for n in names if n not in available]
    if unknown:
        raise CommandError(f"unknown model {unknown[0]!r}; the zoo has: {', '.join(available) or '(nothing)'}")
    images, query = parse_indices(args.images), parse_query(args.query)
    protocols = [p.strip() for p in args.protocols.split(",") if p.strip()]
    if not protocols or set(protocols) - set(PROTOCOLS):
        raise CommandError(f"--protocols {args.protocols!r}: choose among {', '.join(PROTOCOLS)}")
    pages = [p.strip().strip("/") for p in args.pages.split(",") if p.strip()]
    if set(pages) - set(PAGES):
        raise CommandError(f"--pages {args.pages!r}: choose among {', '.join(PAGES)}")
    for path in app_pages():
        if path not in PAGES and path not in NOT_PRECOMPUTED:
            print(f"warning: page /{path} of app.py is not in mimi.cli.precompute.PAGES: add it there", file=sys.stderr)
    missing = [p for p in pages if not (ROOT / "views" / f"{p}.py").exists()]
    if missing:
        print(f"skipping pages without a script: {', '.join('/' + p for p in missing)}", file=sys.stderr)
    pages = [p for p in pages if p not in missing]

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    os.environ.update({store.DIR_ENV: str(out), store.RECORD_ENV: "1", ZOO_DIR_ENV: str(zoo_dir)})
    runs = [(image, a, b, protocol, path) for protocol in protocols for a, b in pairs(names)
            for path in pages if PAGES[path] == "gallery" for image in images[:1]]
    runs += [(image, a, b, protocol, path) for image in images for protocol in protocols for a, b in pairs(names)
             for path in pages if PAGES[path] == "image"]
    start, failed = time.perf_counter(), 0
    for done, (image, a, b, protocol, path) in enumerate(runs, 1):
        before = dict(store.counts)
        seconds, problems = run_page(path, {**query, "img": str(image), "a": a, "b": b, "protocol": protocol},
                                     args.timeout)
        failed += bool(problems)
        stored = {k: store.counts[k] - before[k] for k in before}
        print(f"[{done}/{len(runs)}] image {image} · {a} / {b} · {protocol} · /{path}: {stored['saved']} computed and "
              f"stored, {stored['hits']} read from the store, {seconds:.1f} s", flush=True)
        for problem in problems:
            print(f"    problem: {problem}", file=sys.stderr, flush=True)
        if stored["refused"]:
            print(f"    {stored['refused']} result(s) not stored: no exact JSON round trip (see the log)",
                  file=sys.stderr, flush=True)
    files, size = store_size(out)
    print(f"{len(runs)} page runs in {time.perf_counter() - start:.0f} s; the store {out} holds {files} results, "
          f"{size / 2**20:.2f} MiB")
    return 1 if failed else 0
