"""The bundled sample shop: a small, seeded, synthetic catalog and event log.

It exists so ``shoplm`` can be tried (and tested) with no data of one's own: ~300 items in
8 categories with English titles, and ~150 users whose events carry learnable signal --
each user prefers one or two categories, items have bestsellers, and buying a product often
leads to buying its complements (a smartphone, then a case). Every name is made up.

``python -m shoplm.datasets.sample`` rewrites the shipped files byte for byte.
"""

from __future__ import annotations

import argparse
import atexit
import csv
import io
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from random import Random

SEED = 20240301
N_USERS = 150
START = datetime(2024, 3, 1, tzinfo=UTC).timestamp()
DAYS = 60
ITEM_COLUMNS = ("item_id", "title", "description", "brand", "category", "price", "color")
EVENT_COLUMNS = ("user_id", "item_id", "type", "timestamp", "session_id")
SAMPLE_DIR = "sample"
ITEMS_FILE = "items.csv"
EVENTS_FILE = "events.csv"


@dataclass(frozen=True)
class _Noun:
    """A kind of product: the words that fit it and its price range."""

    name: str
    features: tuple[str, ...]
    variants: tuple[str, ...]
    price: tuple[int, int]
    colors: tuple[str, ...] | None = None  # None: the category's colors


@dataclass(frozen=True)
class _Category:
    """How items of one category are named and described."""

    path: str
    count: int
    title: str  # format with brand, series, num, noun, feature, variant, color
    brands: tuple[str, ...]
    series: tuple[str, ...]
    colors: tuple[str, ...]
    nouns: tuple[_Noun, ...]
    sentences: tuple[str, ...]  # description sentences: fields, lowercased *_l, feature_c


_PHONE = (
    ("6.1-inch OLED", "6.7-inch AMOLED", "Dual SIM", "Triple Camera", "120 Hz Display"),
    ("128 GB", "256 GB", "512 GB"),
)
_LAPTOP = (
    ("13.3-inch", "14-inch", "15.6-inch", "16-inch"),
    ("8 GB RAM 256 GB SSD", "16 GB RAM 512 GB SSD", "32 GB RAM 1 TB SSD"),
)
_GEAR = ("Men's", "Women's", "Unisex")

