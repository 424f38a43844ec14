//! `trnsim nki`: run an NKI kernel as written. The binary carries the Python front end
//! (`python/trnsim/`, embedded by `build.rs`), writes it once into the temp dir, runs it with
//! `python3` to record the kernel as a trace (contract: `python/trnsim/nki/driver.py`), then runs
//! that trace exactly as `trnsim run` does.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::Deserialize;
use serde_json::{Value, json};

use super::hw::HwArgs;
use super::run::{Execution, buffer, execute, name_path};
use super::{Error, Result};
use crate::arch::Hardware;
use crate::atomic::OutputSet;
use crate::chip::exec::ExecOptions;
use crate::isa::{BufferId, Program};
use crate::kernels::{self, CheckReport};
use crate::numerics::{Cast, DType, Tensor, npy};
use crate::report::Format;

include!(concat!(env!("OUT_DIR"), "/python_files.rs"));

/// The order an NKI kernel's instructions run in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Order {
    /// List-scheduled, as the compiler orders them (the default).
    #[default]
    Compiler,
    /// The kernel's source order (loops unrolled).
    Source,
}

/// Default of `trnsim nki --max-instructions`.
pub const MAX_RECORDED_INSTRUCTIONS: u64 = 1 << 21;

/// Options of `trnsim nki`.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct NkiArgs {
    /// The kernel: FILE.py, or FILE.py::FUNCTION when the file has several kernels.
    pub kernel: String,
    /// The hardware the kernel runs on.
    #[command(flatten)]
    pub hw: HwArgs,
    /// Run the kernel on N physical cores as one logical NeuronCore (LNC=2 on trn2 and trn3):
    /// the kernel is recorded once per `nl.program_id`. The same as `--hw-set lnc=N`.
    #[arg(long, value_name = "N")]
    pub lnc: Option<u32>,
    /// A kernel argument: PARAM=file.npy (its shape and dtype come from the file's header).
    #[arg(long = "input", value_name = "PARAM=FILE", value_parser = name_path)]
    pub inputs: Vec<(String, PathBuf)>,
    /// A parameter's dtype when the file does not say it (bf16/fp8 as raw bits or float32
    /// values): PARAM=DTYPE.
    #[arg(long = "dtype", value_name = "PARAM=DTYPE", value_parser = name_dtype)]
    pub dtypes: Vec<(String, DType)>,
    /// Write an output's final values: NAME=file.npy (float32); NAME is a returned tensor's name
    /// or a buffer of the trace.
    #[arg(long = "output", value_name = "NAME=FILE", value_parser = name_path)]
    pub outputs: Vec<(String, PathBuf)>,
    /// Write every returned tensor to DIR/out-NAME.npy (float32) and list them in
    /// DIR/outputs.json (name, path, shape, dtype): how the Python API gets its arrays back.
    #[arg(long, value_name = "DIR")]
    pub output_dir: Option<PathBuf>,
    /// Timing only: read only the inputs' headers and skip computing values.
    #[arg(long)]
    pub no_data: bool,
    /// Write a Chrome/Perfetto trace-event timeline (open in ui.perfetto.dev).
    #[arg(long)]
    pub timeline: Option<PathBuf>,
    /// Write the kernel trace that runs, in the order it runs (runs again with `trnsim run`).
    #[arg(long)]
    pub emit_trace: Option<PathBuf>,
    /// Instruction order: `compiler` list-schedules the recorded kernel as neuronx-cc's default
    /// flow does (each engine runs the earliest ready instruction); `source` keeps the kernel's
    /// own order, each engine strictly in it.
    #[arg(long, value_enum, default_value_t = Order::Compiler)]
    pub order: Order,
    /// Allocate as NKI's `CompileConfig(address_rotation=DISABLE)`: a tensor takes the SBUF
    /// buffer just freed rather than spare memory, so a loop's next writes wait for this
    /// iteration's reads (PSUM banks still rotate).
    #[arg(long)]
    pub no_address_rotation: bool,
    /// The compiler order's lookahead: an engine takes an instruction at most this many places
    /// after the earliest one not yet issued (default: the fitted 160, docs/validation.md).
    #[arg(long, value_name = "INSTRS",
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub window: Option<usize>,
    /// Compare the outputs with a NumPy reference REF.py::FUNCTION (exit 1 above the tolerance).
    #[arg(long, value_name = "REF.py::FUNCTION")]
    pub check_against: Option<String>,
    /// The check's limit on the relative error (default: from the kernel's dtypes and sizes).
    #[arg(long)]
    pub tolerance: Option<f64>,
    /// Refuse a kernel that records more instructions than this (a loop bound written too
    /// large would otherwise record until memory runs out). A DMA counts once for each queue
    /// it is split over. The default is about twice the largest kernel of the validation
    /// suite (1.09 M); a run at it takes about 5 s and 1 GB [default: 2097152].
    #[arg(long, value_name = "N",
          value_parser = clap::builder::RangedU64ValueParser::<u64>::new().range(1..))]
    pub max_instructions: Option<u64>,
    /// The Python interpreter (default: $TRNSIM_PYTHON, else python3).
    #[arg(long)]
    pub python: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

