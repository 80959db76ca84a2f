-- A subscription may take more than one promotion over its life (a renewal, a term change, an upgrade): each counts
-- once against its customer's redemption limit (§2.5), as the subscription service counts them.
ALTER TABLE redemptions DROP CONSTRAINT redemptions_pkey, ADD PRIMARY KEY (subscription_id, promotion_id);
