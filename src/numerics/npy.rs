//! `.npy` input and output of tensors: `float32` values, or raw bit patterns (`uint8` for the fp8
//! formats, `uint16` for bf16/fp16, `uint32` for fp32) whose dtype the user names.
//!
//! Writes go to a temporary file beside the target and are renamed into place, so a failed write
//! never leaves a partial file.

use std::fs::File;
use std::io::{BufReader, BufWriter};
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

/// The bytes of a header-only float32 `.npy` (version 1.0) of `shape`: timing-only runs
/// (`--no-data`) read shapes and dtypes from headers alone.
pub fn header_only_f32(shape: &[usize]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let tuple = match dims.len() {
        1 => format!("({},)", dims[0]),
        _ => format!("({})", dims.join(", ")),
    };
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {tuple}, }}");
    // Magic (6) + version (2) + length (2) + header + '\n' is a multiple of 64 bytes.
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::IxDyn;

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
}