fn name_dtype(s: &str) -> std::result::Result<(String, DType), String> {
    let (n, d) =
        crate::config::parse_pair(s).map_err(|_| format!("expected PARAM=DTYPE, found '{s}'"))?;
    Ok((
        n,
        d.parse()
            .map_err(|e: crate::numerics::Error| e.to_string())?,
    ))
}

/// What `trnsim nki` produced: the report, and the failed check if any (exit 1 after the
/// report is printed).
pub struct NkiOutput {
    /// The report text.
    pub text: String,
    /// Set when `--check-against` failed.
    pub failed: Option<Error>,
}

/// Run `trnsim nki`, writing the report to `out`; a failed check is returned after it.
pub fn dispatch(args: &NkiArgs, out: &mut impl Write) -> Result<()> {
    let r = run(args)?;
    out.write_all(r.text.as_bytes())?;
    out.flush()?;
    r.failed.map_or(Ok(()), Err)
}

/// The front end's answer to a "record" request.
#[derive(Debug, Deserialize)]
struct Recorded {
    kernel: String,
    #[serde(default)]
    inputs: Vec<ParamBuffer>,
    #[serde(default)]
    outputs: Vec<OutputBuffer>,
    /// The LNC the kernel was recorded with: the launch grid of an entry function's
    /// `kernel[N](...)`, else the hardware's.
    #[serde(default)]
    lnc: Option<u32>,
}

#[derive(Debug, Deserialize)]
struct ParamBuffer {
    param: String,
    buffer: String,
}

#[derive(Debug, Deserialize)]
struct OutputBuffer {
    name: String,
    buffer: String,
    #[serde(default)]
    dtype: Option<String>,
}

/// An input file with its header read: the parameter, its path, shape and dtype.
struct Arg {
    param: String,
    path: PathBuf,
    header: npy::NpyHeader,
    dtype: DType,
}

