//! How commands run so that they behave like buildspec 0.2 commands on CodeBuild: in
//! bash, one after the other, with variables (exported or not), functions and the working
//! directory carried from each command to the next and across phases, while a failing
//! command — `exit 3`, or its own `set -e` — fails that command only.
//!
//! One long-lived bash cannot give both: a `set -e` failure or an `exit` would end it.
//! So each command gets a fresh bash that first restores the state the previous command
//! left, then sources the command, and whose EXIT trap writes the state back out (a
//! `declare -p` of every variable that is neither readonly nor bash's own, `declare -f`,
//! and a `cd` to the current directory) while keeping the command's exit status. Shell
//! options (`set -e`, `shopt`) and traps are not carried: each command starts with
//! bash's defaults, so one command's `set -euo pipefail` cannot change how the next one
//! fails.
//!
//! Variable values only ever reach bash as process environment or through bash's own
//! `declare -p` quoting, which bash reads back exactly; the runner never writes a value
//! into shell text itself. The state directory is private (mode 0700) because the state
//! holds parameter-store values.

use crate::container_log::ContainerLog;
use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::DirBuilderExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

/// Runs as `bash -c WRAPPER bash STATE_DIR COMMAND_FILE`. Everything it defines is named
/// `__dockhand_*` so the state dump can leave it out.
const WRAPPER: &str = r#"__dockhand_dir=$1
__dockhand_command=$2
__dockhand_succeeding=${CODEBUILD_BUILD_SUCCEEDING-}
set --
if [ -f "$__dockhand_dir/state" ]; then
    . "$__dockhand_dir/state"
fi
# The runner decides whether the build is succeeding, not the state a command left.
if [ -n "$__dockhand_succeeding" ]; then
    export CODEBUILD_BUILD_SUCCEEDING="$__dockhand_succeeding"
fi
unset __dockhand_succeeding
__dockhand_save() {
    local __dockhand_name __dockhand_attributes
    {
        while IFS= read -r __dockhand_name; do
            __dockhand_attributes=${!__dockhand_name@a}
            case $__dockhand_attributes in *r*) continue ;; esac
            case $__dockhand_name in
                __dockhand_*|_|PWD|SHLVL) continue ;;
                # bash sets these itself in every shell; carried over only if a command
                # exported them on purpose.
                BASH|BASHPID|BASH_ALIASES|BASH_ARGC|BASH_ARGV|BASH_ARGV0|BASH_CMDS|BASH_COMMAND|\
                BASH_EXECUTION_STRING|BASH_LINENO|BASH_LOADABLES_PATH|BASH_MONOSECONDS|BASH_REMATCH|\
                BASH_SOURCE|BASH_SUBSHELL|BASH_TRAPSIG|BASH_VERSION|COLUMNS|COMP_WORDBREAKS|DIRSTACK|\
                EPOCHREALTIME|EPOCHSECONDS|FUNCNAME|GROUPS|HISTCMD|HOSTNAME|HOSTTYPE|LINENO|LINES|\
                MACHTYPE|OPTERR|OPTIND|OSTYPE|PIPESTATUS|RANDOM|SECONDS|SRANDOM)
                    case $__dockhand_attributes in *x*) ;; *) continue ;; esac ;;
            esac
            builtin declare -p -- "$__dockhand_name"
        done < <(builtin compgen -v)
        builtin declare -f
        builtin printf 'builtin cd -- %q || builtin exit 1\n' "$PWD"
    } > "$__dockhand_dir/state.next" 2>/dev/null
}
trap '{ __dockhand_status=$?; set +o xtrace +o verbose +o errexit +o nounset +o pipefail; } 2>/dev/null
trap - ERR DEBUG RETURN
__dockhand_save
builtin exit "$__dockhand_status"' EXIT
. "$__dockhand_command"
"#;

/// Runs as `bash -c READER bash STATE_DIR NAME...`: restores the state the last command
/// left and writes, for each NAME, `1VALUE` or `0` (unset), each ended by a NUL, which no
/// bash value holds. Nothing is written back: reading changes no state.
const READER: &str = r#"__dockhand_dir=$1
shift
if [ -f "$__dockhand_dir/state" ]; then
    . "$__dockhand_dir/state" >/dev/null 2>&1
fi
for __dockhand_name; do
    if [ -n "${!__dockhand_name+set}" ]; then
        builtin printf '1%s\0' "${!__dockhand_name}"
    else
        builtin printf '0\0'
    fi
