"""The five product categories and what sets them apart: prices, demand levels, promotions, seasons."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Category:
    name: str
    weight: float  # share of the catalog
    price: tuple[float, float]  # base unit price range (log-uniform)
    level: tuple[float, float]  # mean units per day and store (log-uniform)
    elasticity: float  # own-price elasticity of a temporary price cut
    promo_rate: float  # share of weeks a product is on promotion
    depth: tuple[float, float]  # promotion discount range
    cross: float  # demand lost per unit of the category's average competitor discount
    weekly: tuple[float, ...]  # log demand by weekday, Monday first
    yearly_amp: float
    yearly_peak: int  # day of year of the seasonal peak
    items: tuple[str, ...]
    brands: tuple[str, ...]


# fmt: off
CATEGORIES = (
    Category(
        "grocery", 0.36, (1.2, 9.0), (3.0, 30.0), -2.4, 0.12, (0.10, 0.30), 3.0,
        (-0.12, -0.15, -0.08, 0.0, 0.12, 0.28, -0.05), 0.08, 355,
        ("Coffee Beans", "Oat Milk", "Pasta", "Olive Oil", "Granola", "Tomato Sauce", "Rice", "Green Tea"),
        ("Nordvik", "Casa Bella", "Greenfield", "Sunmill"),
    ),
    Category(
        "household", 0.20, (2.0, 14.0), (1.5, 10.0), -1.8, 0.09, (0.10, 0.25), 2.0,
        (-0.05, -0.08, -0.05, 0.0, 0.05, 0.20, -0.07), 0.05, 90,
        ("Dish Soap", "Paper Towels", "Laundry Detergent", "Trash Bags", "Sponges", "Glass Cleaner"),
        ("Brightly", "HomeCo", "Purex Basics", "Tidy"),
    ),
    Category(
        "electronics", 0.14, (25.0, 400.0), (0.4, 4.0), -2.8, 0.05, (0.15, 0.35), 4.0,
        (-0.10, -0.12, -0.10, -0.05, 0.05, 0.25, 0.12), 0.30, 350,
        ("Wireless Earbuds", "Smartwatch", "Bluetooth Speaker", "Tablet", "E-Reader", "Power Bank"),
        ("Voltra", "Kairo", "Lumen", "Zentek"),
    ),
    Category(
        "apparel", 0.15, (8.0, 70.0), (0.5, 6.0), -2.0, 0.10, (0.20, 0.40), 2.0,
        (-0.15, -0.15, -0.10, -0.05, 0.10, 0.35, 0.05), 0.20, 110,
        ("T-Shirt", "Hoodie", "Jeans", "Socks", "Rain Jacket", "Sneakers"),
        ("Northline", "Urbana", "Fjell", "Cotton & Co"),
    ),
    Category(
        "personal_care", 0.15, (1.5, 15.0), (1.0, 12.0), -1.6, 0.10, (0.10, 0.30), 2.0,
        (-0.05, -0.05, -0.02, 0.0, 0.05, 0.12, -0.05), 0.15, 190,
        ("Shampoo", "Toothpaste", "Sunscreen", "Body Lotion", "Deodorant", "Hand Soap"),
        ("Pura", "Dermalis", "Freshé", "Aloa"),
    ),
)
# fmt: on
INDEX = {c.name: i for i, c in enumerate(CATEGORIES)}
ELECTRONICS = INDEX["electronics"]
