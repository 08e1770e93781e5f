//! Sample moments printed by the examples.

/// Sample mean and covariance (divided by n - 1) of 2-D points.
pub fn moments2(x: &[f64]) -> ([f64; 2], [f64; 4]) {
    let n = (x.len() / 2) as f64;
    let mut m = [0.0; 2];
    for p in x.chunks_exact(2) {
        m[0] += p[0] / n;
        m[1] += p[1] / n;
    }
    let mut c = [0.0; 4];
    for p in x.chunks_exact(2) {
        let d = [p[0] - m[0], p[1] - m[1]];
        for i in 0..2 {
            for j in 0..2 {
                c[i * 2 + j] += d[i] * d[j] / (n - 1.0);
            }
        }
    }
    (m, c)
}