done
"#;

/// How a command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Exit {
    Status(i32),
    Signal(i32),
    NotStarted(String),
}

impl Exit {
    pub fn succeeded(&self) -> bool {
        *self == Exit::Status(0)
    }

    /// The `Reason:` of CodeBuild's COMMAND_EXECUTION_ERROR message.
    pub fn reason(&self) -> String {
        match self {
            Exit::Status(code) => format!("exit status {code}"),
            Exit::Signal(signal) => format!("signal {signal}"),
            Exit::NotStarted(why) => format!("could not start bash: {why}"),
        }
    }
}

impl From<ExitStatus> for Exit {
    fn from(status: ExitStatus) -> Self {
        match (status.code(), status.signal()) {
            (Some(code), _) => Exit::Status(code),
            (None, Some(signal)) => Exit::Signal(signal),
            (None, None) => Exit::NotStarted(format!("unknown exit {status:?}")),
        }
    }
}

/// The first `bash` on `path`.
pub(crate) fn find_bash(path: &str) -> Option<PathBuf> {
    path.split(':')
        .filter(|dir| !dir.is_empty())
        .map(|dir| Path::new(dir).join("bash"))
        .find(|candidate| candidate.is_file())
}

enum Environment<'e> {
    /// The bootstrap: the whole initial environment, once.
    Initial(&'e [(String, String)]),
    /// Every command after: the state file carries the rest.
    Succeeding(bool),
}

pub(crate) struct PersistentShell {
    bash: PathBuf,
    state_dir: PathBuf,
    start_dir: PathBuf,
}

impl PersistentShell {
    /// A shell whose state lives in a new private directory under the system's temporary
    /// directory, removed when the shell is dropped.
    pub fn create(bash: PathBuf, start_dir: PathBuf, unique: &str) -> io::Result<Self> {
        let state_dir = std::env::temp_dir().join(format!("dockhand-runner-{unique}"));
        fs::DirBuilder::new().mode(0o700).create(&state_dir)?;
        Ok(PersistentShell {
            bash,
            state_dir,
            start_dir,
        })
    }

    /// Captures the initial environment as the state every command starts from, with
    /// `start_dir` as its working directory.
    pub fn start(&self, env: &[(String, String)], log: &mut ContainerLog) -> Result<(), String> {
        match self.execute(":", Environment::Initial(env), log) {
            (exit, true) if exit.succeeded() => Ok(()),
            (exit, _) => Err(format!(
                "bash ({}) could not record the build's environment: {}",
                self.bash.display(),
                exit.reason()
            )),
        }
    }

    /// Runs one buildspec command.
    pub fn run(&self, command: &str, succeeding: bool, log: &mut ContainerLog) -> Exit {
        let (exit, saved) = self.execute(command, Environment::Succeeding(succeeding), log);
        if !saved && !matches!(exit, Exit::NotStarted(_)) {
            log.container(
                "Warning: the command did not save its shell state (did it replace the EXIT trap?); \
                 the next command starts from the state before it",
            );
        }
        exit
    }

    /// The values `names` have in the state the last command left: `None` for a variable
    /// that is not set. Reads only; runs no command of the build.
    pub fn values(&self, names: &[String]) -> Result<Vec<Option<String>>, String> {
        if names.is_empty() {
            return Ok(vec![]);
        }
        let output = self
            .bash(READER)
            .args(names)
            .stderr(Stdio::null())
            .output()
            .map_err(|e| format!("could not start bash: {e}"))?;
        if !output.status.success() {
            return Err(format!(
                "bash could not restore the build's last state ({})",
                Exit::from(output.status).reason()
            ));
        }
        let mut fields = output.stdout.split(|b| *b == 0);
        let values: Vec<Option<String>> = names
            .iter()
            .map_while(|_| match fields.next()? {
                [b'1', value @ ..] => Some(Some(String::from_utf8_lossy(value).into_owned())),
                _ => Some(None),
            })
            .collect();
        if values.len() != names.len() {
            return Err("bash answered fewer values than it was asked for".into());
        }
        Ok(values)
    }