/// Record the kernel with the front end, run the trace, write the files, check, report.
pub(crate) fn run(args: &NkiArgs) -> Result<NkiOutput> {
    let mut set = args.hw.overrides_checked()?;
    if let Some(n) = args.lnc {
        set.push(("lnc".to_string(), n.to_string()));
    }
    let lnc_given = set.iter().any(|(k, _)| k == "lnc");
    let mut hw = super::hw::load_hardware(&args.hw.hw, &set)?;
    let (kernel_file, function) = split_target(&args.kernel, "the kernel")?;
    if args.output_dir.is_some() && args.no_data {
        return Err(Error::Input(
            "--output-dir needs values; it cannot be combined with --no-data".into(),
        ));
    }
    if args.check_against.is_some() && args.no_data {
        return Err(Error::Input(
            "--check-against compares values; it cannot be combined with --no-data".into(),
        ));
    }
    let given = resolve_args(args)?;
    let max_instrs = args.max_instructions.unwrap_or(MAX_RECORDED_INSTRUCTIONS);
    let work = WorkDir::new()?;
    let trace_path = work.0.join("kernel.trace");
    let request = json!({
        "mode": "record",
        "kernel_file": absolute(&kernel_file)?,
        "function": function,
        "hw": hw.name,
        "dma_engines": hw.dma.engines,
        "lnc": hw.lnc,
        "lnc_max": hw.chip.lnc_max,
        "lnc_given": lnc_given,
        "sbuf_bytes_per_partition": hw.sbuf.bytes_per_partition,
        "psum_bytes_per_partition": hw.psum.bytes_per_partition,
        "args": given.iter().map(|a| json!({
            "name": a.param, "shape": a.header.shape, "dtype": a.dtype.name(),
        })).collect::<Vec<_>>(),
        "trace_path": absolute(&trace_path)?,
        "address_rotation": !args.no_address_rotation,
        "max_instructions": max_instrs,
    });
    let stage = crate::stage::Stage::start("record");
    let recorded: Recorded = parse_response(&front_end(args, &request)?)?;
    stage.done(format_args!(
        "kernel {} through the NKI front end",
        recorded.kernel
    ));
    if let Some(n) = recorded.lnc.filter(|&n| n != hw.lnc) {
        // The kernel file's launch grid sets the LNC (the front end checked it against
        // chip.lnc_max and any --lnc).
        set.push(("lnc".to_string(), n.to_string()));
        hw = super::hw::load_hardware(&args.hw.hw, &set)?;
    }
    // The front end's own trace, bounded by the instruction limit rather than the limit on
    // text a user hands in (an instruction line is well under 1 KiB).
    let limit_bytes = crate::config::MAX_TEXT_INPUT_BYTES.max(max_instrs.saturating_mul(1024));
    let program = super::run::load_trace_limited(&trace_path, limit_bytes)?;
    let file = format!("{}::{}", kernel_file.display(), recorded.kernel);
    let program = match args.order {
        Order::Compiler => {
            let window = args
                .window
                .unwrap_or(crate::chip::schedule::COMPILER_WINDOW_INSTRS);
            let stage = crate::stage::Stage::start("schedule");
            let p = crate::chip::compiler_order(&program, &hw, &file, window)?;
            stage.done(format_args!(
                "{} instructions in compiler order",
                p.instrs.len()
            ));
            p
        }
        Order::Source => program,
    };
    // --emit-trace, --output, --output-dir's files and --timeline are one output set, moved
    // into place after the run (separate files: --output-dir keeps what else DIR holds).
    let mut set = OutputSet::new();
    if let Some(path) = &args.emit_trace {
        let text = match args.order {
            Order::Compiler => crate::isa::print::print(&program),
            Order::Source => super::read(&trace_path)?,
        };
        set.bytes(path, text.as_bytes())?;
    }
    let mut inputs = Vec::new();
    if !args.no_data {
        for a in &given {
            let id = param_buffer(&program, &recorded, &a.param)?;
            inputs.push((id, read_values(a, program.buffer(id).dtype)?));
        }
    }
    let mut outputs = args
        .outputs
        .iter()
        .map(|(n, p)| Ok((output_buffer(&program, &recorded, n)?, p.clone())))
        .collect::<Result<Vec<_>>>()?;
    if let Some(dir) = &args.output_dir {
        outputs.extend(output_dir(dir, &program, &recorded, &mut set)?);
    }
    let how = Execution {
        data: !args.no_data,
        exec: ExecOptions::default(),
        outputs,
        timeline: args.timeline.clone(),
    };
    let (result, report) = execute(&program, &hw, &file, &inputs, &how, &mut set)?;
    set.commit()?;
    let check = match (&args.check_against, &result.state) {
        (Some(target), Some(state)) => {
            let got = kernel_outputs(&program, &recorded, args)?;
            let values = |id: BufferId| state.values(id).to_vec();
            Some(check(
                args, target, &work, &program, &inputs, &got, &values, &hw,
            )?)
        }
        _ => None,
    };
    let text = render(&report, check.as_ref(), args.format);
    let failed = check.filter(|c| !c.passed).map(|c| {
        Error::CheckFailed(format!(
            "kernel {}: max relative error {:.3e} exceeds the tolerance {:.3e}",
            recorded.kernel, c.max_rel_err, c.tolerance
        ))
    });
    Ok(NkiOutput { text, failed })
}

/// `FILE.py[::FUNCTION]` split.
fn split_target(s: &str, what: &str) -> Result<(PathBuf, Option<String>)> {
    let (file, function) = match s.rsplit_once("::") {
        Some((f, n)) if !n.is_empty() => (f, Some(n.to_string())),
        Some(_) => {
            return Err(Error::Input(format!(
                "{what}: expected FILE.py::FUNCTION, found '{s}'"
            )));
        }
        None => (s, None),
    };
    let path = PathBuf::from(file);
    if !path.is_file() {
        return Err(Error::File {
            path,
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
        });
    }
    Ok((path, function))
}

