-- Whether an open giveaway holds one unit of its product's stock
-- (`inventory.reserved`): held when it opens, if the product's stock is
-- counted; moved to the prize order's reservation at the draw, or given back
-- when nobody won. Giveaways opened before this column hold nothing.
ALTER TABLE giveaways ADD COLUMN unit_held INTEGER NOT NULL DEFAULT 0;
