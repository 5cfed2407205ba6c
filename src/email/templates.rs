//! The email templates: Liquid files in `templates/email/` (`<name>.subject.liquid`, `.html.liquid`,
//! `.txt.liquid`), compiled into the binary. Variables come from the workflow as a JSON object; `site_title` and
//! `unsubscribe_url` are used by every footer. HTML output escapes nothing by itself: templates use `| escape`
//! where user text lands in HTML.

use liquid::Parser;
use serde::Serialize;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// One rendered email: subject, HTML part, plain-text part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rendered {
    pub subject: String,
    pub html: String,
    pub text: String,
}

macro_rules! templates {
    ($($variant:ident => $name:literal),* $(,)?) => {
        /// Every email the workflows send.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Template { $($variant),* }

        impl Template {
            pub const ALL: &'static [Template] = &[$(Template::$variant),*];
            pub fn name(self) -> &'static str {
                match self { $(Template::$variant => $name),* }
            }
            fn sources(self) -> [&'static str; 3] {
                match self {
                    $(Template::$variant => [
                        include_str!(concat!("../../templates/email/", $name, ".subject.liquid")),
                        include_str!(concat!("../../templates/email/", $name, ".html.liquid")),
                        include_str!(concat!("../../templates/email/", $name, ".txt.liquid")),
                    ]),*
                }
            }
        }
    };
}

templates! {
    Basic => "basic",
    WelcomeCohortIndividual => "welcome_cohort_individual",
    WelcomeCohortTeamPurchaser => "welcome_cohort_team_purchaser",
    WelcomeCohortTeamRedeemer => "welcome_cohort_team_redeemer",
    WelcomeWorkshopIndividual => "welcome_workshop_individual",
    WelcomeWorkshopTeamPurchaser => "welcome_workshop_team_purchaser",
    WelcomeWorkshopTeamRedeemer => "welcome_workshop_team_redeemer",
    LiveEventWelcome => "live_event_welcome",
    WorkshopAccess => "workshop_access",
    Broadcast => "broadcast",
    // Purchase fan-out (issue 11, helper C).
    LiveEventWelcomeTeam => "live_event_welcome_team",
    PostPurchaseLogin => "post_purchase_login",
}

/// Variables templates may leave out (they render as empty); any other missing variable is an error naming it.
const OPTIONAL: &[&str] = &[
    "site_title",
    "unsubscribe_url",
    "user_first_name",
    "quantity",
    "day_one_unlock_date",
    "workshop_description",
    "body",
    "subject",
    // Purchase fan-out (issue 11, helper C).
    "support_email",
    "invoice_url",
];

fn parser() -> &'static Parser {
    static P: OnceLock<Parser> = OnceLock::new();
    P.get_or_init(|| {
        liquid::ParserBuilder::with_stdlib()
            .filter(super::liquid_filters::DividedBy)
            .filter(super::liquid_filters::Modulo)
            .block(super::liquid_comment::CommentBlock)
            .build()
            .expect("liquid parser")
    })
}

/// `template` as the check before parsing it reads it ([`parse`]): each line break `\n` replaced by a carriage
/// return and each non-ASCII character by DEL (U+007F); `None` when that changes nothing.
fn flat(template: &str) -> Option<String> {
    if template.is_ascii() && !template.contains('\n') {
        return None;
    }
    let flat = template.chars().map(|c| match c {
        '\n' => '\r',
        c if c.is_ascii() => c,
        _ => '\u{7f}',
    });
    Some(flat.collect())
}

/// Parses `template`, the one way every template is parsed here. liquid-core 0.26, reporting invalid markup, parses
/// again from the start of the line the error is on (`InvalidLiquidToken::parse_pair`), counting that line's
/// columns in characters and cutting it as if they were bytes, and panics when that second parse succeeds — which
/// the line's start can make happen: a string opened on an earlier line (`{{'⏎{{'}}{{'}}`), an output whose
/// markup starts on an earlier line (`{{⏎'{{'}}{{'}}`), multi-byte characters before the error
/// (`{%assign x='\u{61e}\u{61e}\u{7d6}'%}{{'%}`); all three found by fuzz/liquid_user_template, one after the other.
/// So the template is parsed first as [`flat`] reads it: the grammar reads a carriage return wherever it reads a
/// line break (both are whitespace, and text or string content elsewhere) and DEL wherever it reads a non-ASCII
/// character (text or string content), so the flat template is invalid exactly when the template is, with its
/// markup at the same places. Flat, the whole template is one line of one-byte characters: the second parse reads
/// the template itself, up to its end, and fails as the first did. Only a template that parsed flat is parsed as
/// it is, and then has no invalid markup to report. An ASCII template without line breaks is parsed once.
fn parse(template: &str) -> Result<liquid::Template, liquid::Error> {
    if let Some(flat) = flat(template) {
        parser().parse(&flat)?;
    }
    parser().parse(template)
}

