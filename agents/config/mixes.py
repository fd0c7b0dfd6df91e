"""The grammar of `offline.mix`: `behaviour:share` items (agents/data/mixes.py says what each
behaviour is and how a mix assigns episodes). Here, below the data room, so the config's
checks can parse a mix without loading the data code."""

from __future__ import annotations

import re

_TOKEN = re.compile(r"^(random|expert|noise(\d+)):([0-9]*\.?[0-9]+(?:e-?\d+)?)$")


def parse(mix: tuple[str, ...]) -> list[tuple[str, float]]:
    """[(behaviour, normalised share)]; ValueError with one line on a bad item."""
    if not mix:
        raise ValueError("offline.mix is empty: give behaviour:share items, e.g. "
                         "random:0.1,noise1000:0.9")
    items: list[tuple[str, float]] = []
    for item in mix:
        m = _TOKEN.match(item.strip())
        if not m:
            raise ValueError(f"bad offline.mix item {item!r}: expected behaviour:share with "
                             "behaviour random, expert or noise<P> (P: percent) and share > 0")
        share = float(m.group(3))
        if share <= 0:
            raise ValueError(f"offline.mix item {item!r}: its share must be > 0")
        items.append((m.group(1), share))
    names = [b for b, _ in items]
    if len(set(names)) < len(names):
        raise ValueError(f"offline.mix names a behaviour twice: {','.join(mix)}")
    total = sum(s for _, s in items)
    return [(b, s / total) for b, s in items]