_CATEGORIES: tuple[_Category, ...] = (
    _Category(
        path="Phones > Smartphones",
        count=36,
        title="{brand} {series} {num} {noun}, {feature}, {variant}, {color}",
        brands=("Nordvik", "Lumora", "Altair", "Kestrel"),
        series=("Nova", "Edge", "Pulse", "Zen", "Orbit"),
        colors=("Black", "Silver", "Blue", "Green", "Graphite"),
        nouns=(
            _Noun("Smartphone", *_PHONE, price=(249, 899)),
            _Noun("5G Smartphone", *_PHONE, price=(329, 1099)),
            _Noun("Android Phone", *_PHONE, price=(199, 699)),
            _Noun("Camera Phone", *_PHONE, price=(449, 1199)),
            _Noun("Compact Phone", *_PHONE, price=(199, 599)),
        ),
        sentences=(
            "{brand}'s {noun_l} with {feature} and {variant} of storage.",
            "Unlocked and ready for any carrier; a USB-C cable is in the box.",
            "The all-day battery and fast processor handle photos, streaming and video calls.",
            "Finished in {color_l} with a glass back and an aluminium frame.",
            "Night mode and optical stabilisation keep low-light photos sharp.",
        ),
    ),
    _Category(
        path="Phones > Accessories",
        count=40,
        title="{brand} {feature} {noun} {variant} - {color}",
        brands=("Shieldon", "Voltix", "Gripwell", "Nordvik"),
        series=("",),
        colors=("Black", "White", "Navy", "Red"),
        nouns=(
            _Noun(
                "Phone Case",
                ("Shockproof", "Slim", "Magnetic", "Leather-Look"),
                ("for 6.1-inch Phones", "for 6.7-inch Phones"),
                (9, 39),
                ("Black", "Clear", "Red", "Navy", "Sage Green"),
            ),
            _Noun(
                "Screen Protector",
                ("Tempered Glass", "Privacy", "Anti-Glare"),
                ("2-Pack", "3-Pack"),
                (7, 24),
                ("Clear",),
            ),
            _Noun(
                "USB-C Charger",
                ("Fast", "65W", "Dual-Port", "Compact"),
                ("with 1 m Cable", "Travel Edition"),
                (15, 59),
            ),
            _Noun(
                "Wireless Charging Pad",
                ("Magnetic", "15W Fast", "Slim"),
                ("with Stand", "Travel Edition"),
                (19, 49),
            ),
            _Noun(
                "Car Phone Mount", ("Magnetic", "Air Vent", "Dashboard"), ("Universal",), (12, 35)
            ),
            _Noun("Charging Cable", ("Braided", "Fast-Charge"), ("1 m", "2 m", "2-Pack"), (8, 22)),
            _Noun(
                "Power Bank",
                ("Slim", "Fast-Charge", "Magnetic"),
                ("10000 mAh", "20000 mAh"),
                (19, 69),
            ),
        ),
        sentences=(
            "{feature_c} {noun_l} by {brand} ({variant_l}).",
            "Protects and powers your smartphone through every day.",
            "Colour: {color_l}. Works with most recent phones.",
            "Backed by an 18-month warranty.",
        ),
    ),
    _Category(
        path="Laptops",
        count=30,
        title="{brand} {series} {num} {feature} {noun}, {variant}, {color}",
        brands=("Altair", "Corvex", "Lumora", "Tessel"),
        series=("Book", "Air", "Pro", "Flex", "Studio"),
        colors=("Silver", "Space Grey", "Black"),
        nouns=(
            _Noun("Laptop", *_LAPTOP, price=(449, 1399)),
            _Noun("Ultrabook", *_LAPTOP, price=(799, 1999)),
            _Noun("Gaming Laptop", *_LAPTOP, price=(999, 2299)),
            _Noun("2-in-1 Laptop", *_LAPTOP, price=(549, 1499)),
            _Noun("Notebook", *_LAPTOP, price=(399, 999)),
        ),
        sentences=(
            "A {feature} {noun_l} from {brand} with {variant}.",
            "The backlit keyboard and large touchpad make long work sessions comfortable.",
            "Up to 14 hours of battery life and charging over USB-C.",
            "A bright anti-glare screen and a full-HD webcam for video meetings.",
            "Its {color_l} aluminium body weighs under 1.8 kg.",
        ),
    ),
    _Category(
        path="Audio > Headphones",
        count=40,
        title="{brand} {series} {noun} {variant}, {feature}, {color}",
        brands=("Sonique", "Auralis", "Kestrel", "Beatline"),
        series=("Air", "Studio", "Go", "Quiet", "Flow"),
        colors=("Black", "White", "Midnight Blue", "Rose"),
        nouns=(
            _Noun(
                "Wireless Earbuds",
                ("Bluetooth 5.3", "Active Noise Cancelling", "IPX5 Waterproof", "30-Hour Battery"),
                ("with Charging Case", "Lite", "Pro"),
                (29, 249),
            ),
            _Noun(
                "Over-Ear Headphones",
                ("Bluetooth 5.3", "40-Hour Battery", "Foldable"),
                ("Studio Edition", "with Microphone"),
                (49, 299),
            ),
            _Noun(
                "Noise Cancelling Headphones",
                ("Active Noise Cancelling", "Bluetooth 5.3", "Foldable"),
                ("Pro", "with Travel Case"),
                (99, 349),
            ),
            _Noun(
                "Sport Earbuds",
                ("IPX7 Waterproof", "Bluetooth 5.3", "Secure-Fit"),
                ("with Ear Hooks", "Lite"),
                (25, 149),
            ),
            _Noun(
                "On-Ear Headphones",
                ("Bluetooth 5.3", "Foldable", "Lightweight"),
                ("with Microphone", "Kids Edition"),
                (19, 129),
            ),
            _Noun(
                "Wired Earphones",
                ("3.5 mm", "USB-C", "In-Line Remote"),
                ("with Microphone", "2-Pack"),
                (9, 39),
            ),
        ),
        sentences=(
            "{brand} {noun_l}: {feature_l}, {variant_l}.",
            "Deep bass, clear mids and a built-in microphone for calls.",
            "Pairs instantly with phones, tablets and laptops.",
            "Soft cushions keep them comfortable for hours; finished in {color_l}.",
            "Touch controls for music, calls and your voice assistant.",
        ),
    ),
    _Category(
        path="Kitchen > Coffee",
        count=40,
        title="{brand} {feature} {noun}, {variant}, {color}",
        brands=("Barista & Co", "Morning Mill", "Crema", "Brewhaus"),
        series=("",),
        colors=("Stainless", "Black", "Red", "Cream"),
        nouns=(
            _Noun(
                "Espresso Machine",
                ("Stainless Steel", "Compact", "Barista", "Dual Boiler"),
                ("15-Bar", "20-Bar"),
                (129, 649),
            ),
            _Noun(
                "Drip Coffee Maker",
                ("Programmable", "Thermal", "Classic"),
                ("12-Cup", "10-Cup"),
                (29, 149),
            ),
            _Noun(
                "Coffee Grinder",
                ("Burr", "Electric", "Manual"),
                ("Conical", "40 Settings"),
                (19, 229),
            ),
            _Noun(
                "French Press", ("Stainless Steel", "Glass", "Classic"), ("1 L", "350 ml"), (14, 49)
            ),
            _Noun(
                "Milk Frother",
                ("Electric", "Handheld", "Automatic"),
                ("with Whisk", "300 ml"),
                (12, 89),
            ),
            _Noun(
                "Whole Bean Coffee",
                ("Medium Roast", "Dark Roast", "Espresso Roast", "Single Origin"),
                ("500 g", "1 kg"),
                (9, 34),
                ("",),
            ),
            _Noun(
                "Pour-Over Kettle",
                ("Gooseneck", "Electric", "Temperature Control"),
                ("1 L", "0.8 L"),
                (25, 129),
            ),
        ),
        sentences=(
            "{feature_c} {noun_l} from {brand} ({variant_l}).",
            "For rich, full-bodied coffee at home every morning.",
            "Easy to clean and built to last.",
            "Pairs well with freshly ground medium or dark roast beans.",
        ),
    ),
    _Category(
        path="Home > Lighting",
        count=35,
        title="{brand} {feature} {noun}, {variant}, {color}",
        brands=("Lumora", "Glowhaus", "Lightfield", "Nordvik"),
        series=("",),
        colors=("White", "Black", "Brass", "Oak"),
        nouns=(
            _Noun(
                "LED Desk Lamp",
                ("Dimmable", "Touch Control", "Adjustable"),
                ("with USB Port", "Clamp-On"),
                (19, 79),
            ),
            _Noun(
                "Floor Lamp", ("Dimmable", "Arc", "Tripod"), ("E27", "with Foot Switch"), (39, 189)
            ),
            _Noun(
                "Smart Bulb",
                ("Wi-Fi", "Colour-Changing", "Warm White"),
                ("E27", "2-Pack", "4-Pack"),
                (9, 59),
                ("White",),
            ),
            _Noun("Pendant Light", ("Rattan", "Glass", "Metal"), ("E27", "40 cm"), (29, 149)),
            _Noun(
                "String Lights",
                ("Warm White", "Solar", "Outdoor"),
                ("10 m", "20 m"),
                (12, 45),
                ("Warm White", "Multicolour"),
            ),
            _Noun(
                "Bedside Lamp",
                ("Touch Control", "Dimmable", "Ceramic"),
                ("with USB Port", "Set of 2"),
                (19, 89),
            ),
        ),
        sentences=(
            "{feature_c} {noun_l} by {brand} ({variant_l}).",
            "Energy-efficient LEDs rated for 25,000 hours.",
            "Soft, even light for reading, working or relaxing.",
            "Ships with a printed installation and care guide.",
        ),
    ),
    _Category(
        path="Sports > Running",
        count=44,
        title="{brand} {series} {variant} {feature} {noun}, {color}",
        brands=("Stridex", "Peakrun", "Kestrel", "Fleetfoot"),
        series=("Tempo", "Glide", "Trail", "Sprint", "Ultra"),
        colors=("Black", "Neon Yellow", "Blue", "Red", "Grey"),
        nouns=(
            _Noun("Running Shoes", ("Lightweight", "Cushioned", "Breathable"), _GEAR, (59, 179)),
            _Noun("Trail Running Shoes", ("Waterproof", "Grippy", "Cushioned"), _GEAR, (79, 199)),
            _Noun("Running Socks", ("Cushioned", "Breathable", "Compression"), _GEAR, (9, 25)),
            _Noun("Running Jacket", ("Waterproof", "Reflective", "Windproof"), _GEAR, (49, 159)),
            _Noun("Hydration Vest", ("Lightweight", "Breathable"), ("Unisex",), (39, 119)),
            _Noun(
                "GPS Running Watch", ("Lightweight", "Solar", "Heart Rate"), ("Unisex",), (129, 399)
            ),
            _Noun("Running Shorts", ("Lightweight", "Breathable", "Reflective"), _GEAR, (19, 55)),
        ),
        sentences=(
            "{brand} {noun_l}: {feature_l} and built for daily miles.",
            "Tested by runners on road and trail.",
            "Reflective details keep you visible after dark; colour: {color_l}.",
            "Quick-drying materials and a secure, comfortable fit.",
        ),
    ),
    _Category(
        path="Books",
        count=35,
        title="{series}: {noun} ({variant})",
        brands=("Harbor Press", "Quillstone", "Brightpage"),
        series=(
            "Espresso at Home",
            "The Marathon Method",
            "Trail Running Basics",
            "Smartphone Photography",
            "Python for Beginners",
            "Lighting Your Home",
            "The Quiet Harbour",
            "Letters from Lisbon",
            "Mediterranean Kitchen",
            "Northern Lights",
        ),
        colors=("",),
        nouns=tuple(
            _Noun(name, ("",), ("Paperback", "Hardcover", "Ebook"), (7, 45))
            for name in (
                "A Practical Guide",
                "The Complete Handbook",
                "Illustrated Edition",
                "Second Edition",
            )
        ),
        sentences=(
            "{series}, published by {brand} ({variant_l}).",
            "Clear chapters, worked examples and plenty of illustrations.",
            "A bestseller recommended by readers and reviewers alike.",
            "Includes a foreword by the author and an index.",
        ),
    ),
)

