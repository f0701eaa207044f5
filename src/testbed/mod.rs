//! Testbeds: cached Debian images and fast, isolated, always-cleaned-up containers behind one
//! trait.
