-- Every promotion a subscription ever took, for the per-customer redemption limit and seat maximum (§2.5: cancelled
-- seats count against the limit): a subscription that took one counts once, with the most seats it held under it
-- (its seats less those charged without it). A promotion given up later (a term change, an upgrade, a renewal out of
-- its window) stays redeemed; a subscription that takes the same one again does not redeem it twice. Written by the
-- triggers below, whichever statement set the subscription's promotion or seats (a purchase, a renewal, a seat
-- change, a mid-term change, an upgrade's child).
CREATE TABLE promotion_redemptions (
    customer_id     text NOT NULL,
    promotion_id    text NOT NULL,
    subscription_id text NOT NULL,
    seats           int NOT NULL,
    PRIMARY KEY (customer_id, promotion_id, subscription_id)
);
INSERT INTO promotion_redemptions
    SELECT customer_id, promotion_id, subscription_id, quantity - full_price_seats FROM subscriptions
    WHERE promotion_id IS NOT NULL;

CREATE FUNCTION record_redemption() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    INSERT INTO promotion_redemptions AS r
        VALUES (NEW.customer_id, NEW.promotion_id, NEW.subscription_id, NEW.quantity - NEW.full_price_seats)
        ON CONFLICT (customer_id, promotion_id, subscription_id) DO UPDATE SET seats = greatest(r.seats, EXCLUDED.seats);
    RETURN NULL;
END $$;
CREATE TRIGGER redeemed_when_bought AFTER INSERT ON subscriptions
    FOR EACH ROW WHEN (NEW.promotion_id IS NOT NULL) EXECUTE FUNCTION record_redemption();
CREATE TRIGGER redeemed_when_changed AFTER UPDATE OF promotion_id, quantity, full_price_seats ON subscriptions
    FOR EACH ROW WHEN (NEW.promotion_id IS NOT NULL AND (NEW.promotion_id IS DISTINCT FROM OLD.promotion_id
                       OR NEW.quantity - NEW.full_price_seats > OLD.quantity - OLD.full_price_seats))
    EXECUTE FUNCTION record_redemption();

-- A renewal reads its SKU's promotions for every renewing subscription.
CREATE INDEX promotions_sku ON promotions ((promotion->>'product_id'), (promotion->>'sku_id'));
