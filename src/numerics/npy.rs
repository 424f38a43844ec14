//! `.npy` input and output of tensors: `float32` values, or raw bit patterns (`uint8` for the fp8
//! formats, `uint16` for bf16/fp16, `uint32` for fp32) whose dtype the user names.
//!
//! Writes go to a temporary file beside the target and are renamed into place, so a failed write
//! never leaves a partial file.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read};
use std::path::Path;

use ndarray::ArrayD;
use ndarray_npy::{ReadNpyError, ReadNpyExt, WriteNpyExt};

use super::{Cast, DType, Error, Result, Tensor};

/// How a tensor is stored in an `.npy` file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NpyLayout {
    /// `float32` values.
    Values,
    /// Raw bit patterns in an unsigned integer array of the dtype's width.
    Bits,
}

fn npy_err(path: &Path, message: impl Into<String>) -> Error {
    Error::Npy {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

fn open(path: &Path) -> Result<BufReader<File>> {
    File::open(path)
        .map(BufReader::new)
        .map_err(|e| npy_err(path, e.to_string()))
}

/// Read a tensor of `dtype`. A `float32` file is rounded to `dtype` with `cast`'s modes; an
/// unsigned integer file must have the dtype's width and is decoded as bit patterns.
pub fn read_tensor(path: &Path, dtype: DType, cast: Cast) -> Result<Tensor> {
    let cast = Cast { dtype, ..cast };
    NpyHeader::read(path)?.check_length(path)?;
    match ArrayD::<f32>::read_npy(open(path)?) {
        Ok(a) => return Ok(Tensor::from_f32(a, cast)),
        Err(ReadNpyError::WrongDescriptor(_)) => {}
        Err(e) => return Err(npy_err(path, e.to_string())),
    }
    let bits: ArrayD<u32> = match dtype.bits() {
        8 => read_int::<u8>(path)?.mapv(u32::from),
        16 => read_int::<u16>(path)?.mapv(u32::from),
        _ => read_int::<u32>(path)?,
    };
    Ok(Tensor::from_bits(&bits, dtype))
}

fn read_int<T: ndarray_npy::ReadableElement>(path: &Path) -> Result<ArrayD<T>> {
    ArrayD::<T>::read_npy(open(path)?).map_err(|e| match e {
        ReadNpyError::WrongDescriptor(d) => npy_err(
            path,
            format!(
                "element type {d} is neither float32 nor {} (the raw bits of the dtype)",
                std::any::type_name::<T>()
            ),
        ),
        e => npy_err(path, e.to_string()),
    })
}

/// Write a tensor, atomically.
pub fn write_tensor(path: &Path, tensor: &Tensor, layout: NpyLayout) -> Result<()> {
    atomic_write(path, |w| match layout {
        NpyLayout::Values => tensor.data().write_npy(w),
        NpyLayout::Bits => {
            let bits = tensor.to_bits();
            match tensor.dtype().bits() {
                8 => bits.mapv(|b| b as u8).write_npy(w),
                16 => bits.mapv(|b| b as u16).write_npy(w),
                _ => bits.write_npy(w),
            }
        }
    })
}

fn atomic_write(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<File>) -> std::result::Result<(), ndarray_npy::WriteNpyError>,
) -> Result<()> {
    crate::atomic::write(path, |w| write(w).map_err(std::io::Error::other))
        .map_err(|e| npy_err(path, e.to_string()))
}

/// The bytes of a header-only float32 `.npy` (version 1.0) of `shape`, as ndarray-npy writes
/// them: timing-only runs (`--no-data`) read shapes and dtypes from headers alone, and
/// streamed outputs write their values after it.
pub fn header_only_f32(shape: &[usize]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let tuple = match dims.len() {
        1 => format!("({},)", dims[0]),
        _ => format!("({})", dims.join(", ")),
    };
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {tuple}}}");
    // Magic (6) + version (2) + length (2) + header + padding + '\n' is a multiple of 64
    // bytes, with at least one space of padding.
    let padding = 64 - (10 + header.len() + 1) % 64;
    header.extend(std::iter::repeat_n(' ', padding));
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    bytes
}

