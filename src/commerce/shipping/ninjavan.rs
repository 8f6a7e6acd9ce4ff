//! Ninja Van: the carrier behind [`super::Carrier`].
