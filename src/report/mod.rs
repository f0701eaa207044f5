//! Reports: a verification result rendered for Launchpad, Markdown, JSON and JUnit.