/// `template` is a bad template: parsing it is an error, and it renders as itself.
#[cfg(test)]
pub(super) fn assert_bad_template(template: &str) {
    assert!(parse(template).is_err(), "{template:?}");
    assert_eq!(render_or_itself(template, &serde_json::json!({})), template);
}

/// Parses `template` as every render does (for the tests of the filters and blocks replaced).
#[cfg(test)]
pub(super) fn parse_for_tests(template: &str) -> Result<liquid::Template, liquid::Error> {
    parse(template)
}

/// Parsed templates kept by source text, within bounds: at most `max_templates` of them and `max_bytes` of
/// source in all (when either would be passed, the set starts over), and none longer than `max_one_bytes`.
struct Kept {
    map: HashMap<Box<str>, Arc<liquid::Template>>,
    bytes: usize,
    max_templates: usize,
    max_bytes: usize,
    max_one_bytes: usize,
}

impl Kept {
    fn get(&self, src: &str) -> Option<Arc<liquid::Template>> {
        self.map.get(src).cloned()
    }

    fn keep(&mut self, src: &str, template: &Arc<liquid::Template>) {
        if src.len() > self.max_one_bytes {
            return;
        }
        if self.map.len() >= self.max_templates || self.bytes + src.len() > self.max_bytes {
            self.map.clear();
            self.bytes = 0;
        }
        if self.map.insert(src.into(), template.clone()).is_none() {
            self.bytes += src.len();
        }
    }
}

/// The parsed template for `src`. Parsing is most of a render's cost — a profile of `user-created` at a steady
/// rate showed it at ~4 % of the daemon's CPU — and every run renders the same few templates (the built-in
/// emails, a function's subject line), so they are kept parsed: 256 templates of up to 64 KiB, 4 MiB in all.
/// Only templates that parsed are kept.
fn parsed(src: &str) -> Result<Arc<liquid::Template>, liquid::Error> {
    static KEPT: OnceLock<Mutex<Kept>> = OnceLock::new();
    let kept = KEPT.get_or_init(|| {
        Mutex::new(Kept {
            map: HashMap::new(),
            bytes: 0,
            max_templates: 256,
            max_bytes: 4 << 20,
            max_one_bytes: 64 << 10,
        })
    });
    let lock = || kept.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(t) = lock().get(src) {
        return Ok(t);
    }
    let template = Arc::new(parse(src)?);
    lock().keep(src, &template);
    Ok(template)
}

