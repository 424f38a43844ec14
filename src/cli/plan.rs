//! `trnsim plan`.