# Buying an item with this noun (or series, for books) often leads to buying one of these.
_COMPLEMENTS: dict[str, tuple[str, ...]] = {
    "Smartphone": ("Phone Case", "Screen Protector", "USB-C Charger"),
    "5G Smartphone": ("Phone Case", "Screen Protector", "Wireless Charging Pad"),
    "Android Phone": ("Phone Case", "Charging Cable", "Power Bank"),
    "Camera Phone": ("Phone Case", "Screen Protector", "Smartphone Photography"),
    "Compact Phone": ("Phone Case", "Car Phone Mount"),
    "Laptop": ("Wireless Earbuds", "LED Desk Lamp", "Python for Beginners"),
    "Ultrabook": ("Noise Cancelling Headphones", "USB-C Charger"),
    "Gaming Laptop": ("Over-Ear Headphones",),
    "2-in-1 Laptop": ("Wireless Earbuds", "USB-C Charger"),
    "Notebook": ("LED Desk Lamp", "Wired Earphones"),
    "Wireless Earbuds": ("USB-C Charger", "Power Bank"),
    "Sport Earbuds": ("GPS Running Watch", "Running Shorts"),
    "Espresso Machine": ("Whole Bean Coffee", "Milk Frother", "Coffee Grinder"),
    "Drip Coffee Maker": ("Whole Bean Coffee", "Coffee Grinder"),
    "French Press": ("Whole Bean Coffee", "Coffee Grinder"),
    "Pour-Over Kettle": ("Whole Bean Coffee", "Espresso at Home"),
    "Coffee Grinder": ("Whole Bean Coffee",),
    "Running Shoes": ("Running Socks", "Running Shorts", "The Marathon Method"),
    "Trail Running Shoes": ("Running Socks", "Hydration Vest", "Trail Running Basics"),
    "GPS Running Watch": ("Sport Earbuds", "Running Shorts"),
    "Smart Bulb": ("String Lights", "LED Desk Lamp"),
    "Floor Lamp": ("Smart Bulb",),
    "Pendant Light": ("Smart Bulb",),
    "Espresso at Home": ("Espresso Machine", "Coffee Grinder"),
    "The Marathon Method": ("Running Shoes", "GPS Running Watch"),
}


