//! ARCHITECTURE.md stays true where a claim can be checked by code: every file or folder it cites exists, and its
//! lists of lifecycle states and events are the code's. The README documents every setting, uses each section title once,
//! and gives the test command CI runs.

use ingot_actors::run::state::{RunEvent, RunStatus, StepEvent, StepStatus};
use std::path::{Path, PathBuf};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
/// Top-level folders: a cited path starting with one of these must exist as written.
const TOP: &[&str] = &[
    "actors/",
    "src/",
    "tests/",
    "migrations/",
    "deploy/",
    "docs/",
    "examples/",
    "templates/",
    ".ci/",
    ".cargo/",
    "fuzz/",
    "scripts/",
];

fn architecture() -> String {
    std::fs::read_to_string(Path::new(ROOT).join("ARCHITECTURE.md")).unwrap()
}

/// Every path in the repository's source folders, relative to the root, folders with a trailing `/`.
fn repo_paths() -> Vec<String> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                // Build output (fuzz/target/) is not source.
                if path.file_name().is_some_and(|n| n == "target") {
                    continue;
                }
                out.push(path.clone());
                walk(&path, out);
            } else {
                out.push(path);
            }
        }
    }
    // The root's own files (Cargo.toml, deny.toml, ...).
    let mut out: Vec<PathBuf> = std::fs::read_dir(ROOT)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    for top in TOP {
        let dir = Path::new(ROOT).join(top);
        if dir.is_dir() {
            out.push(dir.clone());
            walk(&dir, &mut out);
        }
    }
    out.iter()
        .map(|p| {
            let rel = p.strip_prefix(ROOT).unwrap().to_string_lossy().to_string();
            if p.is_dir() { format!("{rel}/") } else { rel }
        })
        .collect()
}

/// The backticked spans that look like a file or folder path.
fn cited_paths(text: &str) -> Vec<String> {
    const EXT: &[&str] = &[".rs", ".md", ".toml", ".sql", ".sh", ".json", ".service", ".example"];
    text.split('`')
        .skip(1)
        .step_by(2)
        .filter(|s| !s.contains(' ') && !s.contains("::") && !s.starts_with('/'))
        .filter(|s| EXT.iter().any(|e| s.ends_with(e)) || (s.ends_with('/') && s.len() > 1))
        .map(str::to_string)
        .collect()
}

#[test]
fn every_path_architecture_cites_exists() {
    let paths = repo_paths();
    let mut missing = Vec::new();
    for cited in cited_paths(&architecture()) {
        let found = if TOP.iter().any(|t| cited.starts_with(t)) {
            Path::new(ROOT).join(&cited).exists()
        } else {
            // A name relative to the section it is in: some file or folder must end with it.
            paths.iter().any(|p| p == &cited || p.ends_with(&format!("/{cited}")))
        };
        if !found {
            missing.push(cited);
        }
    }
    assert!(
        missing.is_empty(),
        "ARCHITECTURE.md cites paths that do not exist: {missing:?}"
    );
}

/// The names between `{` and `}` after `` `Name` `` in ARCHITECTURE.md.
fn listed(text: &str, name: &str) -> Vec<String> {
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let start = text
        .find(&format!("`{name}` {{"))
        .unwrap_or_else(|| panic!("ARCHITECTURE.md lists `{name}` {{…}}"));
    let rest = &text[start..];
    let open = rest.find('{').unwrap() + 1;
    let close = rest.find('}').unwrap();
    rest[open..close]
        .split(',')
        .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

#[test]
fn architecture_lists_every_lifecycle_state_and_event() {
    let text = architecture();
    let run_statuses: Vec<String> = RunStatus::ALL.iter().map(|s| s.as_str().to_string()).collect();
    let run_events: Vec<String> = RunEvent::ALL.iter().map(|e| format!("{e:?}")).collect();
    let step_statuses: Vec<String> = StepStatus::ALL.iter().map(|s| s.as_str().to_string()).collect();
    let step_events: Vec<String> = StepEvent::ALL.iter().map(|e| format!("{e:?}")).collect();
    assert_eq!(listed(&text, "RunStatus"), run_statuses);
    assert_eq!(listed(&text, "RunEvent"), run_events);
    assert_eq!(listed(&text, "StepStatus"), step_statuses);
    assert_eq!(listed(&text, "StepEvent"), step_events);
}

/// Every setting the daemon reads is documented in the README under its environment variable name.
#[test]
fn every_setting_is_in_the_readme() {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).expect("README");
    let missing: Vec<&str> = ingot::config::SETTINGS
        .iter()
        .map(|(_, var, _, _)| *var)
        .filter(|var| !readme.contains(&format!("`{var}`")))
        .collect();
    assert!(missing.is_empty(), "settings missing from the README: {missing:?}");
}

