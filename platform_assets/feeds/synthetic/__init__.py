"""A deterministic retail feed with the structure a demand forecaster must learn, and a drift switch.

Prices and promotions are chain-wide per product and day; demand is per product, store and day:

    log mu = level + store + weekly(category, product) + yearly(category) + trend
             + elasticity * log(price / regular price) + promo display lift
             - cross-price effect (competitors of the category on promotion)
             + electronics life cycle (ramp-up after launch, then decay)

Units are negative-binomial counts drawn by inverse CDF from uniforms drawn up front, and every
random stream comes from its own child of the seed, so a row depends only on inputs up to its own
day: the drift switch, which acts from `drift_from` on, cannot move a single row before it.

    config.py      SynthConfig: what to generate
    categories.py  the five categories' price, demand and promotion parameters
    catalog.py     products, suppliers and each product's parameters
    prices.py      regular and paid prices, the promotion calendar
    demand.py      mean units per product, store and day
    drift.py       who drifts and how (demand, price)
    history.py     the skeleton per configuration and the observation rows of any window
    feed.py        SyntheticFeed, the Feed over all of it
"""
