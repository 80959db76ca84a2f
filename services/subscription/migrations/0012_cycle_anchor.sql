-- The day a subscription's charge cycles count from when it is not its term's start (§4.2): a partial upgrade's
-- child shares its parent's cycles. NULL: the term's start.
ALTER TABLE subscriptions ADD COLUMN anchor date;