fn absolute(p: &Path) -> Result<String> {
    let abs = std::path::absolute(p).map_err(Error::file(p))?;
    Ok(abs.display().to_string())
}

/// Read each input's header and settle its dtype (`--dtype`, else the header's).
fn resolve_args(args: &NkiArgs) -> Result<Vec<Arg>> {
    for (param, _) in &args.dtypes {
        if !args.inputs.iter().any(|(p, _)| p == param) {
            return Err(Error::Input(format!(
                "--dtype {param}=...: no --input {param}=FILE"
            )));
        }
    }
    let mut out: Vec<Arg> = Vec::new();
    for (param, path) in &args.inputs {
        if out.iter().any(|a| &a.param == param) {
            return Err(Error::Input(format!("--input {param} is given twice")));
        }
        let header = npy::NpyHeader::read(path)?;
        let named = args
            .dtypes
            .iter()
            .rev()
            .find(|(p, _)| p == param)
            .map(|d| d.1);
        let dtype = match named {
            Some(d) => d,
            None => header.dtype().ok_or_else(|| {
                Error::Input(format!(
                    "{}: element type '{}' does not name a dtype; say which with --dtype {param}=DTYPE",
                    path.display(),
                    header.descr
                ))
            })?,
        };
        out.push(Arg {
            param: param.clone(),
            path: path.clone(),
            header,
            dtype,
        });
    }
    Ok(out)
}

/// The buffer a parameter was bound to.
fn param_buffer(program: &Program, rec: &Recorded, param: &str) -> Result<BufferId> {
    let name = rec
        .inputs
        .iter()
        .find(|b| b.param == param)
        .map_or(param, |b| b.buffer.as_str());
    buffer(program, name, "--input")
}

/// The buffer of `--output NAME`: a returned tensor's name, a parameter, or a buffer.
fn output_buffer(program: &Program, rec: &Recorded, name: &str) -> Result<BufferId> {
    if let Some(o) = rec.outputs.iter().find(|o| o.name == name) {
        return buffer(program, &o.buffer, "--output");
    }
    if let Some(b) = rec.inputs.iter().find(|b| b.param == name) {
        return buffer(program, &b.buffer, "--output");
    }
    buffer(program, name, "--output")
}

/// `--output-dir`: create DIR, stage the list of the returned tensors as DIR/outputs.json, and
/// return where each one's values go.
fn output_dir(
    dir: &Path,
    program: &Program,
    rec: &Recorded,
    set: &mut OutputSet,
) -> Result<Vec<(BufferId, PathBuf)>> {
    super::create_dir(dir)?;
    let mut listed = Vec::new();
    let mut out = Vec::new();
    for o in &rec.outputs {
        let id = buffer(program, &o.buffer, "the front end's output")?;
        let path = dir.join(format!("out-{}.npy", o.name));
        let b = program.buffer(id);
        let dtype = o
            .dtype
            .clone()
            .unwrap_or_else(|| b.dtype.name().to_string());
        listed.push(
            json!({"name": o.name, "path": absolute(&path)?, "shape": b.shape, "dtype": dtype}),
        );
        out.push((id, path));
    }
    let mut text = serde_json::to_string_pretty(&listed).expect("serializes");
    text.push('\n');
    set.bytes(&dir.join("outputs.json"), text.as_bytes())?;
    Ok(out)
}

/// The kernel's outputs in order: the returned tensors, else (a kernel writing into its
/// parameters) the `--output` buffers as given.
fn kernel_outputs(program: &Program, rec: &Recorded, args: &NkiArgs) -> Result<Vec<BufferId>> {
    if rec.outputs.is_empty() {
        return args
            .outputs
            .iter()
            .map(|(n, _)| output_buffer(program, rec, n))
            .collect();
    }
    rec.outputs
        .iter()
        .map(|o| buffer(program, &o.buffer, "the front end's output"))
        .collect()
}

/// The input's values as the kernel's buffer holds them: float32 values are rounded to the
/// buffer's dtype; raw bits (unsigned integers or numpy's `V` void type of the dtype's width, as
/// `ml_dtypes` saves bf16 and fp8) are taken as they are.
fn read_values(a: &Arg, dtype: DType) -> Result<Tensor> {
    Ok(npy::read_tensor_or_raw_bits(&a.path, &a.header, dtype)?)
}

