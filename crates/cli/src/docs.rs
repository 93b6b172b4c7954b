//! Man pages and shell completions from a program's clap definition, so they never
//! disagree with `--help`: `make deb` asks each program for them (with
//! [`GENERATE_ENV`] set, a program writes them and exits; an environment variable rather
//! than a hidden option, because clap's bash completions list hidden options too), and
//! `suriguardctl completion SHELL` prints a completion script the way `cscli completion`
//! does.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

pub use clap_complete::Shell;

/// Set to a directory, a suriguard program writes its man pages and completions there
/// ([`write_docs`]) instead of running.
pub const GENERATE_ENV: &str = "SURIGUARD_GENERATE_DOCS";

/// If [`GENERATE_ENV`] is set: writes `cmd`'s docs there and returns the process's exit
/// status (the caller exits with it); `None` otherwise.
pub fn generate_if_asked(cmd: impl FnOnce() -> clap::Command, section: &str) -> Option<i32> {
    let dir = std::env::var_os(GENERATE_ENV)?;
    Some(match write_docs(cmd(), section, Path::new(&dir)) {
        Ok(files) => {
            for f in files {
                println!("{}", f.display());
            }
            0
        }
        Err(e) => {
            eprintln!("{GENERATE_ENV}={}: {e}", Path::new(&dir).display());
            1
        }
    })
}

/// Writes `SHELL`'s completion script for `cmd` to `out`.
pub fn completion(shell: Shell, mut cmd: clap::Command, out: &mut dyn Write) {
    let name = cmd.get_name().to_string();
    clap_complete::generate(shell, &mut cmd, name, out);
}

/// Writes `dir/man/NAME.SECTION`, one page per visible subcommand
/// (`dir/man/NAME-SUB.SECTION`, nested subcommands likewise), and the bash, zsh and fish
/// completions (`dir/completions/NAME.bash`, `_NAME`, `NAME.fish`). Returns the files
/// written.
pub fn write_docs(cmd: clap::Command, section: &str, dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut cmd = cmd;
    cmd.build();
    let man = dir.join("man");
    let comp = dir.join("completions");
    std::fs::create_dir_all(&man)?;
    std::fs::create_dir_all(&comp)?;
    let mut written = Vec::new();
    let name = cmd.get_name().to_string();
    pages(&cmd, &name, &name, section, &man, &mut written)?;
    for (shell, file) in [
        (Shell::Bash, format!("{name}.bash")),
        (Shell::Zsh, format!("_{name}")),
        (Shell::Fish, format!("{name}.fish")),
    ] {
        let mut buf = Vec::new();
        completion(shell, cmd.clone(), &mut buf);
        let path = comp.join(file);
        std::fs::write(&path, buf)?;
        written.push(path);
    }
    Ok(written)
}

/// The page of `cmd` (titled `page`, its synopsis starting with `invocation`), then its
/// visible subcommands' pages.
fn pages(
    cmd: &clap::Command,
    page: &str,
    invocation: &str,
    section: &str,
    dir: &Path,
    written: &mut Vec<PathBuf>,
) -> io::Result<()> {
    let titled = cmd
        .clone()
        .name(page.to_string())
        .bin_name(invocation.to_string());
    let mut buf = Vec::new();
    clap_mangen::Man::new(titled)
        .section(section)
        .render(&mut buf)?;
    let path = dir.join(format!("{page}.{section}"));
    std::fs::write(&path, buf)?;
    written.push(path);
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        if sub.get_name() == "help" {
            continue;
        }
        pages(
            sub,
            &format!("{page}-{}", sub.get_name()),
            &format!("{invocation} {}", sub.get_name()),
            section,
            dir,
            written,
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_for_every_visible_subcommand_and_three_shells() {
        let cmd = clap::Command::new("demo")
            .about("A demo")
            .arg(clap::Arg::new("config").long("config").global(true))
            .subcommand(
                clap::Command::new("decisions")
                    .about("Decisions in force")
                    .subcommand(clap::Command::new("list").about("List them")),
            )
            .subcommand(clap::Command::new("secret").hide(true));
        let dir = tempfile_dir();
        let files = write_docs(cmd, "1", &dir).unwrap();
        let names: Vec<String> = files
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            [
                "demo.1",
                "demo-decisions.1",
                "demo-decisions-list.1",
                "demo.bash",
                "_demo",
                "demo.fish"
            ]
        );
        let list = std::fs::read_to_string(dir.join("man/demo-decisions-list.1")).unwrap();
        assert!(list.contains("demo decisions list"), "{list}");
        assert!(
            list.contains("config"),
            "global options are on subcommand pages: {list}"
        );
        let bash = std::fs::read_to_string(dir.join("completions/demo.bash")).unwrap();
        assert!(
            bash.contains("opts=\"-h --config --help decisions "),
            "{bash}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn tempfile_dir() -> PathBuf {
        let d = std::env::temp_dir().join(format!("suriguard-cli-docs-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }
}
