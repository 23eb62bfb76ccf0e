//! `jones`: Jones admin from the shell.

fn main() {}
