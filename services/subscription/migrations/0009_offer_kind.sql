-- What kind of product an offer is (§1.5): license-based, software subscription or perpetual software.
ALTER TABLE offers ADD COLUMN kind text NOT NULL DEFAULT 'license';