_KEEP_CASE = {"Android", "Bluetooth", "Hz"}


def _lower(text: str) -> str:
    """Lowercase ordinary words for mid-sentence use; keep acronyms, units and names."""
    words = []
    for word in text.split(" "):
        parts = word.split("-")
        plain = all(
            len(p) > 1 and p[0].isupper() and not any(c.isupper() or c.isdigit() for c in p[1:])
            for p in parts
        )
        words.append(word.lower() if plain and word not in _KEEP_CASE else word)
    return " ".join(words)


def _fmt(template: str, fields: dict[str, str]) -> str:
    lowered = {f"{k}_l": _lower(v) for k, v in fields.items()}
    lowered["feature_c"] = lowered["feature_l"][:1].upper() + lowered["feature_l"][1:]
    text = " ".join(template.format(**fields, **lowered).split())
    text = text.replace(" ,", ",").replace(", ,", ",").replace("()", "").replace(" .", ".")
    return text.strip(" ,-")


def _make_items(rng: Random) -> tuple[list[dict[str, str]], list[str]]:
    """Catalog rows plus each item's complement key (noun or book series)."""
    rows: list[dict[str, str]] = []
    keys: list[str] = []
    for category in _CATEGORIES:
        titles: set[str] = set()
        while len(titles) < category.count:
            noun = rng.choice(category.nouns)
            fields = {
                "brand": rng.choice(category.brands),
                "series": rng.choice(category.series),
                "num": str(rng.randint(2, 9)),
                "noun": noun.name,
                "feature": rng.choice(noun.features),
                "variant": rng.choice(noun.variants),
                "color": rng.choice(noun.colors or category.colors),
            }
            title = _fmt(category.title, fields)
            if title in titles:
                continue
            titles.add(title)
            # The first sentence names the product; two more add colour.
            chosen = [category.sentences[0], *rng.sample(category.sentences[1:], 2)]
            price = rng.randint(*noun.price) - 0.01
            rows.append(
                {
                    "item_id": f"P{len(rows) + 1:04d}",
                    "title": title,
                    "description": " ".join(_fmt(s, fields) for s in chosen),
                    "brand": fields["brand"],
                    "category": category.path,
                    "price": f"{price:.2f}",
                    "color": fields["color"],
                }
            )
            keys.append(fields["series"] if category.path == "Books" else noun.name)
    return rows, keys


