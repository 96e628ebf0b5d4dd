-- The complete period grid per series, from its first actual to the global last actual period:
-- units are 0 where nothing was sold, and null (is_missing) in periods its store has no accepted
-- actual at all (int_observed_periods: the source was quarantined or ignored, so nothing is known)
-- and in periods whose only actuals were excluded as implausible (int_observations: a 1e300 is not
-- a day without sales) or refused at ingest (int_refused_periods: a row with units 'N/A', or with no
-- units in a file of actuals, is not a day without sales); price carries the last known price forward.
-- Incremental: a run rebuilds the grid from its first period to the end (a price carried forward
-- reaches past the run's months; the grid's end moves), seeded with the price each series carried
-- into that period; the pre-hook also drops rows past a global last actual that moved back, and the
-- rows of products that left the catalog.
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['product_id', 'store_id', 'period_date'],
        pre_hook="{% if is_incremental() %}delete from {{ this }} where period_date >= {{ grid_refresh_start() }}
            or period_date > (select max(last_actual_date) from {{ ref('int_series') }})
            or product_id not in (select product_id from {{ ref('int_series') }}){% endif %}",
        post_hook="{{ analyze_on_postgres() }}",
    )
}}
with bounds as (
    select
        {%- if is_incremental() %}
        greatest(min(first_date), {{ grid_refresh_start() }}) as lo,
        {%- else %}
        min(first_date) as lo,
        {%- endif %}
        max(last_actual_date) as hi
    from {{ ref('int_series') }}
),

spine as (
    {{ period_spine('bounds', 'lo', 'hi') }}
),

grid as (
    select s.product_id, s.store_id, p.period_date
    from {{ ref('int_series') }} as s
    inner join spine as p on p.period_date >= s.first_date
),

covered as (
    select c.store_id, c.period_date
    from {{ ref('int_observed_periods') }} as c
    {%- if is_incremental() %}
    where c.period_date >= (select lo from bounds)
    {%- endif %}
),

sales as (
    select o.*
    from {{ ref('int_sales_by_period') }} as o
    {%- if is_incremental() %}
    where o.period_date >= (select lo from bounds)
    {%- endif %}
),

-- series-periods with an actual kept out as implausible (products out of the catalog have no grid)
excluded as (
    select distinct x.product_id, x.store_id, x.period_date
    from {{ ref('int_observations') }} as x
    where x.is_actual and x.exclusion_reason is not null
    {%- if is_incremental() %}
      and x.period_date >= (select lo from bounds)
    {%- endif %}
),

-- series-periods with a row refused at ingest or without its target (placed by its parsed keys)
refused as (
    select r.product_id, r.store_id, r.period_date
    from {{ ref('int_refused_periods') }} as r
    {%- if is_incremental() %}
    where r.period_date >= (select lo from bounds)
    {%- endif %}
),

{% if is_incremental() -%}
-- The price each series carries into the rebuilt periods: its grid row just before them.
carried as (
    select t.product_id, t.store_id, t.price
    from {{ this }} as t
    where t.period_date = (select {{ period_add('lo', -1) }} from bounds)
),

{% endif -%}
joined as (
    select
        g.product_id,
        g.store_id,
        g.period_date,
        o.units_sold,
        o.price,
        o.on_promo,
        o.product_id is not null as is_observed,
        v.store_id is null
        or (o.product_id is null and (x.product_id is not null or r.product_id is not null)) as is_missing,
        -- a new group starts at every known price: the group's only non-null price fills it
        count(o.price) over (
            partition by g.product_id, g.store_id order by g.period_date rows unbounded preceding
        ) as price_group
    from grid as g
    left join sales as o
        on g.product_id = o.product_id and g.store_id = o.store_id and g.period_date = o.period_date
    left join covered as v
        on g.store_id = v.store_id and g.period_date = v.period_date
    left join excluded as x
        on g.product_id = x.product_id and g.store_id = x.store_id and g.period_date = x.period_date
    left join refused as r
        on g.product_id = r.product_id and g.store_id = r.store_id and g.period_date = r.period_date
)

select
    j.product_id,
    j.store_id,
    j.period_date,
    case when not j.is_missing then coalesce(j.units_sold, 0) end as units_sold,
    {%- if is_incremental() %}
    -- group 0 (no known price yet in the rebuilt periods) takes the carried price
    coalesce(max(j.price) over (partition by j.product_id, j.store_id, j.price_group), c.price) as price,
    {%- else %}
    max(j.price) over (partition by j.product_id, j.store_id, j.price_group) as price,
    {%- endif %}
    coalesce(j.on_promo, false) as on_promo,
    j.is_observed,
    j.is_missing
from joined as j
{%- if is_incremental() %}
left join carried as c on c.product_id = j.product_id and c.store_id = j.store_id
{%- endif %}
