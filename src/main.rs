//! The `trnsim` command line: names the commands, sets up logging, dispatches to [`trnsim::cli`]
//! (whose argument types clap fills directly) and turns the result into an exit code.

use std::io::{self, BufWriter, IsTerminal, Write};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::{CommandFactory, Parser, Subcommand};
use clap_complete::Shell;
use tracing_subscriber::EnvFilter;
use trnsim::cli;

/// Simulate Trainium-style ML accelerators (kernels, in time and in numbers) and the fleets built
/// from them (capacity scheduling under reservations).
#[derive(Parser)]
#[command(name = "trnsim", version, propagate_version = true)]
struct Cli {
    /// More logging on stderr (-v info, -vv debug, -vvv trace). RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    /// Less on stderr (-q errors only: no warnings, no logging; -qq no logging at all).
    #[arg(short, long, action = clap::ArgAction::Count, global = true, conflicts_with = "verbose")]
    quiet: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// A tour of trnsim on built-in defaults.
    Demo,
    /// Facts about the storage formats, and conversion into them.
    Dtype {
        #[command(subcommand)]
        command: cli::dtype::DtypeCommand,
    },
    /// Run a kernel trace on a hardware model: time, engine activity, utilization (and values).
    Run(cli::run::RunArgs),
    /// Run an NKI kernel as written (Python, recorded by trnsim's front end): the report is `run`'s.
    Nki(cli::nki::NkiArgs),
    /// The kernel library: parameterized kernels lowered to traces and run.
    Kernel {
        #[command(subcommand)]
        command: cli::kernel::KernelCommand,
    },
    /// Transformer models from config files: one step (prefill or decode) kernel by kernel.
    Model {
        #[command(subcommand)]
        command: cli::model::ModelCommand,
    },
    /// Hardware presets.
    Hw {
        #[command(subcommand)]
        command: cli::hw::HwCommand,
    },
    /// Simulate a fleet scenario: tenants, reservations in time, quotas, preemption, placement.
    Plan(cli::plan::PlanArgs),
    Import(cli::import::ImportArgs),
    /// Run a scenario over a grid of values and seeds in parallel: mean and 95 % CI per metric.
    #[command(args_conflicts_with_subcommands = true)]
    Sweep(cli::sweep::SweepCli),
    /// Systolic design-space mode: SCALE-Sim configs and topologies timed in closed form, in
    /// SCALE-Sim's convention and the Trainium-style one side by side.
    #[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
    Systolic(cli::systolic::SystolicArgs),
    /// The model against published Trainium measurements: each row's kernel, error, tolerance.
    Validate(cli::validate::ValidateArgs),
    /// Print a shell completion script to stdout.
    Completions {
        /// The shell.
        shell: Shell,
    },
}

/// The exit status after a broken pipe on stdout: what a shell reports for a process that
/// SIGPIPE ended (128 + 13), so `trnsim ... | head` looks like any Unix filter's. Rust ignores
/// SIGPIPE, so the write fails instead and the process exits with this status, silently.
const EXIT_BROKEN_PIPE: u8 = 141;

/// Set when a write to stdout met a closed pipe (whatever error the command then returned).
static BROKEN_PIPE: AtomicBool = AtomicBool::new(false);

fn main() -> ExitCode {
    let args = Cli::parse();
    init_logging(args.verbose, args.quiet);
    let stdout = Stdout::open();
    let done = run(args.command, stdout);
    if BROKEN_PIPE.load(Ordering::Relaxed) {
        return ExitCode::from(EXIT_BROKEN_PIPE);
    }
    match done {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // A full or closed stderr must not turn an error into a panic (exit 101): the
            // message is lost, the exit code is not.
            let _ = writeln!(io::stderr(), "trnsim: error: {e}");
            ExitCode::from(e.exit_code() as u8)
        }
    }
}

fn init_logging(verbose: u8, quiet: u8) {
    let level = match (verbose, quiet) {
        (_, 2..) => "off",
        (_, 1) => "error",
        (0, 0) => "warn",
        (1, 0) => "info",
        (2, 0) => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr)
        .with_ansi(io::stderr().is_terminal())
        // Its fallback for a failed write is `eprintln!`, which panics when stderr is full.
        .log_internal_errors(false)
        .init();
}

