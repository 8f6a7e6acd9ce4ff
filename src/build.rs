//! Rebuilds the crate when a migration is added or changed: `sqlx::migrate!`
//! embeds the migration files at compile time, and without this a new file
//! would not be seen until something else in the crate changed.

fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
