-- Amounts are in the partner's currency; a price in another currency is converted with the month's FX rate at the
-- charge date (§2.1), kept here from pricing's events.
ALTER TABLE plans ADD COLUMN billing_currency text;
UPDATE plans SET billing_currency = currency;
ALTER TABLE plans ALTER COLUMN billing_currency SET NOT NULL;

CREATE TABLE fx_rates (
    from_currency text NOT NULL,
    to_currency   text NOT NULL,
    month         date NOT NULL,
    rate          numeric(20, 10) NOT NULL,
    PRIMARY KEY (from_currency, to_currency, month)
);