/// The deployment's example environment file shows each setting it lists at its default (commented out), except
/// those it must show filled in: a value there that is not the default is a default changed in one place only.
#[test]
fn the_example_environment_shows_the_defaults() {
    let example = std::fs::read_to_string(Path::new(ROOT).join("deploy/ingot.env.example")).expect("the example");
    // Shown with a value an operator must choose: there is no useful default to show.
    let chosen = [
        "INGOT_DATABASE_URL",
        "INGOT_EVENT_KEYS",
        "INGOT_NODE_ID",
        "INGOT_ALLOWED_HOSTS",
    ];
    let defaults: std::collections::BTreeMap<&str, &str> = ingot::config::SETTINGS
        .iter()
        .map(|(_, var, default, _)| (*var, *default))
        .chain(
            ingot::integrations::config::SETTINGS
                .iter()
                .map(|(var, default, _)| (*var, *default)),
        )
        .collect();
    let mut checked = 0;
    let mut wrong = Vec::new();
    for line in example.lines() {
        let Some((var, value)) = line.strip_prefix('#').and_then(|l| l.split_once('=')) else {
            continue;
        };
        let Some(default) = defaults.get(var) else { continue };
        if chosen.contains(&var) {
            continue;
        }
        checked += 1;
        if value != *default {
            wrong.push(format!("{var}={value} (default {default})"));
        }
    }
    assert!(checked >= 20, "the example's settings were read: {checked}");
    assert!(
        wrong.is_empty(),
        "deploy/ingot.env.example shows other values than the defaults: {wrong:?}"
    );
}

/// Every README section has its own title: two sections of one name (two branches each adding "Operating Ingot")
/// split what belongs together, and a link to the title reaches only the first.
#[test]
fn readme_sections_are_unique() {
    let readme = std::fs::read_to_string(Path::new(ROOT).join("README.md")).expect("README");
    let mut seen = std::collections::BTreeSet::new();
    let mut in_code = false;
    let mut twice = Vec::new();
    for line in readme.lines() {
        if line.starts_with("```") {
            in_code = !in_code;
        }
        if !in_code && line.starts_with('#') && !seen.insert(line.trim().to_string()) {
            twice.push(line.to_string());
        }
    }
    assert!(twice.is_empty(), "README headings used twice: {twice:?}");
}

/// CI runs the README's test command as written (the command under "Run the tests"), so what a newcomer runs is
/// what CI checks.
#[test]
fn ci_runs_the_readmes_test_command() {
    let readme = std::fs::read_to_string(Path::new(ROOT).join("README.md")).expect("README");
    let after = readme
        .split("Run the tests")
        .nth(1)
        .expect("the README says how to run the tests");
    let command = after
        .split("```sh")
        .nth(1)
        .and_then(|block| block.split("```").next())
        .map(str::trim)
        .expect("a sh block with the test command");
    assert!(command.starts_with("cargo test"), "{command}");
    let ci = std::fs::read_to_string(Path::new(ROOT).join(".ci/run")).expect(".ci/run");
    assert!(
        ci.lines().any(|line| line.trim() == command),
        ".ci/run does not run the README's test command `{command}`"
    );
}
