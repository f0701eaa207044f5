//! The strict quilt patch engine: dpkg-source's "3.0 (quilt)" rules (fuzz 0, offsets
//! allowed), quilt's own `.pc/` state, all or nothing.
