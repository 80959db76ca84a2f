-- The currency pairs pricing has FX rates for, from which month: a purchase priced in another currency than the
-- partner's is refused when billing could not convert it.
CREATE TABLE fx_pairs (
    from_currency text NOT NULL,
    to_currency   text NOT NULL,
    first_month   date NOT NULL,
    PRIMARY KEY (from_currency, to_currency)
);