@dataclass
class _Shop:
    """Catalog indices the event simulation draws from."""

    by_category: list[list[int]]  # category -> item indices
    popularity: list[float]  # item -> weight (a few bestsellers per category)
    partners: list[list[int]]  # item -> complement item indices


def _shop(rng: Random, rows: list[dict[str, str]], keys: list[str]) -> _Shop:
    paths = [c.path for c in _CATEGORIES]
    by_category = [[i for i, r in enumerate(rows) if r["category"] == p] for p in paths]
    popularity = [0.0] * len(rows)
    for members in by_category:
        order = members[:]
        rng.shuffle(order)
        for rank, index in enumerate(order, start=1):
            popularity[index] = 1.0 / rank**0.8
    by_key: dict[str, list[int]] = {}
    for index, key in enumerate(keys):
        by_key.setdefault(key, []).append(index)
    partners = []
    for key in keys:
        pool = [i for k in _COMPLEMENTS.get(key, ()) for i in by_key.get(k, [])]
        partners.append(rng.sample(pool, min(2, len(pool))) if pool else [])
    return _Shop(by_category, popularity, partners)


def _weighted(rng: Random, indices: list[int], weights: list[float]) -> int:
    return rng.choices(indices, weights=[weights[i] for i in indices])[0]


def _session(rng: Random, shop: _Shop, category: int, start: float) -> list[tuple[str, int, float]]:
    """One visit: browse a category, maybe buy, maybe add a complement. (type, item, time)."""
    events: list[tuple[str, int, float]] = []
    now = start

    def emit(kind: str, item: int) -> None:
        nonlocal now
        now += rng.randint(15, 240)
        events.append((kind, item, now))

    seen: list[int] = []
    for _ in range(rng.randint(1, 4)):
        item = _weighted(rng, shop.by_category[category], shop.popularity)
        if item in seen:
            continue
        seen.append(item)
        emit("view", item)
        if rng.random() < 0.45:
            emit("click", item)
    if seen and rng.random() < 0.45:
        item = seen[-1] if rng.random() < 0.6 else rng.choice(seen)
        emit("add_to_cart", item)
        if rng.random() < 0.7:
            emit("purchase", item)
            if shop.partners[item] and rng.random() < 0.6:
                partner = rng.choice(shop.partners[item])
                emit("view", partner)
                emit("add_to_cart", partner)
                if rng.random() < 0.8:
                    emit("purchase", partner)
    return events