/// Read a tensor of `dtype` whose `header` was read already: float32 values are rounded to
/// `dtype` ([`read_tensor`]); raw bits (unsigned integers, or numpy's `V` void type of the
/// dtype's width, as `ml_dtypes` saves bf16 and fp8) are taken as they are.
pub fn read_tensor_or_raw_bits(path: &Path, header: &NpyHeader, dtype: DType) -> Result<Tensor> {
    let width = header.item_bytes();
    let is_raw = header.descr.ends_with(&format!("V{width}"))
        || (header.descr.ends_with("f2") && dtype == DType::Float16);
    if !is_raw || width * 8 != dtype.bits() as usize {
        return read_tensor(path, dtype, Cast::new(dtype));
    }
    if header.fortran_order {
        return Err(npy_err(path, "Fortran-ordered arrays are not read"));
    }
    let n = header.check_length(path)?;
    let bytes = std::fs::read(path).map_err(|e| npy_err(path, e.to_string()))?;
    let data = bytes
        .get(header.data_offset..header.data_offset + n * width)
        .ok_or_else(|| npy_err(path, "the file holds fewer values than its shape says"))?;
    let bits: Vec<u32> = match width {
        1 => data.iter().map(|&b| u32::from(b)).collect(),
        _ => data
            .chunks_exact(2)
            .map(|c| u32::from(u16::from_le_bytes([c[0], c[1]])))
            .collect(),
    };
    let bits = ArrayD::from_shape_vec(header.shape.clone(), bits).expect("size checked");
    Ok(Tensor::from_bits(&bits, dtype))
}

/// A `.npy` file's header: enough to know a tensor's shape and dtype without its data.
#[derive(Clone, Debug, PartialEq)]
pub struct NpyHeader {
    /// numpy's type string (`<f4`, `<u2`, `<V2`, ...).
    pub descr: String,
    /// Column-major data.
    pub fortran_order: bool,
    /// The shape.
    pub shape: Vec<usize>,
    /// Where the data starts in the file.
    pub data_offset: usize,
}

impl NpyHeader {
    /// Read only the header (the first few hundred bytes) of `path`.
    pub fn read(path: &Path) -> Result<NpyHeader> {
        let bad = |m: &str| npy_err(path, format!("not a .npy file: {m}"));
        let io = |e: std::io::Error| npy_err(path, e.to_string());
        let mut f = File::open(path).map_err(io)?;
        let mut head = [0u8; 12];
        let got = read_up_to(&mut f, &mut head).map_err(io)?;
        if got < 10 || &head[..6] != b"\x93NUMPY" {
            return Err(bad("no NUMPY magic"));
        }
        let (len, start) = match head[6] {
            1 => (u16::from_le_bytes([head[8], head[9]]) as usize, 10),
            2 | 3 if got == 12 => (
                u32::from_le_bytes([head[8], head[9], head[10], head[11]]) as usize,
                12,
            ),
            v => return Err(bad(&format!("format version {v}"))),
        };
        if len > 1 << 20 {
            return Err(bad("header longer than 1 MiB"));
        }
        let mut text = vec![0u8; len];
        let mut rest = head[start..got].to_vec();
        rest.truncate(len);
        text[..rest.len()].copy_from_slice(&rest);
        if read_up_to(&mut f, &mut text[rest.len()..]).map_err(io)? < len - rest.len() {
            return Err(bad("truncated header"));
        }
        let text = String::from_utf8_lossy(&text);
        Self::parse(&text, start + len).ok_or_else(|| bad(&format!("header {}", text.trim())))
    }
    /// Parse the header's dict literal: `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }`.
    fn parse(text: &str, data_offset: usize) -> Option<NpyHeader> {
        let value = |key: &str| {
            let at = text.find(&format!("'{key}'"))? + key.len() + 2;
            Some(text[at..].trim_start().strip_prefix(':')?.trim_start())
        };
        let descr = value("descr")?
            .strip_prefix('\'')?
            .split('\'')
            .next()?
            .to_string();
        let fortran_order = value("fortran_order")?.starts_with("True");
        let shape = value("shape")?.strip_prefix('(')?.split(')').next()?;
        let shape = shape
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| s.trim_end_matches('L').parse().ok())
            .collect::<Option<Vec<usize>>>()?;
        Some(NpyHeader {
            descr,
            fortran_order,
            shape,
            data_offset,
        })
    }

    /// Check the declared shape against the data the file holds, before anything is allocated
    /// for it (a 144-byte file may declare 2^40 elements); the element count.
    pub fn check_length(&self, path: &Path) -> Result<usize> {
        let file_bytes = std::fs::metadata(path)
            .map_err(|e| npy_err(path, e.to_string()))?
            .len();
        let data_bytes = file_bytes.saturating_sub(self.data_offset as u64);
        let item = self.item_bytes() as u64;
        let n = self
            .shape
            .iter()
            .try_fold(1u64, |acc, &d| acc.checked_mul(d as u64));
        let need = n.and_then(|n| n.checked_mul(item));
        if item == 0 {
            // An element type without a width (objects): the reader refuses it by name.
            return Ok(0);
        }
        match (n, need) {
            (Some(n), Some(need)) if need == data_bytes => usize::try_from(n)
                .map_err(|_| npy_err(path, format!("shape {:?} is too large", self.shape))),
            (_, need) => Err(npy_err(
                path,
                format!(
                    "the header declares shape {:?} of {}-byte elements ({} bytes of data), but \
                     the file holds {data_bytes} bytes of data",
                    self.shape,
                    item,
                    need.map_or_else(|| "more than 2^64".to_string(), |b| b.to_string()),
                ),
            )),
        }
    }

    /// Bytes per element.
    pub fn item_bytes(&self) -> usize {
        self.descr
            .trim_start_matches(['<', '>', '|', '='])
            .get(1..)
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    }

    /// The dtype the header names: `float32`, `float16`, and bf16 for 2-byte raw bits (`u2`, or
    /// `V2` as numpy saves an `ml_dtypes.bfloat16` array); 1-byte fp8 needs `--dtype`.
    pub fn dtype(&self) -> Option<DType> {
        match self.descr.trim_start_matches(['<', '|', '=']) {
            "f4" => Some(DType::Float32),
            "f2" => Some(DType::Float16),
            "u2" | "V2" => Some(DType::BFloat16),
            _ => None,
        }
    }
}