/// A private scratch directory under the temp dir, removed when dropped.
pub(crate) struct WorkDir(pub(crate) PathBuf);

impl WorkDir {
    pub(crate) fn new() -> Result<WorkDir> {
        let dir =
            std::env::temp_dir().join(format!("trnsim-nki-{}-{}", std::process::id(), nanos()));
        super::create_dir(&dir)?;
        Ok(WorkDir(dir))
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn nanos() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

/// FNV-1a over the embedded files' paths and contents: names the extracted copy, so a binary
/// with another front end never uses a stale one.
fn content_hash() -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for (path, text) in PYTHON_FILES {
        for b in path.bytes().chain([0]).chain(text.bytes()).chain([0]) {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

/// The import root holding the embedded `trnsim` package: written once per content hash, into
/// a temp dir first and renamed into place, so concurrent runs never see a partial copy.
pub(crate) fn front_end_root() -> Result<PathBuf> {
    let root = std::env::temp_dir().join(format!("trnsim-py-{:016x}", content_hash()));
    if root.is_dir() {
        return Ok(root);
    }
    let staging = root.with_extension(format!("tmp-{}-{}", std::process::id(), nanos()));
    for (rel, text) in PYTHON_FILES {
        let path = staging.join(rel);
        if let Some(parent) = path.parent() {
            super::create_dir(parent)?;
        }
        std::fs::write(&path, text).map_err(Error::file(&path))?;
    }
    super::create_dir(&staging)?;
    if let Err(e) = std::fs::rename(&staging, &root) {
        let _ = std::fs::remove_dir_all(&staging);
        // Another run won the race: its copy is the same.
        if !root.is_dir() {
            return Err(Error::File {
                path: root,
                source: e,
            });
        }
    }
    Ok(root)
}

/// The interpreter: `--python`, else `$TRNSIM_PYTHON`, else `python3`.
fn python(args: &NkiArgs) -> PathBuf {
    args.python
        .clone()
        .or_else(|| {
            std::env::var_os("TRNSIM_PYTHON")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        })
        .unwrap_or_else(|| PathBuf::from("python3"))
}

/// Run the front end with one JSON request; its stdout on success. Exit 2 is the kernel's
/// fault (its stderr is the message, exit 2 here); any other failure is an internal error.
fn front_end(args: &NkiArgs, request: &Value) -> Result<String> {
    let root = front_end_root()?;
    let exe = python(args);
    let script = "import sys; sys.path.insert(0, sys.argv[1]); \
                  from trnsim.nki.driver import main; sys.exit(main())";
    let mut child = Command::new(&exe)
        .arg("-c")
        .arg(script)
        .arg(&root)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied => {
                Error::Input(format!(
                    "{} not found: install Python 3 or pass --python",
                    exe.display()
                ))
            }
            _ => Error::file(&exe)(e),
        })?;
    let mut stdin = child.stdin.take().expect("piped");
    let body = request.to_string();
    // Written on a thread so a front end that answers before reading everything cannot block us.
    let writer = std::thread::spawn(move || stdin.write_all(body.as_bytes()));
    let out = child.wait_with_output()?;
    let _ = writer.join();
    let stderr = String::from_utf8_lossy(&out.stderr).trim_end().to_string();
    match out.status.code() {
        Some(0) => Ok(String::from_utf8_lossy(&out.stdout).into_owned()),
        Some(2) => Err(Error::Input(stderr)),
        code => Err(Error::Internal(format!(
            "the NKI front end ({}) failed ({}):\n{stderr}",
            exe.display(),
            code.map_or("killed by a signal".to_string(), |c| format!("exit {c}"))
        ))),
    }
}

fn parse_response<T: serde::de::DeserializeOwned>(stdout: &str) -> Result<T> {
    serde_json::from_str(stdout.trim()).map_err(|e| {
        Error::Internal(format!(
            "the NKI front end's response is not the expected JSON: {e}: {stdout}"
        ))
    })
}

/// The reference's answer.
#[derive(Debug, Deserialize)]
struct References {
    outputs: Vec<RefOutput>,
}

#[derive(Debug, Deserialize)]
struct RefOutput {
    path: PathBuf,
    shape: Vec<usize>,
}

/// Run the NumPy reference on the inputs the kernel saw (rounded to their dtypes) and compare
/// each kernel output with it the way `kernel run --check` does.
#[allow(clippy::too_many_arguments)]
fn check(
    args: &NkiArgs,
    target: &str,
    work: &WorkDir,
    program: &Program,
    inputs: &[(BufferId, Tensor)],
    got: &[BufferId],
    values: &dyn Fn(BufferId) -> Vec<f32>,
    hw: &Hardware,
) -> Result<CheckReport> {
    let (file, function) = split_target(target, "--check-against")?;
    let Some(function) = function else {
        return Err(Error::Input(format!(
            "--check-against: name the function: {target}::FUNCTION"
        )));
    };
    let mut listed = Vec::new();
    for ((param, _), (_, tensor)) in args.inputs.iter().zip(inputs) {
        let path = work.0.join(format!("in-{}.npy", listed.len()));
        npy::write_tensor(&path, tensor, npy::NpyLayout::Values)?;
        listed.push(json!({"name": param, "path": absolute(&path)?}));
    }
    let outputs_dir = work.0.join("ref");
    super::create_dir(&outputs_dir)?;
    let request = json!({
        "mode": "reference", "file": absolute(&file)?, "function": function,
        "inputs": listed, "outputs_dir": absolute(&outputs_dir)?,
    });
    let refs: References = parse_response(&front_end(args, &request)?)?;
    if refs.outputs.len() != got.len() {
        return Err(Error::Input(format!(
            "{target} returned {} arrays; the kernel has {} outputs",
            refs.outputs.len(),
            got.len()
        )));
    }
    let mut pairs = Vec::new();
    for (i, (r, &id)) in refs.outputs.iter().zip(got).enumerate() {
        let b = program.buffer(id);
        let want = npy::read_tensor(&r.path, DType::Float32, Cast::new(DType::Float32))?;
        if want.data().len() != b.shape.iter().product::<usize>() {
            return Err(Error::Input(format!(
                "{target}: reference output {i} has shape {:?}; the kernel's output '{}' has {:?}",
                r.shape, b.name, b.shape
            )));
        }
        let g = values(id);
        pairs.extend(
            g.iter()
                .zip(want.data().iter())
                .map(|(&g, &w)| (g as f64, w as f64)),
        );
    }
    let tolerance = args
        .tolerance
        .unwrap_or_else(|| default_tolerance(program, hw));
    Ok(kernels::compare(pairs, tolerance))
}

/// Eight roundings of the least precise dtype the kernel uses (outputs and intermediates, with
/// headroom for a few chained stores) plus fp32 accumulation over the longest HBM dimension (the
/// bound of any reduction's length), as `kernel run --check`'s GEMM tolerance grows with sqrt(k).
fn default_tolerance(program: &Program, _hw: &Hardware) -> f64 {
    let u = |d: DType| d.epsilon() as f64 / 2.0;
    let low = program
        .buffers
        .iter()
        .map(|b| u(b.dtype))
        .fold(u(DType::Float32), f64::max);
    let longest = program
        .buffers
        .iter()
        .filter(|b| b.memory == crate::isa::Memory::Hbm)
        .flat_map(|b| b.shape.iter().copied())
        .max()
        .unwrap_or(1) as f64;
    8.0 * low + 4.0 * longest.sqrt() * u(DType::Float32)
}

/// `trnsim run`'s report, with the check added.
fn render(
    report: &crate::chip::report::Report,
    check: Option<&CheckReport>,
    format: Format,
) -> String {
    match (format, check) {
        (Format::Json, Some(c)) => {
            let mut v = serde_json::to_value(report).expect("report serializes");
            let o = v.as_object_mut().expect("object");
            o.insert("check".into(), serde_json::to_value(c).expect("serializes"));
            let mut s = serde_json::to_string_pretty(&v).expect("serializes");
            s.push('\n');
            s
        }
        (Format::Table, Some(c)) => {
            let mut s = report.to_text();
            s.push_str(&super::kernel::check_line(c, "the NumPy reference"));
            s
        }
        _ => super::run::render(report, format),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_front_end_is_sorted_and_written_once() {
        assert!(PYTHON_FILES.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(PYTHON_FILES.iter().any(|(p, _)| *p == "trnsim/__init__.py"));
        let root = front_end_root().unwrap();
        assert_eq!(front_end_root().unwrap(), root);
        for (rel, text) in PYTHON_FILES {
            assert_eq!(&std::fs::read_to_string(root.join(rel)).unwrap(), text);
        }
    }
}