    /// `bash -c SCRIPT bash STATE_DIR`, in the start directory, with an empty environment
    /// and no input: the caller adds the rest.
    fn bash(&self, script: &str) -> Command {
        let mut command = Command::new(&self.bash);
        command
            .args(["--noprofile", "--norc", "-c", script, "bash"])
            .arg(&self.state_dir)
            .env_clear()
            .current_dir(&self.start_dir)
            .stdin(Stdio::null());
        command
    }

    /// Returns how the command ended and whether it left a new state behind.
    fn execute(&self, command: &str, env: Environment, log: &mut ContainerLog) -> (Exit, bool) {
        let command_file = self.state_dir.join("command");
        let next_state = self.state_dir.join("state.next");
        let _ = fs::remove_file(&next_state);
        if let Err(e) = fs::write(&command_file, command) {
            return (
                Exit::NotStarted(format!("writing {}: {e}", command_file.display())),
                false,
            );
        }
        let child = self.spawn(&command_file, env);
        let exit = match child {
            Ok((child, output)) => match stream_until_exit(child, output, log) {
                Ok(status) => Exit::from(status),
                Err(e) => Exit::NotStarted(format!("waiting for bash: {e}")),
            },
            Err(e) => Exit::NotStarted(e.to_string()),
        };
        let saved = fs::rename(&next_state, self.state_dir.join("state")).is_ok();
        (exit, saved)
    }

    fn spawn(&self, command_file: &Path, env: Environment) -> io::Result<(Child, io::PipeReader)> {
        // One pipe for stdout and stderr keeps their lines in the order they were written.
        let (output, writer) = io::pipe()?;
        // The Command holds the pipe's write ends until it is dropped: it must not outlive
        // the spawn, or the reader would never see end of file.
        let mut command = self.bash(WRAPPER);
        command.arg(command_file).stdout(writer.try_clone()?).stderr(writer);
        match env {
            Environment::Initial(vars) => {
                command.envs(vars.iter().map(|(k, v)| (k, v)));
                // Without it bash would take the physical path and a symlinked start
                // directory would not match CODEBUILD_SRC_DIR.
                command.env("PWD", &self.start_dir);
            }
            Environment::Succeeding(ok) => {
                command.env("CODEBUILD_BUILD_SUCCEEDING", if ok { "1" } else { "0" });
            }
        }
        let child = command.spawn()?;
        drop(command);
        Ok((child, output))
    }
}

impl Drop for PersistentShell {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.state_dir);
    }
}

