//! Test helpers shared by the layer modules: deterministic pseudo-random
//! values and a numerical gradient check of a whole network.

use crate::kind::Mode;
use crate::layer::LayerSpec;
use crate::network::Network;
use crate::shape::Shape;
use ndarray::Array2;

/// `n` values in [-1, 1], all different, decided by `salt`.
pub fn pseudo(n: usize, salt: f64) -> Vec<f64> {
    (0..n)
        .map(|i| ((i as f64 + 1.0) * 12.9898 + salt * 78.233).sin())
        .collect()
}

pub fn pseudo_matrix(rows: usize, cols: usize, salt: f64) -> Array2<f64> {
    Array2::from_shape_vec((rows, cols), pseudo(rows * cols, salt)).unwrap()
}

/// Specs from `(kind, in, out)` triples with default options.
pub fn specs(parts: &[(&str, usize, usize)]) -> Vec<LayerSpec> {
    parts
        .iter()
        .map(|&(k, i, o)| LayerSpec::from_parts(k, i, o).unwrap())
        .collect()
}

/// A float64 network whose trainable parameters are pseudo-random.
pub fn random_net(specs: &[LayerSpec], input: Option<Shape>) -> Network<f64> {
    let mut net = Network::new(specs, input).unwrap();
    for (li, layer) in net.layers_mut().iter_mut().enumerate() {
        for (t, p) in layer.params_mut().into_iter().enumerate() {
            let v = pseudo(p.data.len(), 0.1 + li as f64 + 0.37 * t as f64);
            p.data.iter_mut().zip(v).for_each(|(p, v)| *p += 0.5 * v);
        }
    }
    net
}

fn nudge(net: &mut Network<f64>, layer: usize, tensor: usize, elem: usize, delta: f64) {
    if let Some(p) = net.layers_mut()[layer].params_mut().into_iter().nth(tensor) {
        p.data[elem] += delta;
    }
}

fn assert_close(numeric: f64, analytic: f64, what: &str) {
    let err = (numeric - analytic).abs() / (numeric.abs() + analytic.abs()).max(1e-3);
    assert!(
        err < 1e-6,
        "{what}: numerical {numeric} vs analytic {analytic}"
    );
}

/// Checks every parameter gradient and the input gradient of `net` at `x`
/// against central differences, for the loss `sum(w * output)` with fixed
/// pseudo-random `w`, in training mode.
pub fn check_gradients(net: &mut Network<f64>, x: &Array2<f64>) {
    let out = net.forward(x.view(), Mode::Train).unwrap().to_owned();
    let w = pseudo_matrix(out.nrows(), out.ncols(), 0.77);
    net.backward(w.view(), true).unwrap();
    let analytic: Vec<Vec<Vec<f64>>> = net
        .layers()
        .iter()
        .map(|l| l.params().iter().map(|p| p.grad.to_vec()).collect())
        .collect();
    let input_grad = net.input_grad().to_owned();
    let loss = |net: &mut Network<f64>, x: &Array2<f64>| {
        (&net.forward(x.view(), Mode::Train).unwrap() * &w).sum()
    };
    let eps = 1e-6;
    for (li, tensors) in analytic.iter().enumerate() {
        for (t, grads) in tensors.iter().enumerate() {
            for (e, &g) in grads.iter().enumerate() {
                nudge(net, li, t, e, eps);
                let plus = loss(net, x);
                nudge(net, li, t, e, -2.0 * eps);
                let minus = loss(net, x);
                nudge(net, li, t, e, eps);
                let what = format!("layer {} tensor {t} [{e}]", li + 1);
                assert_close((plus - minus) / (2.0 * eps), g, &what);
            }
        }
    }
    for ((i, j), &g) in input_grad.indexed_iter() {
        let mut xp = x.clone();
        xp[[i, j]] += eps;
        let mut xm = x.clone();
        xm[[i, j]] -= eps;
        let numeric = (loss(net, &xp) - loss(net, &xm)) / (2.0 * eps);
        assert_close(numeric, g, &format!("input [{i}, {j}]"));
    }
}
