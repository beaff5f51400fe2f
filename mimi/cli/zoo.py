"""``mimi zoo``: list the shipped models with their recipes and measured accuracies."""

from __future__ import annotations

import json

from mimi.models import zoo


def register(sub) -> None:
    p = sub.add_parser("zoo", help="list the model zoo")
    p.add_argument("--json", action="store_true", help="print the model cards as JSON")
    p.add_argument("--measure", action="store_true",
                   help="re-measure each card's reference accuracies (gallery, first 1000 test images) and save them")
    p.set_defaults(run=run)


def run(args) -> int:
    if args.measure:
        for name in zoo.names(registered=False):
            model, meta = zoo.load(name)
            meta.setdefault("evaluation", {}).update(zoo.reference_accuracies(model))
            zoo.write_card(meta)
            print(f"{name}: gallery {meta['evaluation']['gallery_accuracy']:.2%}", flush=True)
    cards = [zoo.card(name) for name in zoo.names()]
    if args.json:
        print(json.dumps(cards, indent=2))
        return 0
    print(f"{'model':<18} {'recipe':<10} {'clean':>7} {'PGD-20':>7}  description")
    for c in cards:
        ev = c.get("evaluation", {})
        clean = f"{100 * ev['clean_accuracy']:.2f}" if "clean_accuracy" in ev else "-"
        robust = f"{100 * ev['pgd20_accuracy']:.2f}" if "pgd20_accuracy" in ev else "-"
        recipe = c.get("training", {}).get("recipe", "registered" if "registered" in c else "-")
        print(f"{c['name']:<18} {recipe:<10} {clean:>7} {robust:>7}  {c.get('description', '')}")
    return 0
