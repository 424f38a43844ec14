//! The f64 reference the kernel is checked against: per head, softmax(Q K^T * scale [+ mask]) V,
//! written directly (no tiling, no online softmax).

use ndarray::ArrayD;

use super::shape::Shape;

/// The outputs (`o`) of the problem `s` on `input`'s tensors, in f64.
pub(super) fn outputs(
    s: &Shape,
    input: &dyn Fn(&str) -> ArrayD<f64>,
) -> Vec<(String, ArrayD<f64>)> {
    let (q, k, v) = (input("q"), input("k"), input("v"));
    let (q, k, v) = (
        q.as_slice().expect("standard layout"),
        k.as_slice().expect("standard layout"),
        v.as_slice().expect("standard layout"),
    );
    let (d, sq, skv) = (s.d, s.sq, s.skv);
    let scale = 1.0 / (d as f64).sqrt();
    let mut o = vec![0.0f64; s.batch * s.heads * sq * d];
    let mut scores = vec![0.0f64; skv];
    for b in 0..s.batch {
        for h in 0..s.heads {
            let kvh = h / s.group;
            let (qh, kh) = ((b * s.heads + h) * d, (b * s.kv_heads + kvh) * d);
            let vh = (b * s.kv_heads + kvh) * skv;
            for i in 0..sq {
                let lim = if s.causal {
                    skv.min(i + s.off() + 1)
                } else {
                    skv
                };
                let mut m = f64::NEG_INFINITY;
                for (j, sc) in scores.iter_mut().enumerate().take(lim) {
                    let mut acc = 0.0;
                    for x in 0..d {
                        acc += q[(qh + x) * sq + i] * k[(kh + x) * skv + j];
                    }
                    *sc = acc * scale;
                    m = m.max(*sc);
                }
                let mut l = 0.0;
                for sc in scores.iter_mut().take(lim) {
                    *sc = (*sc - m).exp();
                    l += *sc;
                }
                let row = ((b * s.heads + h) * sq + i) * d;
                for (j, &pj) in scores.iter().enumerate().take(lim) {
                    for c in 0..d {
                        o[row + c] += pj * v[(vh + j) * d + c];
                    }
                }
                for c in 0..d {
                    o[row + c] /= l;
                }
            }
        }
    }
    let shape = vec![s.batch * s.heads * sq, d];
    vec![(
        "o".into(),
        ArrayD::from_shape_vec(shape, o).expect("sized to the shape"),
    )]
}