impl Template {
    /// Renders the three parts with `vars` (a JSON object). A template error names the template and the part.
    pub fn render(self, vars: &Value) -> Result<Rendered, String> {
        let mut merged = serde_json::Map::new();
        for k in OPTIONAL {
            merged.insert(k.to_string(), Value::Null);
        }
        match vars {
            Value::Object(m) => merged.extend(m.clone()),
            Value::Null => {}
            _ => return Err(format!("email {}: the variables are not an object", self.name())),
        }
        let globals = liquid::model::to_object(&Value::Object(merged))
            .map_err(|e| format!("email {}: the variables are not an object: {e}", self.name()))?;
        let [subject, html, text] = self.sources();
        let part = |src: &str, part: &str| -> Result<String, String> {
            parsed(src)
                .and_then(|t| t.render(&globals))
                .map_err(|e| format!("email {} ({part}): {e}", self.name()))
        };
        Ok(Rendered {
            subject: part(subject, "subject")?.trim().to_string(),
            html: part(html, "html")?,
            text: part(text, "text")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parsed_templates_are_kept_within_their_bounds() {
        let mut kept = Kept {
            map: HashMap::new(),
            bytes: 0,
            max_templates: 3,
            max_bytes: 10,
            max_one_bytes: 6,
        };
        let t = Arc::new(parser().parse("x").unwrap());
        kept.keep("{{a}}", &t);
        assert!(Arc::ptr_eq(&kept.get("{{a}}").unwrap(), &t), "kept as parsed");
        kept.keep("{{b}}", &t);
        assert_eq!((kept.map.len(), kept.bytes), (2, 10));
        // One byte more than max_bytes: the set starts over.
        kept.keep("c", &t);
        assert_eq!((kept.map.len(), kept.bytes), (1, 1));
        kept.keep("d", &t);
        kept.keep("e", &t);
        // A fourth template passes max_templates.
        kept.keep("f", &t);
        assert_eq!((kept.map.len(), kept.bytes), (1, 1));
        kept.keep("{{long}}", &t);
        assert!(kept.get("{{long}}").is_none(), "over max_one_bytes");
        assert_eq!(kept.bytes, 1);
    }

    #[test]
    fn a_kept_template_renders_each_time_with_that_times_variables() {
        let src = "Hi {{ name }}, {{ n | plus: 1 }}";
        assert_eq!(render_or_itself(src, &json!({"name": "Ada", "n": 1})), "Hi Ada, 2");
        assert!(parsed(src).is_ok());
        assert_eq!(render_or_itself(src, &json!({"name": "Bo", "n": 41})), "Hi Bo, 42");
        // Markup a render refuses still comes back unrendered.
        assert_eq!(render_or_itself("{{ nope", &json!({})), "{{ nope");
    }

    #[test]
    fn every_template_renders() {
        let vars = json!({
            "site_title": "AI Hero", "user_first_name": "Ada", "cohort_title": "Cohort 1", "workshop_title": "Evals",
            "quantity": 3, "url": "https://x/c", "invite_url": "https://x/i", "product_name": "Live", "start_date": "May 1st",
            "start_time": "9:00 AM", "end_time": "10:00 AM", "support_email": "s@x", "subject": "News", "body": "<b>Hello</b>",
            "unsubscribe_url": "https://x/u",
            "login_url": "https://x/l", "host": "x",
        });
        for t in Template::ALL {
            let r = t.render(&vars).unwrap();
            assert!(
                !r.subject.is_empty() && r.html.contains("Ada") && r.text.contains("Ada"),
                "{t:?}: {r:?}"
            );
            assert!(r.text.contains("Unsubscribe: https://x/u"), "{t:?}");
        }
    }

    #[test]
    fn individual_welcome_states_one_seat_and_escapes() {
        let r = Template::WelcomeCohortIndividual
            .render(&json!({"cohort_title": "C", "url": "u", "site_title": "S"}))
            .unwrap();
        assert_eq!(r.subject, "Welcome to C!");
        assert!(r.text.contains("for 1 seat") && r.text.contains("Hi there,"));
        let b = Template::Basic
            .render(&json!({"subject": "s", "body": "<script>"}))
            .unwrap();
        assert!(b.html.contains("&lt;script&gt;") && b.text.contains("<script>"));
        let err = Template::WelcomeCohortIndividual
            .render(&json!({"url": "u"}))
            .unwrap_err();
        assert!(err.contains("cohort_title"), "{err}");
    }
}

/// Renders a template people wrote (content fields, reminders, notification subjects) with `vars`, a JSON object;
/// a template that does not parse ([`parse`]) or render, `vars` that is not an object, an integer literal beyond
/// `i64` ([`has_oversized_integer`]), a `cycle` group without values ([`has_empty_cycle`]) or ranges beyond
/// [`MAX_RANGE`] values ([`has_unbounded_range`]) gives the template back as it is.
pub fn render_or_itself(template: &str, vars: &Value) -> String {
    let Ok(globals) = liquid::model::to_object(vars) else {
        return template.to_string();
    };
    // liquid 0.26 panics on these (found by fuzz/liquid_user_template): refused before parsing; the catch is a
    // second guard (a fuzzer aborts at any panic, so only the checks count there).
    let m = markup(template);
    if oversized_integer(&m) || empty_cycle(&m) || unbounded_range(&m) {
        return template.to_string();
    }
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        parsed(template).ok().and_then(|t| t.render(&globals).ok())
    }))
    .ok()
    .flatten()
    .unwrap_or_else(|| template.to_string())
}

