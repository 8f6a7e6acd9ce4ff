-- No query reads bids by bidder, and each bid wrote a leaf of this index
-- that no other bid of its write shared.
DROP INDEX IF EXISTS bids_bidder_idx;
