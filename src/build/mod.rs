//! Building: the source upload (.dsc, source-only .changes) and binary packages in a clean
//! testbed, described by a manifest.
