"""Partners and customers."""
import asyncpg

from shared.contracts.subscription import RegisterCustomer, RegisterPartner


async def upsert_partner(conn: asyncpg.Connection, p: RegisterPartner) -> None:
    await conn.execute(
        """INSERT INTO partners (partner_id, name, billing_currency, country) VALUES ($1, $2, $3, $4)
           ON CONFLICT (partner_id) DO UPDATE SET name = EXCLUDED.name, billing_currency = EXCLUDED.billing_currency,
           country = EXCLUDED.country""",
        p.partner_id, p.name, p.billing_currency, p.country,
    )


async def partner_exists(conn: asyncpg.Connection, partner_id: str) -> bool:
    return bool(await conn.fetchval("SELECT true FROM partners WHERE partner_id = $1", partner_id))


async def upsert_customer(conn: asyncpg.Connection, c: RegisterCustomer) -> bool:
    """Register the customer, or update it when its partner registered it before; False (and nothing written) when
    another partner holds its id."""
    return bool(await conn.fetchval(
        """INSERT INTO customers (customer_id, partner_id, name, country, segment) VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (customer_id) DO UPDATE SET name = EXCLUDED.name, country = EXCLUDED.country,
           segment = EXCLUDED.segment WHERE customers.partner_id = EXCLUDED.partner_id
           RETURNING true""",
        c.customer_id, c.partner_id, c.name, c.country, c.segment,
    ))


async def customer_segment(conn: asyncpg.Connection, customer_id: str) -> str:
    """The segment (§1.7) of a customer the subscription service knows."""
    return await conn.fetchval("SELECT segment FROM customers WHERE customer_id = $1", customer_id)