/// Copies the command's output to the log until the command exits. A background process
/// the command started (`dockerd &`) keeps the pipe open after that, so end of file
/// cannot be what ends the wait; once bash has exited, output already on its way is
/// taken for a moment more and the rest is left to the background process.
fn stream_until_exit(mut child: Child, output: io::PipeReader, log: &mut ContainerLog) -> io::Result<ExitStatus> {
    let (tx, rx) = mpsc::channel::<Vec<u8>>();
    std::thread::spawn(move || {
        let mut output = output;
        let mut buf = [0u8; 8192];
        loop {
            match output.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if tx.send(buf[..n].to_vec()).is_err() {
                        break;
                    }
                }
            }
        }
    });
    let status = loop {
        match rx.recv_timeout(Duration::from_millis(50)) {
            Ok(chunk) => log.output(&chunk),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break child.wait()?,
        }
        if let Some(status) = child.try_wait()? {
            break status;
        }
    };
    let deadline = Instant::now() + Duration::from_secs(1);
    while let Ok(chunk) = rx.recv_timeout(Duration::from_millis(100)) {
        log.output(&chunk);
        if Instant::now() > deadline {
            break;
        }
    }
    log.end_output();
    Ok(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixture {
        shell: PersistentShell,
        _work: TempDir,
    }

    struct TempDir(PathBuf);
    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn shell(env: &[(&str, &str)]) -> Fixture {
        let uuid = crate::settings::random_uuid();
        let work = std::env::temp_dir().join(format!("dockhand-runner-test-{uuid}"));
        fs::create_dir_all(&work).unwrap();
        let bash = find_bash(crate::environment::DEFAULT_PATH).expect("bash");
        let shell = PersistentShell::create(bash, work.clone(), &uuid).unwrap();
        let mut env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        env.push(("PATH".into(), crate::environment::DEFAULT_PATH.into()));
        let mut sink = vec![];
        shell.start(&env, &mut ContainerLog::new(&mut sink, &[])).unwrap();
        Fixture {
            shell,
            _work: TempDir(work),
        }
    }

    fn run(f: &Fixture, command: &str) -> (Exit, String) {
        let mut out = vec![];
        let exit = f.shell.run(command, true, &mut ContainerLog::new(&mut out, &[]));
        (exit, String::from_utf8(out).unwrap())
    }

    #[test]
    fn state_carries_and_failures_stay_local() {
        let f = shell(&[("GIVEN", "from env")]);
        assert_eq!(
            run(&f, "plain=1; export EXPORTED=2; mkdir -p sub; cd sub").0,
            Exit::Status(0)
        );
        let (exit, out) = run(
            &f,
            "set -e; echo \"$GIVEN/$plain/$EXPORTED/${PWD##*/}\"; false; echo unreachable",
        );
        assert_eq!(exit, Exit::Status(1));
        assert_eq!(out, "from env/1/2/sub\n");
        // The failing command's own `set -e` did not leak, and its state before the
        // failure was kept.
        let (exit, out) = run(&f, "false; echo \"still $plain $-\"");
        assert_eq!(exit, Exit::Status(0));
        let flags = out.strip_prefix("still 1 ").expect(&out).trim_end();
        assert!(!flags.contains('e'), "set -e carried over: {flags}");
    }

    #[test]
    fn exit_status_and_unset_variables() {
        let f = shell(&[("DROP_ME", "x")]);
        assert_eq!(run(&f, "unset DROP_ME; exit 7").0, Exit::Status(7));
        assert_eq!(run(&f, "echo \"[${DROP_ME-unset}]\"").1, "[unset]\n");
        assert!(!run(&f, "set -u; echo $nope").0.succeeded());
        assert_eq!(run(&f, "echo ok").1, "ok\n");
        assert_eq!(run(&f, "kill -TERM $$").0, Exit::Signal(15));
    }

    #[test]
    fn arrays_functions_and_attributes_carry() {
        let f = shell(&[]);
        run(
            &f,
            "declare -a list=(a 'b c'); declare -A map=([k]=v); declare -i n=41; greet() { echo \"hi $1\"; }",
        );
        let (_, out) = run(&f, "n+=1; echo \"${#list[@]} ${list[1]} ${map[k]} $n\"; greet you");
        assert_eq!(out, "2 b c v 42\nhi you\n");
    }

    #[test]
    fn output_of_both_streams_is_logged_in_order() {
        let f = shell(&[]);
        let (_, out) = run(&f, "echo one; echo two >&2; printf three");
        assert_eq!(out, "one\ntwo\nthree\n");
    }

    #[test]
    fn a_background_process_does_not_hold_the_command() {
        let f = shell(&[]);
        let started = Instant::now();
        let (exit, out) = run(&f, "sleep 5 & echo started");
        assert_eq!(exit, Exit::Status(0));
        assert_eq!(out, "started\n");
        assert!(started.elapsed() < Duration::from_secs(4), "{:?}", started.elapsed());
    }

    #[test]
    fn the_exit_trap_of_a_command_replaces_the_runners() {
        let f = shell(&[]);
        run(&f, "kept=1");
        let (exit, out) = run(&f, "lost=1; trap 'echo own trap' EXIT");
        assert_eq!(exit, Exit::Status(0));
        assert!(
            out.contains("own trap") && out.contains("did not save its shell state"),
            "{out}"
        );
        assert_eq!(run(&f, "echo \"${kept-}${lost-}\"").1, "1\n");
    }

    #[test]
    fn values_are_read_from_the_last_state_without_changing_it() {
        let f = shell(&[("GIVEN", "from env")]);
        run(&f, "plain='a b'; export NL=$'x\\ny'; EMPTY=; unset GIVEN; cd /");
        let names: Vec<String> = ["plain", "NL", "EMPTY", "GIVEN", "NEVER"].map(String::from).into();
        assert_eq!(
            f.shell.values(&names).unwrap(),
            [
                Some("a b".to_owned()),
                Some("x\ny".to_owned()),
                Some(String::new()),
                None,
                None
            ]
        );
        assert_eq!(run(&f, "echo \"$plain $PWD\"").1, "a b /\n");
    }

    #[test]
    fn state_directory_is_private_and_removed() {
        let f = shell(&[]);
        let dir = f.shell.state_dir.clone();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(fs::metadata(&dir).unwrap().permissions().mode() & 0o777, 0o700);
        drop(f);
        assert!(!dir.exists());
    }
}