def _make_events(rng: Random, shop: _Shop) -> list[dict[str, str]]:
    """Users with 1-2 favourite categories visit over 60 days; sessions never overlap."""
    sessions: list[tuple[float, str, list[tuple[str, int, float]]]] = []
    n_categories = len(_CATEGORIES)
    for number in range(1, N_USERS + 1):
        user_id = f"U{number:03d}"
        liked = rng.sample(range(n_categories), 1 if rng.random() < 0.55 else 2)
        weights = [0.15 / n_categories] * n_categories
        for category in liked:
            weights[category] += 0.85 / len(liked)
        starts = sorted(rng.uniform(0, DAYS * 86_400 - 7_200) for _ in range(rng.randint(2, 7)))
        free_at = 0.0
        for offset in starts:
            start = max(START + offset, free_at + 1_800)
            category = rng.choices(range(n_categories), weights=weights)[0]
            events = _session(rng, shop, category, start)
            sessions.append((start, user_id, events))
            free_at = events[-1][2] if events else start
    sessions.sort(key=lambda s: (s[0], s[1]))
    timed: list[tuple[float, str, int, dict[str, str]]] = []
    for number, (_, user_id, events) in enumerate(sessions, start=1):
        for kind, item, stamp in events:
            row = {
                "user_id": user_id,
                "item_id": f"P{item + 1:04d}",
                "type": kind,
                "timestamp": datetime.fromtimestamp(int(stamp), UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "session_id": f"S{number:04d}",
            }
            timed.append((stamp, user_id, len(timed), row))
    timed.sort(key=lambda t: t[:3])
    return [row for *_, row in timed]


def generate_sample(seed: int = SEED) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """(item rows, event rows) of the sample shop; the same seed gives the same rows."""
    rng = Random(seed)
    items, keys = _make_items(rng)
    events = _make_events(rng, _shop(rng, items, keys))
    return items, events


def _csv_text(columns: tuple[str, ...], rows: list[dict[str, str]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def write_sample(out_dir: str | Path, seed: int = SEED) -> tuple[Path, Path]:
    """Write items.csv and events.csv into ``out_dir``; returns their paths."""
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    items, events = generate_sample(seed)
    items_path, events_path = folder / ITEMS_FILE, folder / EVENTS_FILE
    items_path.write_bytes(_csv_text(ITEM_COLUMNS, items).encode("utf-8"))
    events_path.write_bytes(_csv_text(EVENT_COLUMNS, events).encode("utf-8"))
    return items_path, events_path


_RESOURCES = ExitStack()
atexit.register(_RESOURCES.close)


def sample_paths() -> tuple[Path, Path]:
    """(items.csv, events.csv) of the sample shipped inside the package."""
    folder = resources.files("shoplm.datasets").joinpath(SAMPLE_DIR)
    paths = []
    for name in (ITEMS_FILE, EVENTS_FILE):
        resource = folder.joinpath(name)
        # A zipped install has no real path: extract to a temp file kept until exit.
        path = resource if isinstance(resource, Path) else None
        paths.append(path or _RESOURCES.enter_context(resources.as_file(resource)))
    return paths[0], paths[1]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Regenerate the bundled sample shop.")
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).resolve().parent / SAMPLE_DIR,
        help="folder to write items.csv and events.csv (default: the package's sample/)",
    )
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)
    for path in write_sample(args.out, args.seed):
        print(path)


if __name__ == "__main__":
    main()
