//! Integration tests of the auction engine: rule properties, the journal
//! writer, the actors and the rooms, all with in-memory ports.

mod props;
