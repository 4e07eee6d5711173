//! The crate's example is the documentation's: it runs, and the README shows it as it is.

#[path = "../examples/campaigns.rs"]
mod campaigns;

#[test]
fn the_campaign_example_runs() {
    campaigns::main().expect("the example runs to the end");
}

#[test]
fn the_readme_shows_the_example_verbatim() {
    let readme = include_str!("../README.md");
    assert!(readme.contains(include_str!("../examples/campaigns.rs")), "update README.md's copy");
}
