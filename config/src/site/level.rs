//! `site.logging.level` beyond what a tracing filter accepts: a bare word
//! that is not a level is a valid filter (a target of that name, at every
//! level), so a typo such as `loudest` would silence every line. It is
//! refused, with the closest level as a hint.

use std::str::FromStr;

use tracing::level_filters::LevelFilter;

/// The level names, in the order a hint lists them.
const LEVELS: [&str; 6] = ["trace", "debug", "info", "warn", "error", "off"];

/// Checks each directive of `filter` (comma-separated) that has no `=` and
/// no span part: it must be a level (any case; `0` to `5` too, as tracing
/// reads them).
pub(crate) fn check(filter: &str) -> Result<(), String> {
    for directive in filter.split(',').map(str::trim) {
        let bare = !directive.is_empty() && !directive.contains(['=', '[']);
        if bare && LevelFilter::from_str(directive).is_err() {
            return Err(refusal(directive));
        }
    }
    Ok(())
}

fn refusal(word: &str) -> String {
    let lower = word.to_lowercase();
    let closest = LEVELS
        .iter()
        .map(|level| (strsim::normalized_damerau_levenshtein(&lower, level), *level))
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map_or("info", |(_, level)| level);
    format!(
        "`{word}` is not a level; did you mean `{closest}`? (levels: {}; a target is written `target=level`, e.g. `{word}=debug`)",
        LEVELS.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_in_any_case_and_targets_with_a_level_are_accepted() {
        for filter in [
            "info",
            "WARN",
            "Debug",
            "off",
            "3",
            "info,hyper=warn",
            "my_crate[span]",
            "",
            "info,",
        ] {
            assert_eq!(check(filter), Ok(()), "{filter}");
        }
    }

    #[test]
    fn a_bare_word_that_is_no_level_is_refused_with_the_closest_level() {
        let err = check("loudest").expect_err("no level");
        assert!(err.starts_with("`loudest` is not a level; did you mean `"), "{err}");
        assert!(err.contains("a target is written `target=level`"), "{err}");
        assert!(check("infoo").expect_err("typo").contains("did you mean `info`?"));
        assert!(check("warning").expect_err("typo").contains("did you mean `warn`?"));
        assert!(
            check("info,hyper")
                .expect_err("target alone")
                .contains("`hyper` is not a level")
        );
    }
}