/// Read until `buf` is full or the file ends; the bytes read.
fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::IxDyn;

    /// The header written before streamed values is ndarray-npy's, byte for byte, for shapes of
    /// every rank the tools write (a streamed output reads back like any other).
    #[test]
    fn the_streamed_header_is_ndarray_npys() {
        for shape in [vec![], vec![7], vec![2, 3], vec![128, 1024, 3], vec![1; 9]] {
            let n: usize = shape.iter().product();
            let a = ArrayD::<f32>::zeros(IxDyn(&shape));
            let mut whole = Vec::new();
            a.write_npy(&mut whole).unwrap();
            let header = header_only_f32(&shape);
            assert_eq!(whole.len(), header.len() + 4 * n, "{shape:?}");
            assert_eq!(whole[..header.len()], header[..], "{shape:?}");
        }
    }

    #[test]
    fn values_and_bits_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let raw =
            ArrayD::from_shape_vec(IxDyn(&[2, 3]), vec![1.0, -2.5, 0.3, 1e-3, 100.0, 7.0]).unwrap();
        for dtype in DType::ALL {
            let t = Tensor::from_f32(raw.clone(), Cast::new(dtype));
            for layout in [NpyLayout::Values, NpyLayout::Bits] {
                let p = dir.path().join(format!("{dtype}-{layout:?}.npy"));
                write_tensor(&p, &t, layout).unwrap();
                let back = read_tensor(&p, dtype, Cast::new(dtype)).unwrap();
                assert_eq!(back, t, "{dtype} {layout:?}");
            }
        }
    }

    #[test]
    fn wrong_width_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("b.npy");
        let t = Tensor::zeros(&[4], DType::BFloat16);
        write_tensor(&p, &t, NpyLayout::Bits).unwrap();
        let err = read_tensor(&p, DType::Float8E4M3, Cast::new(DType::Float8E4M3))
            .unwrap_err()
            .to_string();
        assert!(err.contains("b.npy") && err.contains("u8"), "{err}");
        let err = read_tensor(
            &dir.path().join("missing.npy"),
            DType::Float32,
            Cast::new(DType::Float32),
        )
        .unwrap_err();
        assert!(err.to_string().contains("missing.npy"));
    }

    #[test]
    fn npy_headers_are_read_without_the_data() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.npy");
        let t = Tensor::zeros(&[3, 5, 7], DType::BFloat16);
        write_tensor(&p, &t, NpyLayout::Bits).unwrap();
        let bytes = std::fs::read(&p).unwrap();
        let h = NpyHeader::read(&p).unwrap();
        assert_eq!((h.descr.as_str(), h.fortran_order), ("<u2", false));
        assert_eq!(h.shape, vec![3, 5, 7]);
        assert_eq!(bytes.len() - h.data_offset, 3 * 5 * 7 * 2);
        assert_eq!(h.dtype(), Some(DType::BFloat16));
        std::fs::write(&p, &bytes[..h.data_offset]).unwrap();
        assert_eq!(NpyHeader::read(&p).unwrap(), h);
        let scalar = NpyHeader::parse(
            "{'descr': '|V1', 'fortran_order': True, 'shape': (), }",
            128,
        );
        let scalar = scalar.unwrap();
        assert_eq!(
            (
                scalar.shape.len(),
                scalar.fortran_order,
                scalar.item_bytes()
            ),
            (0, true, 1)
        );
        assert_eq!(scalar.dtype(), None);
    }
}