/// One Liquid output (`{{ … }}`) or tag (`{% … %}`) of a template.
struct Markup<'t> {
    tag: bool,
    /// The text between the delimiters.
    inner: &'t str,
}

impl<'t> Markup<'t> {
    /// A tag's text without its whitespace control and padding (`{%- cycle a: -%}` → `cycle a:`); `None` for an
    /// output.
    fn tag_body(&self) -> Option<&'t str> {
        self.tag
            .then(|| self.inner.trim_matches(|c: char| c == '-' || c.is_whitespace()))
    }
}

/// Each Liquid output and tag of `template`, read once for all the checks. Quotes are followed as the grammar does:
/// a `}}` or `%}` inside a string does not close the markup (`{%cycle"%}":%}` is one tag); an unclosed string runs
/// to the end.
fn markup(template: &str) -> Vec<Markup<'_>> {
    let bytes = template.as_bytes();
    let mut found = Vec::new();
    let mut i = 0;
    while i + 1 < bytes.len() {
        if bytes[i] != b'{' || !matches!(bytes[i + 1], b'{' | b'%') {
            i += 1;
            continue;
        }
        let tag = bytes[i + 1] == b'%';
        let close = if tag { b'%' } else { b'}' };
        let start = i + 2;
        let (mut end, mut quote) = (start, None);
        while end < bytes.len() {
            match (quote, bytes[end]) {
                (Some(q), b) if b == q => quote = None,
                (Some(_), _) => {}
                (None, b @ (b'\'' | b'"')) => quote = Some(b),
                (None, b) if b == close && bytes.get(end + 1) == Some(&b'}') => break,
                (None, _) => {}
            }
            end += 1;
        }
        found.push(Markup {
            tag,
            inner: &template[start..end],
        });
        i = end + 2;
    }
    found
}

/// Whether a Liquid tag or output (`{{ … }}`, `{% … %}`) of `template` holds an integer literal beyond `i64`:
/// liquid-core 0.26 panics on one (found by fuzz/liquid_user_template), so callers treat such a template as a bad
/// one before parsing it. Digits outside tags are text and do not count.
pub fn has_oversized_integer(template: &str) -> bool {
    oversized_integer(&markup(template))
}

fn oversized_integer(markup: &[Markup<'_>]) -> bool {
    markup.iter().any(|m| {
        m.inner
            .split(|c: char| !c.is_ascii_digit())
            .any(|digits| !digits.is_empty() && digits.parse::<i64>().is_err())
    })
}

/// Whether `template` has a named `cycle` group with no values (`{% cycle name: %}`): liquid-lib 0.26 parses it
/// and then divides by its zero values when rendering (found by fuzz/liquid_user_template), so callers treat it as
/// a bad template.
pub fn has_empty_cycle(template: &str) -> bool {
    empty_cycle(&markup(template))
}

fn empty_cycle(markup: &[Markup<'_>]) -> bool {
    // The tag's name ends where an identifier's characters do: `{%cycle"":%}` names the group `""`.
    let ends_name = |rest: &str| !rest.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    markup.iter().filter_map(Markup::tag_body).any(|body| {
        body.strip_prefix("cycle")
            .is_some_and(|rest| ends_name(rest) && rest.trim_end().ends_with(':'))
    })
}

/// The most values the ranges of a template people wrote may hold together, counted as if they were nested (their
/// sizes multiplied): `(1..10000)`, or `(1..100)` within `(1..100)`.
const MAX_RANGE: i64 = 10_000;

/// Whether the tags of `template` hold ranges (`(a..b)`, outside quoted strings) beyond [`MAX_RANGE`] values, or a
/// range that is not two integer literals. liquid-lib 0.26's `for` and `tablerow` build the whole range as a list
/// before their first pass: `(1..9999999999)` asks for ~240 GB, and a failed allocation aborts the process (found
/// reading liquid-lib); loops within loops multiply the passes, which nothing can interrupt. Bounds from variables
/// or strings cannot be checked before rendering, so a range with them counts, as does a `(` in a tag that does
/// not open such a range. Callers treat such a template as a bad one.
pub fn has_unbounded_range(template: &str) -> bool {
    unbounded_range(&markup(template))
}

fn unbounded_range(markup: &[Markup<'_>]) -> bool {
    // The values of `a..b`, when both are integer literals.
    let size = |range: &str| {
        let (a, b) = range.split_once("..")?;
        let (a, b) = (a.trim().parse::<i64>().ok()?, b.trim().parse::<i64>().ok()?);
        Some(b.saturating_sub(a).saturating_add(1).max(0))
    };
    let mut values: i64 = 1;
    for body in markup.iter().filter_map(Markup::tag_body) {
        let mut quote = None;
        for (i, c) in body.char_indices() {
            match (quote, c) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), _) => {}
                (None, '\'' | '"') => quote = Some(c),
                (None, '(') => {
                    let rest = &body[i + 1..];
                    match rest.find(')').and_then(|close| size(&rest[..close])) {
                        Some(n) => values = values.saturating_mul(n.max(1)),
                        None => return true,
                    }
                    if values > MAX_RANGE {
                        return true;
                    }
                }
                (None, _) => {}
            }
        }
    }
    false
}