fn run(command: Command, stdout: Stdout) -> cli::Result<()> {
    let mut out = BufWriter::new(stdout);
    let text = match command {
        Command::Demo => return finish(cli::demo::run(&mut out), out),
        Command::Dtype { command } => {
            let done = cli::dtype::dispatch(&command, io::stdin().lock(), &mut out);
            return finish(done, out);
        }
        Command::Kernel { command } => {
            return finish(cli::kernel::dispatch(&command, &mut out), out);
        }
        Command::Nki(args) => return finish(cli::nki::dispatch(&args, &mut out), out),
        Command::Model { command } => return finish(cli::model::dispatch(&command, &mut out), out),
        Command::Hw { command } => return finish(cli::hw::dispatch(&command, &mut out), out),
        Command::Validate(args) => return finish(cli::validate::dispatch(&args, &mut out), out),
        Command::Completions { shell } => {
            // clap_complete panics on a failed write: it writes to memory, the text goes out
            // through `out` like any other.
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "trnsim", &mut script);
            String::from_utf8_lossy(&script).into_owned()
        }
        Command::Run(args) => cli::run::run(&args)?,
        Command::Plan(args) => cli::plan::plan(&args)?,
        Command::Import(args) => cli::import::run(&args)?,
        Command::Sweep(args) => cli::sweep::dispatch(&args)?,
        Command::Systolic(args) => {
            let o = cli::systolic::dispatch(&args)?;
            for w in &o.warnings {
                tracing::warn!("{w}");
            }
            o.text
        }
    };
    out.write_all(text.as_bytes())?;
    Ok(out.flush()?)
}

/// Flush what a command wrote, then return its result.
fn finish(done: cli::Result<()>, mut out: impl Write) -> cli::Result<()> {
    done?;
    Ok(out.flush()?)
}

/// The process's stdout, the one writer every command's output goes through. A descriptor
/// closed at start (`>&-`) makes every write an error instead of output silently lost; a broken
/// pipe sets [`BROKEN_PIPE`] so `main` exits quietly with [`EXIT_BROKEN_PIPE`].
struct Stdout {
    /// None when descriptor 1 was closed when the process started.
    inner: Option<io::Stdout>,
}

impl Stdout {
    fn open() -> Stdout {
        Stdout {
            inner: (!STDOUT_CLOSED.load(Ordering::Relaxed)).then(io::stdout),
        }
    }

    fn check<T>(&self, r: io::Result<T>) -> io::Result<T> {
        let r = r.map_err(|e| io::Error::new(e.kind(), format!("writing to stdout: {e}")));
        if let Err(e) = &r
            && e.kind() == io::ErrorKind::BrokenPipe
        {
            BROKEN_PIPE.store(true, Ordering::Relaxed);
        }
        r
    }
}

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let r = match &mut self.inner {
            Some(f) => f.write(buf),
            None => Err(io::Error::other("stdout is closed")),
        };
        self.check(r)
    }

    fn flush(&mut self) -> io::Result<()> {
        let r = match &mut self.inner {
            Some(f) => f.flush(),
            None => Ok(()),
        };
        self.check(r)
    }
}

/// Whether descriptor 1 was closed when the process started. The Rust runtime reopens a closed
/// standard descriptor on /dev/null before `main`, which would make `trnsim hw list >&-`
/// succeed with its output lost; so this is read earlier, from a constructor (Linux).
static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

#[cfg(target_os = "linux")]
#[used]
#[unsafe(link_section = ".init_array")]
static CHECK_STDOUT: extern "C" fn() = {
    extern "C" fn check_stdout() {
        // SAFETY: F_GETFD only queries the descriptor's flags; -1 (EBADF) means it is closed.
        let closed = unsafe { libc::fcntl(1, libc::F_GETFD) } == -1;
        STDOUT_CLOSED.store(closed, Ordering::Relaxed);
    }
    check_stdout
};
