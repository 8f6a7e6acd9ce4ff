-- Bid history is read from the journal (`auction_events`, kind 'bid_placed'),
-- which holds every accepted bid before it is acknowledged. The `bids` table
-- copied each one a second time, written behind the journal: a row and an
-- index entry per bid that every settle of the read models had to write,
-- holding the journal's connection meanwhile.
DROP TABLE IF EXISTS bids;