/// Tests of a pre-parse check: `check` refuses `template`, which then renders as itself.
#[cfg(test)]
fn assert_refused(template: &str, check: fn(&str) -> bool) {
    assert!(check(template), "{template:?}");
    assert_eq!(render_or_itself(template, &serde_json::json!({})), template);
}

#[cfg(test)]
mod empty_cycle_tests {
    use super::{assert_refused, has_empty_cycle, render_or_itself};
    use serde_json::json;

    #[test]
    fn a_cycle_group_without_values_is_a_bad_template_not_a_panic() {
        // The input fuzz/liquid_user_template found (liquid-lib's cycle_index divided by zero, at render time).
        assert_refused(". ,es.si 1 %}{%cycle --yyyyyyysi:%}{ce-----*!", has_empty_cycle);
        // And the one found after it: no space between the tag's name and the group's (minimized).
        for bad in [
            "{% cycle name: %}",
            "{%- cycle \"g\": -%}",
            "{%cycle a :%}",
            "{%cycle\"\":%}",
            "{%cycle'g' :%}",
        ] {
            assert_refused(bad, has_empty_cycle);
        }
        for fine in [
            "{% cycle \"a\", \"b\" %}",
            "{% cycle g: \"a\", \"b\" %}",
            "{% cycle \"a:\" %}",
            "cycle name: in text",
            "{{ cycle }}:",
            "{% cycles a: %}",
            "{% cycle_x a: %}",
        ] {
            assert!(!has_empty_cycle(fine), "{fine}");
        }
        assert_eq!(render_or_itself("{% cycle g: \"a\", \"b\" %}", &json!({})), "a");
    }
}

#[cfg(test)]
mod oversized_integer_tests {
    use super::has_oversized_integer;

    #[test]
    fn only_integers_in_tags_beyond_i64_count() {
        assert!(has_oversized_integer(
            "{{ user.email | append: 99999999999999999999999999 }}"
        ));
        assert!(has_oversized_integer("{% if x > 9223372036854775808 %}y{% endif %}"));
        assert!(
            has_oversized_integer("{{ 1 | plus: 99999999999999999999"),
            "an unclosed tag too"
        );
        assert!(!has_oversized_integer("{{ 9223372036854775807 }}"));
        assert!(
            !has_oversized_integer("call 99999999999999999999999 {{ user.name }}"),
            "text is not a literal"
        );
        assert!(!has_oversized_integer("{{ price | times: 1.5 }} { } {"));
    }

    #[test]
    fn the_fuzz_finding_renders_as_itself() {
        let t = "{{ user.email | append: 99999999999999999999999999 }}";
        let user = serde_json::json!({"email": "a@example.com"});
        assert_eq!(crate::functions::people::user_created::render(t, &user), t);
        assert_eq!(
            crate::functions::live_events::event_reminder_broadcast::render(t, &serde_json::json!({"user": user})),
            t
        );
        assert_eq!(
            crate::functions::content::resource_chat::render(t, &serde_json::json!({"user": user})),
            t
        );
    }
}

#[cfg(test)]
mod invalid_markup_tests {
    use super::{assert_bad_template, flat, parser, render_or_itself};
    use serde_json::json;

    /// liquid-core itself panics parsing `found` (so [`parse`]'s flat check is what keeps the fuzzer's abort away);
    /// through [`parse`] it is an error, and the template renders as itself.
    fn assert_liquid_panic_is_an_error(found: &str) {
        assert!(
            std::panic::catch_unwind(|| parser().parse(found)).is_err(),
            "liquid-core panics parsing {found:?}"
        );
        assert_bad_template(found);
    }

