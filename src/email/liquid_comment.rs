//! `{% comment %}` for every Liquid template parsed here, in place of liquid-lib 0.26's. Theirs parses the tags
//! inside a comment and ignores their errors; a tag whose error came from reading to the end of the template (an
//! unclosed block, an end marker the grammar does not read as a tag: `{% comment %}{% endcomment r{% for a in e%}}`,
//! an unclosed `raw`) leaves nothing to read, and the comment then asks for the next element and panics (three doors
//! found, two of them by fuzz/liquid_user_template). This one parses nothing inside: it reads the comment's
//! text up to its `{% endcomment %}`, nested comments counted, and an unclosed comment is the template's error.
//!
//! The one difference a template can see: a `raw` block inside a comment no longer hides an `{% endcomment %}`
//! (`{% comment %}{% raw %}{% endcomment %}{% endraw %}{% endcomment %}` ends at the first one and leaves a stray
//! `{% endraw %}`, an error).

use liquid_core::{BlockReflection, Language, ParseBlock, Renderable, Result, Runtime, TagBlock, TagTokenIter};
use std::io::Write;

#[derive(Copy, Clone, Debug, Default)]
pub(super) struct CommentBlock;

impl BlockReflection for CommentBlock {
    fn start_tag(&self) -> &str {
        "comment"
    }

    fn end_tag(&self) -> &str {
        "endcomment"
    }

    fn description(&self) -> &str {
        "Text that is not rendered; its tags are not parsed."
    }
}

impl ParseBlock for CommentBlock {
    fn parse(
        &self,
        mut arguments: TagTokenIter<'_>,
        mut tokens: TagBlock<'_, '_>,
        _options: &Language,
    ) -> Result<Box<dyn Renderable>> {
        arguments.expect_nothing()?;
        // Returns at the matching end tag or with the error of the template's end, never reading past it.
        tokens.escape_liquid(true)?;
        tokens.assert_empty();
        Ok(Box::new(Comment))
    }

    fn reflection(&self) -> &dyn BlockReflection {
        self
    }
}

#[derive(Copy, Clone, Debug)]
struct Comment;

impl Renderable for Comment {
    fn render_to(&self, _writer: &mut dyn Write, _runtime: &dyn Runtime) -> Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::email::templates::{assert_bad_template, parse_for_tests, render_or_itself};
    use serde_json::json;

    fn rendered(template: &str) -> Result<String, String> {
        parse_for_tests(template)
            .and_then(|t| t.render(&liquid::object!({ "x": 1 })))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn a_comment_renders_nothing_and_nests() {
        assert_eq!(
            rendered("a{% comment %}{{ x }}{% if x %}{% endcomment %}b").unwrap(),
            "ab"
        );
        assert_eq!(
            rendered("a{% comment %}1{% comment %}2{% endcomment %}3{% endcomment %}b{{ x }}").unwrap(),
            "ab1"
        );
        assert_eq!(rendered("{%- comment -%} x {%- endcomment -%} y").unwrap(), "y");
        assert_eq!(
            rendered("{% comment %}{{ 'x }}{% endcomment %}z").unwrap(),
            "z",
            "nothing inside is parsed"
        );
    }

    #[test]
    fn an_unclosed_comment_or_arguments_are_errors() {
        for bad in [
            "{% comment %}x",
            "{% comment %}{% comment %}{% endcomment %}",
            "{% comment x %}{% endcomment %}",
            "{% comment %}{% endcomment x %}",
        ] {
            assert_bad_template(bad);
        }
    }

    #[test]
    fn the_inputs_liquid_lib_panicked_on_are_read_without_a_panic() {
        // Found by fuzz/liquid_user_template (the first two) and by reading liquid-core (the last two): liquid-lib's
        // comment block panicked parsing each (`TagBlock::next`: "File shouldn't end before EOI").
        let stdlib = liquid::ParserBuilder::with_stdlib().build().unwrap();
        for (found, renders) in [
            ("{%comment%}{%if c%}", None),
            ("{% comment %}{% endcomment r{% for a in e%}}", None),
            ("{% comment %}{% raw %}{% endcomment %}", Some("")),
            ("{%comment%}{%if a%}{%raw%}{%endcomment%}x", Some("x")),
        ] {
            assert!(
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| stdlib.parse(found))).is_err(),
                "liquid-lib's comment block panics on {found:?}"
            );
            assert_eq!(rendered(found).ok().as_deref(), renders, "{found:?}");
            assert_eq!(render_or_itself(found, &json!({})), renders.unwrap_or(found));
        }
    }
}
