//! The giveaway draw: a rule anyone can recompute (docs/live-commerce.md).
//!
//! - When the giveaway opens, the server takes a seed of 32 random bytes and
//!   publishes `seed_hash` = hex(SHA-256(seed)).
//! - At the draw it publishes the seed (hex) and the entrants, sorted by id
//!   (the ids' 16 bytes compared in order, which is also the order of their
//!   lowercase hyphenated text).
//! - digest = SHA-256(seed ‖ giveaway id (16 bytes) ‖ each sorted entrant id
//!   (16 bytes)); the winner is the entrant at index
//!   u64::from_be_bytes(digest[0..8]) mod n. No entrant: no winner.
//!
//! The seed is fixed before anyone enters and the digest covers the whole
//! entrant list, so neither the server nor an entrant can steer the outcome
//! without changing the published hash or the published list.

use sha2::{Digest, Sha256};
use uuid::Uuid;

/// The bytes of a seed.
pub const SEED_LEN: usize = 32;

/// A fresh seed from the operating system's randomness (through `rand`'s
/// thread generator, seeded by the OS and reseeded regularly).
pub fn new_seed() -> [u8; SEED_LEN] {
    let mut seed = [0u8; SEED_LEN];
    rand::fill(&mut seed);
    seed
}

/// What is published when the giveaway opens: hex(SHA-256(seed)).
pub fn seed_hash(seed: &[u8]) -> String {
    hex::encode(Sha256::digest(seed))
}

/// The winner among `entrants` (sorted here; duplicates count once).
pub fn winner(seed: &[u8], giveaway: Uuid, entrants: &[Uuid]) -> Option<Uuid> {
    let mut sorted = entrants.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let n = u64::try_from(sorted.len()).ok().filter(|n| *n > 0)?;
    let mut hasher = Sha256::new();
    hasher.update(seed);
    hasher.update(giveaway.as_bytes());
    for id in &sorted {
        hasher.update(id.as_bytes());
    }
    let digest = hasher.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(digest.get(..8)?);
    let index = usize::try_from(u64::from_be_bytes(first) % n).ok()?;
    sorted.get(index).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_is_sha256_of_the_seed_bytes() {
        // SHA-256 of 32 zero bytes.
        assert_eq!(
            seed_hash(&[0u8; 32]),
            "66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925"
        );
    }

    #[test]
    fn the_winner_is_recomputed_from_the_seed_and_the_sorted_entrants() {
        let giveaway = Uuid::now_v7();
        let entrants: Vec<Uuid> = (0..20).map(|_| Uuid::now_v7()).collect();
        let seed = new_seed();
        let won = winner(&seed, giveaway, &entrants).unwrap();
        assert!(entrants.contains(&won));
        // Order and duplicates do not matter.
        let mut shuffled: Vec<Uuid> = entrants.iter().rev().copied().collect();
        shuffled.push(entrants[3]);
        assert_eq!(winner(&seed, giveaway, &shuffled), Some(won));
        // By hand: the digest over seed, id and the sorted ids.
        let mut sorted = entrants.clone();
        sorted.sort();
        let mut bytes = seed.to_vec();
        bytes.extend_from_slice(giveaway.as_bytes());
        for id in &sorted {
            bytes.extend_from_slice(id.as_bytes());
        }
        let digest = Sha256::digest(&bytes);
        let index = u64::from_be_bytes(digest[..8].try_into().unwrap()) % 20;
        assert_eq!(sorted[index as usize], won);
        assert_eq!(winner(&seed, giveaway, &[]), None);
    }

    #[test]
    fn every_entrant_can_win() {
        let giveaway = Uuid::now_v7();
        let entrants: Vec<Uuid> = (0..4).map(|_| Uuid::now_v7()).collect();
        let mut won = std::collections::BTreeSet::new();
        for _ in 0..400 {
            won.insert(winner(&new_seed(), giveaway, &entrants).unwrap());
        }
        assert_eq!(won.len(), 4);
    }
}