    #[test]
    fn invalid_markup_after_an_earlier_lines_start_is_an_error_not_a_panic() {
        // Found by fuzz/liquid_user_template, minimized, in this order (the last by CI's smoke run, 2026-12-05).
        assert_liquid_panic_is_an_error("{%assign x='\u{61e}\u{61e}\u{7d6}'%}{{'%}");
        assert_liquid_panic_is_an_error("{{'\n{{'}}{{'}}");
        assert_liquid_panic_is_an_error("{{\n'{{'}}{{'}}");
        for bad in [
            "{% assign x = 'a\n' %}{{ '",
            "{{\n x }}{{ ",
            "é\n{{ '",
            "{% raw %}x",
            "{% raw %}{% endraw x %}",
        ] {
            assert_bad_template(bad);
        }
    }

    #[test]
    fn line_breaks_and_non_ascii_characters_render_as_before() {
        let vars = json!({"n": "x", "user": {"name": "Zoë"}, "b": 1});
        for (template, renders) in [
            ("{% if n == 'x'\n %}yes{% endif %}\n{{ 'a' }}", "yes\na"),
            ("{% assign x = 'a\nb' %}{{ x }}", "a\nb"),
            ("{{\n n \n}}\r\n{{ n }}", "x\r\nx"),
            ("Grüße {{ user.name }} — ✓", "Grüße Zoë — ✓"),
            ("{% assign x = 'é' %}{{ x | append: 'ñ' }}", "éñ"),
            ("a{% raw %}{{ b }}\n{% endraw %}c", "a{{ b }}\nc"),
        ] {
            assert_eq!(render_or_itself(template, &vars), renders, "{template:?}");
        }
        assert_eq!(
            render_or_itself("{{ café }}", &vars),
            "{{ café }}",
            "not an identifier: a bad template"
        );
    }

    #[test]
    fn the_flat_template_keeps_every_byte_offset_of_an_ascii_one() {
        assert_eq!(flat("{{ a }}"), None, "parsed once");
        assert_eq!(flat("a\n{{ b }}\r\n").as_deref(), Some("a\r{{ b }}\r\r"));
        assert_eq!(flat("ü\n").as_deref(), Some("\u{7f}\r"));
    }
}

#[cfg(test)]
mod unbounded_range_tests {
    use super::{assert_refused, has_unbounded_range, render_or_itself};
    use serde_json::json;

    #[test]
    fn ranges_beyond_their_bound_or_from_variables_are_a_bad_template() {
        for bad in [
            "{% for i in (1..9999999999) %}{{ i }}{% endfor %}",
            "{% for i in (0..10000) %}{% endfor %}",
            "{%- tablerow i in ( -5000 .. 5000 ) -%}{% endtablerow %}",
            "{% for i in (-9223372036854775807..9223372036854775807) %}{% endfor %}",
            "{% for i in (1..n) %}{% endfor %}",
            "{% for i in ('1'..'99999999999') %}{% endfor %}",
            "{% for i in (1..5 %}",
            "{% for i in (1...5) %}{% endfor %}",
            "{% for i in (1..3) %}{% for j in (1..9999) %}{% endfor %}{% endfor %}",
            "{% for a in (1..100) %}{% for b in (1..100) %}{% for c in (1..2) %}{% endfor %}{% endfor %}{% endfor %}",
        ] {
            assert_refused(bad, has_unbounded_range);
        }
        for fine in [
            "{% for i in (1..10000) %}{% endfor %}",
            "{% for i in (-4999..5000) %}{% endfor %}",
            "{% for a in (1..100) %}{% for b in (1..100) %}{% endfor %}{% endfor %}",
            "{% for i in (5..1) %}{% endfor %}{% for i in (1..10000) %}{% endfor %}",
            "{% assign s = 'Hello (world)' %}{{ s }}",
            "{{ '(1..99999999)' }}",
            "({{ x }}) (1..99999999)",
            "{% for i in list %}{% endfor %}",
        ] {
            assert!(!has_unbounded_range(fine), "{fine:?}");
        }
        assert_eq!(
            render_or_itself("{% for i in (1..3) %}{{ i }}{% endfor %} (1..99999999)", &json!({})),
            "123 (1..99999999)"
        );
    }
}
